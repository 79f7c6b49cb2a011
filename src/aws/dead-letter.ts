/**
 * SQS calls of the `dlq` commands: finding a queue's dead-letter queue from its
 * redrive policy, receiving for a look, handing messages back, and SQS's own
 * message move tasks.
 */
import {
  CancelMessageMoveTaskCommand,
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  StartMessageMoveTaskCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { awsErrorInfo } from './errors.ts';
import { QUEUE_NAME } from './queue.ts';

const options = (signal?: AbortSignal) => (signal ? { abortSignal: signal } : {});

export interface QueueArn {
  region: string;
  account: string;
  name: string;
}

/** arn:aws:sqs:us-east-1:123456789012:name (any partition). */
export function parseQueueArn(arn: string): QueueArn | undefined {
  const match = /^arn:aws[a-z-]*:sqs:([a-z0-9-]+):(\d{12}):(.+)$/.exec(arn);
  if (!match || !QUEUE_NAME.test(match[3]!)) return undefined;
  return { region: match[1]!, account: match[2]!, name: match[3]! };
}

export interface RedrivePolicy {
  deadLetterTargetArn: string;
  maxReceiveCount: number;
}

/** The RedrivePolicy attribute (a JSON string), or undefined when there is none or it is unreadable. */
export function parseRedrivePolicy(text: string | undefined): RedrivePolicy | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown };
    if (typeof value.deadLetterTargetArn !== 'string') return undefined;
    return { deadLetterTargetArn: value.deadLetterTargetArn, maxReceiveCount: Number(value.maxReceiveCount) };
  } catch {
    return undefined;
  }
}

export interface QueueDescription {
  url: string;
  arn: string;
  redrivePolicy: RedrivePolicy | undefined;
  /** ApproximateNumberOfMessages: visible now. */
  visible: number;
  /** ApproximateNumberOfMessagesNotVisible: received and not yet deleted or released. */
  inFlight: number;
  delayed: number;
}

/** One GetQueueAttributes; throws QueueDoesNotExist for a queue that is not there. */
export async function describeQueue(sqs: SQSClient, url: string, signal?: AbortSignal): Promise<QueueDescription> {
  const response = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        'QueueArn',
        'RedrivePolicy',
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
    options(signal),
  );
  const attributes = response.Attributes ?? {};
  const count = (name: string) => Number(attributes[name as keyof typeof attributes] ?? 0) || 0;
  return {
    url,
    arn: attributes.QueueArn ?? '',
    redrivePolicy: parseRedrivePolicy(attributes.RedrivePolicy),
    visible: count('ApproximateNumberOfMessages'),
    inFlight: count('ApproximateNumberOfMessagesNotVisible'),
    delayed: count('ApproximateNumberOfMessagesDelayed'),
  };
}

/** The URL of the queue an ARN names (a dead-letter queue is in its source queue's account and region). */
export async function queueUrlFromArn(sqs: SQSClient, arn: QueueArn, signal?: AbortSignal): Promise<string> {
  const response = await sqs.send(new GetQueueUrlCommand({ QueueName: arn.name, QueueOwnerAWSAccountId: arn.account }), options(signal));
  if (!response.QueueUrl) throw new Error(`queue "${arn.name}" has no URL`);
  return response.QueueUrl;
}

/** Up to ten messages with everything SQS knows about them, hidden for `visibilitySeconds`. */
export async function receiveForInspection(
  sqs: SQSClient,
  url: string,
  receive: { max: number; visibilitySeconds: number; waitSeconds: number; signal?: AbortSignal },
): Promise<Message[]> {
  const response = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: Math.min(10, Math.max(1, receive.max)),
      VisibilityTimeout: receive.visibilitySeconds,
      WaitTimeSeconds: receive.waitSeconds,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }),
    options(receive.signal),
  );
  return response.Messages ?? [];
}

export interface EntryFailure {
  id: string;
  code: string;
  message: string;
}

/** Makes received messages visible again at once; returns the receipt handles SQS refused, by position. */
export async function releaseMessages(sqs: SQSClient, url: string, receiptHandles: readonly string[]): Promise<EntryFailure[]> {
  const failures: EntryFailure[] = [];
  for (let start = 0; start < receiptHandles.length; start += 10) {
    const slice = receiptHandles.slice(start, start + 10);
    const response = await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: slice.map((ReceiptHandle, index) => ({ Id: String(start + index), ReceiptHandle, VisibilityTimeout: 0 })),
      }),
    );
    for (const failed of response.Failed ?? []) {
      failures.push({ id: failed.Id ?? '', code: failed.Code ?? 'Failed', message: failed.Message ?? '' });
    }
  }
  return failures;
}

/** Deletes up to ten received messages; returns those SQS did not delete, by position. */
export async function deleteMessages(sqs: SQSClient, url: string, receiptHandles: readonly string[]): Promise<EntryFailure[]> {
  if (receiptHandles.length === 0) return [];
  const response = await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: url,
      Entries: receiptHandles.map((ReceiptHandle, index) => ({ Id: String(index), ReceiptHandle })),
    }),
  );
  return (response.Failed ?? []).map((failed) => ({ id: failed.Id ?? '', code: failed.Code ?? 'Failed', message: failed.Message ?? '' }));
}

export type MoveTaskStatus = 'RUNNING' | 'COMPLETED' | 'CANCELLING' | 'CANCELLED' | 'FAILED';

export interface MoveTask {
  /** Only a RUNNING task has one. */
  taskHandle: string | undefined;
  status: MoveTaskStatus;
  moved: number;
  /** What the task set out to move (SQS's estimate at its start). */
  toMove: number | undefined;
  failureReason: string | undefined;
}

/** The source queue's most recent move tasks, newest first (SQS keeps up to ten). */
export async function listMoveTasks(sqs: SQSClient, sourceArn: string, signal?: AbortSignal): Promise<MoveTask[]> {
  const response = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 10 }), options(signal));
  return (response.Results ?? []).map((task) => ({
    taskHandle: task.TaskHandle,
    status: (task.Status ?? 'FAILED') as MoveTaskStatus,
    moved: task.ApproximateNumberOfMessagesMoved ?? 0,
    toMove: task.ApproximateNumberOfMessagesToMove,
    failureReason: task.FailureReason,
  }));
}

export async function startMoveTask(sqs: SQSClient, sourceArn: string, destinationArn: string): Promise<string> {
  const response = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: sourceArn, DestinationArn: destinationArn }));
  if (!response.TaskHandle) throw new Error('StartMessageMoveTask returned no task handle');
  return response.TaskHandle;
}

export async function cancelMoveTask(sqs: SQSClient, taskHandle: string): Promise<number> {
  const response = await sqs.send(new CancelMessageMoveTaskCommand({ TaskHandle: taskHandle }));
  return response.ApproximateNumberOfMessagesMoved ?? 0;
}

const UNSUPPORTED_CODES = new Set([
  'InvalidAction', // fauxqs: "Unknown action: ListMessageMoveTasks"
  'UnknownOperationException',
  'UnsupportedOperation',
  'AWS.SimpleQueueService.UnsupportedOperation',
  'NotImplemented',
  'NotImplementedException',
]);

/**
 * Whether an endpoint does not implement move tasks at all, so the redrive has
 * to move messages itself. fauxqs answers 400 InvalidAction; moto_server 5.x a
 * 500 HTML page the SDK cannot parse (SyntaxError); others 501 or an
 * unknown-operation code. Falling back is always safe (the manual path never
 * deletes before the send succeeded), so any of these counts; an access denial
 * does not, since the fallback needs more permissions, not fewer.
 */
export function isUnsupportedOperation(error: unknown): boolean {
  const { code, status } = awsErrorInfo(error);
  if (code !== undefined && UNSUPPORTED_CODES.has(code)) return true;
  if (status === 501) return true;
  const name = (error as { name?: unknown } | null)?.name;
  return status !== undefined && status >= 500 && name === 'SyntaxError';
}
