import type { Logger } from '../log/logger.ts';
import { parseMessageBody } from '../events/message.ts';
import { checkRecord, type RecordRules } from '../events/record.ts';
import { processRecord, type PipelineDeps } from './process-record.ts';

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
): Promise<MessageResult> {
  const log = logger.child({ messageId: message.messageId, receiveCount: message.receiveCount });
  const parsed = parseMessageBody(message.body);
  if (parsed.kind === 'invalid') {
    log.warn({ outcome: 'invalid', reason: parsed.reason, bodyBytes: Buffer.byteLength(message.body ?? '') }, 'message dropped: %s', parsed.reason);
    return { action: 'delete' };
  }
  if (parsed.kind === 'test-event') {
    log.info({ outcome: 'test-event' }, 's3:TestEvent dropped');
    return { action: 'delete' };
  }

  for (const [index, record] of parsed.records.entries()) {
    const started = performance.now();
    const check = checkRecord(record, rules);
    if (!check.ok) {
      log.warn(
        { outcome: 'invalid', record: index, reason: check.reason, bucket: check.bucket, key: check.key },
        'record dropped: %s',
        check.reason,
      );
      continue;
    }
    const { target } = check;
    const fields = { record: index, bucket: target.bucket, key: target.key, versionId: target.versionId, envelope: parsed.envelope };
    try {
      const result = await processRecord(target, deps, signal);
      const durationMs = Math.round(performance.now() - started);
      if (result.outcome === 'dropped') {
        log.warn({ ...fields, outcome: 'dropped', reason: result.reason, durationMs }, 'record dropped: %s', result.reason);
      } else if (result.outcome === 'forwarded') {
        log.info({ ...fields, outcome: 'clean', signature: null, durationMs }, 'clean: forwarded');
      } else {
        log.warn(
          { ...fields, outcome: result.status === 'INFECTED' ? 'infected' : 'too-large', status: result.status, signature: result.signature, quarantineKey: result.quarantineKey, durationMs },
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
  return { action: 'delete' };
}
