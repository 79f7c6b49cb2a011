import type { Logger } from '../log/logger.ts';
import { parseMessageBody } from '../events/message.ts';
import { checkRecord, type RecordRules } from '../events/record.ts';
import { clipUtf8 } from '../events/text.ts';
import { processRecord, type PipelineDeps } from './process-record.ts';
import { LOG_OUTCOMES } from './decide.ts';

/** Invalid records logged one by one per message; the rest are counted in one line. */
export const MAX_RECORD_LINES = 1000;

export type MessageResult = { action: 'delete' } | { action: 'retry'; error: unknown };

export interface MessageContext {
  messageId: string | undefined;
  body: string | undefined;
  receiveCount: number;
}

function errorFields(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    const kind = (error as { kind?: unknown }).kind;
    return { error: error.message, errorName: error.name, ...(kind ? { errorKind: kind } : {}) };
  }
  return { error: String(error) };
}

/**
 * Keys, bucket names and reasons come from whoever could write to the queue. A
 * value longer than this is logged as its first bytes and `…`, with its full
 * length beside it (`keyBytes`, …), so that no log line grows without bound.
 * Valid keys (at most 1024 bytes, as in S3) are always logged whole.
 */
export const MAX_LOGGED_BYTES = 1024;

function bounded(name: string, value: string | undefined): Record<string, unknown> {
  if (value === undefined) return {};
  const clipped = clipUtf8(value, MAX_LOGGED_BYTES);
  return clipped.clipped ? { [name]: `${clipped.text}…`, [`${name}Bytes`]: clipped.bytes } : { [name]: value };
}

const boundedText = (value: string) => bounded('text', value)['text'] as string;

/**
 * Every record of a message is taken to its final outcome before the message may
 * be deleted. The first record that cannot be finished stops the rest: they all
 * come back together with the message, and finishing fewer now means repeating
 * fewer effects then.
 */
export async function processMessage(
  message: MessageContext,
  rules: RecordRules,
  deps: PipelineDeps,
  logger: Logger,
  signal?: AbortSignal,
  /** Called once the message needs no more clamd time (see Worker). */
  scanned?: () => void,
): Promise<MessageResult> {
  const log = logger.child({ messageId: message.messageId, receiveCount: message.receiveCount });
  const parsed = parseMessageBody(message.body);
  if (parsed.kind === 'invalid') {
    log.warn(
      { outcome: 'invalid', ...bounded('reason', parsed.reason), bodyBytes: Buffer.byteLength(message.body ?? '') },
      'message dropped: %s',
      boundedText(parsed.reason),
    );
    return { action: 'delete' };
  }
  if (parsed.kind === 'test-event') {
    log.info({ outcome: 'test-event' }, 's3:TestEvent dropped');
    return { action: 'delete' };
  }

  let unlogged = 0;
  for (const [index, record] of parsed.records.entries()) {
    const started = performance.now();
    const check = checkRecord(record, rules);
    if (!check.ok) {
      // 256 KiB of tiny bogus records would otherwise be ~100,000 log lines from one message.
      if (index >= MAX_RECORD_LINES) {
        unlogged += 1;
        continue;
      }
      log.warn(
        { outcome: 'invalid', record: index, ...bounded('reason', check.reason), ...bounded('bucket', check.bucket), ...bounded('key', check.key) },
        'record dropped: %s',
        boundedText(check.reason),
      );
      continue;
    }
    const { target } = check;
    const fields = { record: index, bucket: target.bucket, key: target.key, versionId: target.versionId, envelope: parsed.envelope };
    try {
      // Only the last record frees the slot: earlier ones are followed by more scanning.
      const last = index === parsed.records.length - 1;
      const result = await processRecord(target, deps, signal, last ? scanned : undefined);
      const durationMs = Math.round(performance.now() - started);
      if (result.outcome === 'dropped') {
        log.warn({ ...fields, outcome: 'dropped', reason: result.reason, durationMs }, 'record dropped: %s', result.reason);
      } else if (result.outcome === 'forwarded' && result.unscannable) {
        const { detail, signature } = result.unscannable;
        log.warn(
          { ...fields, outcome: 'unscannable', action: 'forwarded', status: 'UNSCANNABLE', signature, reason: detail, durationMs },
          'could not be fully scanned (%s): forwarded marked UNSCANNABLE',
          detail,
        );
      } else if (result.outcome === 'forwarded') {
        log.info({ ...fields, outcome: 'clean', signature: null, durationMs }, 'clean: forwarded');
      } else {
        log.warn(
          { ...fields, outcome: LOG_OUTCOMES[result.status], status: result.status, signature: result.signature, ...(result.detail ? { reason: result.detail } : {}), quarantineKey: result.quarantineKey, resumed: result.resumed, durationMs },
          'quarantined: %s',
          result.status,
        );
      }
    } catch (error) {
      const durationMs = Math.round(performance.now() - started);
      log.error({ ...fields, outcome: 'retry', durationMs, ...errorFields(error) }, 'record not finished; message kept for a retry');
      return { action: 'retry', error };
    }
  }
  if (unlogged > 0) {
    log.warn({ outcome: 'invalid', records: unlogged, firstUnlogged: MAX_RECORD_LINES }, 'further invalid records dropped without a line each');
  }
  return { action: 'delete' };
}
