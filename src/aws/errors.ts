/**
 * Every decision about an AWS error is made here, by name, so that the code that
 * acts on one (drop the record, stop at start, go on without a tag, retry) reads
 * as that decision rather than as a list of codes.
 */

/** The HTTP status and error code of an SDK failure, without trusting its shape. */
export function awsErrorInfo(error: unknown): { status: number | undefined; code: string | undefined } {
  if (typeof error !== 'object' || error === null) return { status: undefined, code: undefined };
  const e = error as { name?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const code = typeof e.Code === 'string' ? e.Code : typeof e.name === 'string' ? e.name : undefined;
  return { status, code };
}

/** The object or version does not exist (any more). */
export function isObjectGone(error: unknown): boolean {
  const { status, code } = awsErrorInfo(error);
  return status === 404 && (code === 'NoSuchKey' || code === 'NoSuchVersion' || code === 'NotFound');
}

/**
 * S3 answers a versionId it cannot parse with 400 InvalidArgument: that version
 * cannot exist, and retrying would only walk the message to the dead-letter queue.
 */
export function isInvalidVersion(error: unknown): boolean {
  const { status, code } = awsErrorInfo(error);
  return status === 400 && code === 'InvalidArgument';
}

/** An If-Match (or CopySourceIfMatch) that no longer holds: the object changed. */
export function isPreconditionFailed(error: unknown): boolean {
  const { status, code } = awsErrorInfo(error);
  return status === 412 || code === 'PreconditionFailed';
}

/** A plain 404, for lookups where absence is an answer (HEAD of a report). */
export function isNotFound(error: unknown): boolean {
  return awsErrorInfo(error).status === 404;
}

export function isQueueMissing(error: unknown): boolean {
  const { code } = awsErrorInfo(error);
  return code === 'QueueDoesNotExist' || code === 'AWS.SimpleQueueService.NonExistentQueue';
}

/** Credentials or permissions: these do not fix themselves by waiting. */
export function isAccessProblem(error: unknown): boolean {
  const { status, code } = awsErrorInfo(error);
  return status === 403 || code === 'AccessDenied' || code === 'InvalidClientTokenId' || code === 'UnrecognizedClientException';
}

/**
 * A status-tag write that will fail the same way on every retry: tags refused
 * (S3's 10-tag limit, an invalid tag), no permission, a delete marker, or a store
 * without tagging. Anything else (throttling, 5xx, the network) is retried with
 * the message. See README "Status tags".
 */
export function isPermanentTaggingError(error: unknown): boolean {
  const { status, code } = awsErrorInfo(error);
  if (isAccessProblem(error)) return true;
  if (status === 400 && (code === 'InvalidTag' || code === 'BadRequest' || code === 'InvalidArgument' || code === 'MalformedXML'))
    return true;
  return status === 405 || status === 501 || code === 'MethodNotAllowed' || code === 'NotImplemented';
}
