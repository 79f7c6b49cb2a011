/**
 * CloudFormation custom resources: the event a handler gets and the one answer it
 * owes, a PUT of a JSON document to the presigned ResponseURL. Written here (not
 * CloudFormation's cfn-response module) so that it is typed, linted and tested
 * against a real presigned URL (moto's S3).
 */

export interface CustomResourceEvent<P = Record<string, unknown>> {
  RequestType: 'Create' | 'Update' | 'Delete';
  ResponseURL: string;
  StackId: string;
  RequestId: string;
  LogicalResourceId: string;
  PhysicalResourceId?: string;
  ResourceProperties: P;
  OldResourceProperties?: P;
}

/** What a handler needs of Lambda's context object. */
export interface LambdaContext {
  logStreamName: string;
  getRemainingTimeInMillis(): number;
}

export type Fetch = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string },
) => Promise<{ ok: boolean; status: number }>;

/** CloudFormation shows at most 4 KiB of a reason; longer ones fail the response itself. */
const MAX_REASON = 3_500;

export async function sendResponse(
  event: CustomResourceEvent<unknown>,
  answer: { status: 'SUCCESS' | 'FAILED'; reason?: string; physicalResourceId: string; data?: Record<string, string> },
  fetchImpl: Fetch = fetch,
): Promise<void> {
  const reason = answer.reason ?? '';
  const body = JSON.stringify({
    Status: answer.status,
    Reason: reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}...` : reason,
    PhysicalResourceId: answer.physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    NoEcho: false,
    Data: answer.data ?? {},
  });
  // The presigned URL is signed for an empty content type.
  const response = await fetchImpl(event.ResponseURL, { method: 'PUT', headers: { 'content-type': '' }, body });
  if (!response.ok) throw new Error(`CloudFormation's response URL answered HTTP ${response.status}`);
}

export function errorText(error: unknown): string {
  if (error instanceof Error) return error.name && error.name !== 'Error' ? `${error.name}: ${error.message}` : error.message;
  return String(error);
}
