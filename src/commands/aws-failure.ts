/**
 * One line for an AWS call that failed in a command, and its exit code: 2 when
 * the fix is in the command line or the settings (a bucket or queue that does not
 * exist, no credentials), 1 for everything else (access denied, throttling that
 * outlasted the SDK's retries, the network).
 */
import { awsErrorInfo } from '../aws/errors.ts';

export interface Failure {
  line: string;
  exitCode: 1 | 2;
}

const NO_QUEUE = new Set(['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue']);

export function isMissingQueue(error: unknown): boolean {
  return NO_QUEUE.has(awsErrorInfo(error).code ?? '');
}

export function isMissingBucket(error: unknown): boolean {
  return awsErrorInfo(error).code === 'NoSuchBucket';
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}

/** `what`: the call in the user's terms, e.g. `list s3://unprocessed/` or `look up queue "x"`. */
export function describeAwsFailure(what: string, error: unknown): Failure {
  const { code, status } = awsErrorInfo(error);
  const name = (error as { name?: unknown } | null)?.name;
  const errno = (error as { code?: unknown } | null)?.code;
  if (name === 'CredentialsProviderError') {
    return {
      line: `${what}: no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role)`,
      exitCode: 2,
    };
  }
  if (typeof errno === 'string' && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|ETIMEDOUT|EHOSTUNREACH)$/.test(errno)) {
    return { line: `${what}: cannot reach the endpoint (${errno})`, exitCode: 1 };
  }
  const detail = messageOf(error);
  const label = code && code !== detail ? `${code}: ${detail}` : detail;
  return { line: `${what}: ${label}${status ? ` (HTTP ${status})` : ''}`, exitCode: 1 };
}
