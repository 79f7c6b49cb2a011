/**
 * The log line of each outcome event. Keys, bucket names and reasons come from
 * whoever could write to the queue: longer than MAX_LOGGED_BYTES, they are logged
 * as their first bytes and `…`, with their full length beside them (`keyBytes`,
 * …), so no log line grows without bound. Valid keys (at most 1024 bytes, as in
 * S3) are always logged whole.
 */
import type { Logger } from '../log/logger.ts';
import { clipUtf8 } from '../events/text.ts';
import type { OutcomeEvent } from './outcome.ts';
import type { TagResult } from './tags.ts';
import { signatureOf, statusOf } from '../verdict/verdict.ts';

export const MAX_LOGGED_BYTES = 1024;

function bounded(name: string, value: string | undefined): Record<string, unknown> {
  if (value === undefined) return {};
  const clipped = clipUtf8(value, MAX_LOGGED_BYTES);
  return clipped.clipped ? { [name]: `${clipped.text}…`, [`${name}Bytes`]: clipped.bytes } : { [name]: value };
}

const boundedText = (value: string) => bounded('text', value)['text'] as string;

function errorFields(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    const kind = (error as { kind?: unknown }).kind;
    return { error: error.message, errorName: error.name, ...(kind ? { errorKind: kind } : {}) };
  }
  return { error: String(error) };
}

function tagFields(tag: TagResult | undefined): Record<string, unknown> {
  if (!tag) return {};
  return tag.written ? { statusTag: tag.value } : { statusTag: null, statusTagProblem: tag.problem };
}

/** `log` carries the message's own fields (messageId, receiveCount, origin). */
export function logOutcome(log: Logger, event: OutcomeEvent): void {
  switch (event.outcome) {
    case 'test-event':
      log.info({ outcome: 'test-event' }, 's3:TestEvent dropped');
      return;
    case 'invalid':
      if ('records' in event) {
        log.warn(
          { outcome: 'invalid', records: event.records, firstUnlogged: event.firstUnlogged },
          'further invalid records dropped without a line each',
        );
      } else if ('bodyBytes' in event) {
        log.warn(
          { outcome: 'invalid', ...bounded('reason', event.reason), bodyBytes: event.bodyBytes },
          'message dropped: %s',
          boundedText(event.reason),
        );
      } else {
        log.warn(
          {
            outcome: 'invalid',
            record: event.record,
            ...bounded('reason', event.reason),
            ...bounded('bucket', event.bucket),
            ...bounded('key', event.key),
          },
          'record dropped: %s',
          boundedText(event.reason),
        );
      }
      return;
  }
  const fields = {
    record: event.record,
    bucket: event.bucket,
    key: event.key,
    versionId: event.versionId,
    envelope: event.envelope,
    ...(event.shape === 'eventbridge' ? { shape: event.shape } : {}),
  };
  switch (event.outcome) {
    case 'dropped':
      log.warn({ ...fields, outcome: 'dropped', reason: event.reason, durationMs: event.durationMs }, 'record dropped: %s', event.reason);
      return;
    case 'retry':
      if (event.lastReceive) {
        log.error(
          { ...fields, outcome: 'retry', durationMs: event.durationMs, deadLetter: true, ...errorFields(event.error) },
          'record not finished on the last receive: the message is about to be dead-lettered',
        );
      } else {
        log.error(
          { ...fields, outcome: 'retry', durationMs: event.durationMs, ...errorFields(event.error) },
          'record not finished; message kept for a retry',
        );
      }
      return;
  }
  const status = statusOf(event.verdict);
  const signature = signatureOf(event.verdict);
  if (event.outcome === 'released') {
    log.info(
      {
        ...fields,
        outcome: 'released',
        status,
        signature,
        release: event.release,
        durationMs: event.durationMs,
        verdictMs: event.verdictMs,
      },
      'released from quarantine earlier (release %s) and nothing new found: left as released',
      event.release,
    );
    return;
  }
  const figures = { ...tagFields(event.tag), durationMs: event.durationMs, verdictMs: event.verdictMs };
  if (event.action === 'forwarded') {
    const { verdict } = event;
    // A source without a validation queue: the file is tagged (and announced on the result bus), its event goes nowhere.
    const queue = event.withoutQueue ? { validationQueue: null } : {};
    if (verdict.status === 'clean') {
      log.info(
        { ...fields, outcome: event.outcome, signature, ...queue, ...figures },
        event.withoutQueue ? 'clean: not forwarded (the source has no validation queue)' : 'clean: forwarded',
      );
      return;
    }
    log.warn(
      { ...fields, outcome: event.outcome, action: 'forwarded', status, signature, reason: verdict.detail, ...queue, ...figures },
      event.withoutQueue
        ? 'could not be fully scanned (%s): marked %s, not forwarded (no validation queue)'
        : 'could not be fully scanned (%s): forwarded marked %s',
      verdict.detail,
      status,
    );
    return;
  }
  const { verdict } = event;
  log.warn(
    {
      ...fields,
      outcome: event.outcome,
      status,
      signature,
      ...(verdict.status === 'unscannable' ? { reason: verdict.detail } : {}),
      quarantineKey: event.quarantineKey,
      resumed: event.resumed,
      ...figures,
    },
    'quarantined: %s',
    status,
  );
}
