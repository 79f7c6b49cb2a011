import type { Logger } from '../log/logger.ts';
import { parseMessageBody } from '../events/message.ts';
import { checkRecord } from '../events/record.ts';
import { checkEventBridgeEvent } from '../events/eventbridge.ts';
import type { PipelineDeps, PipelineSettings } from './deps.ts';
import { processRecord } from './process-record.ts';
import { outcomeOf } from '../verdict/verdict.ts';
import { logOutcome } from './log-outcome.ts';
import type { Origin } from '../aws/queue.ts';
import type { MessageFacts, OutcomeEvent, OutcomeListener } from './outcome.ts';

export { MAX_LOGGED_BYTES } from './log-outcome.ts';

/** Invalid records logged one by one per message; the rest are counted in one line. */
export const MAX_RECORD_LINES = 1000;

export type MessageResult = { action: 'delete' } | { action: 'retry'; error: unknown };

/** A message as received from the inbound queue. */
export interface ReceivedMessage {
  messageId: string | undefined;
  body: string | undefined;
  receiveCount: number;
  /** Default 'event'. */
  origin?: Origin;
  /** The inbound queue's maxReceiveCount, when known: a failure on that receive is the last. */
  maxReceiveCount?: number;
}

/** Everything a message is processed with besides itself. */
export interface MessageContext {
  settings: PipelineSettings;
  deps: PipelineDeps;
  logger: Logger;
  /** Aborts the work (the worker's shutdown deadline). */
  signal?: AbortSignal;
  /** Called once the message needs no more clamd time (see Worker). */
  scanned?: () => void;
  /** Every outcome event, after it is logged (metrics, tests). */
  onOutcome?: OutcomeListener;
}

/**
 * Every record of a message is taken to its final outcome before the message may
 * be deleted. The first record that cannot be finished stops the rest: they all
 * come back together with the message, and finishing fewer now means repeating
 * fewer effects then. Each outcome is one event: logged here, and handed to
 * `onOutcome` (metrics, tests).
 */
export async function processMessage(message: ReceivedMessage, context: MessageContext): Promise<MessageResult> {
  const { settings, logger, onOutcome } = context;
  const origin = message.origin ?? 'event';
  const log = logger.child({
    messageId: message.messageId,
    receiveCount: message.receiveCount,
    ...(origin === 'rescan' ? { origin } : {}),
  });
  const facts: MessageFacts = { messageId: message.messageId, receiveCount: message.receiveCount, origin };
  const emit = (event: OutcomeEvent) => {
    logOutcome(log, event);
    onOutcome?.(event);
  };

  const parsed = parseMessageBody(message.body);
  if (parsed.kind === 'invalid') {
    emit({ ...facts, outcome: 'invalid', reason: parsed.reason, bodyBytes: Buffer.byteLength(message.body ?? '') });
    return { action: 'delete' };
  }
  if (parsed.kind === 'test-event') {
    emit({ ...facts, outcome: 'test-event' });
    return { action: 'delete' };
  }

  let unlogged = 0;
  const checkOne = parsed.shape === 'eventbridge' ? checkEventBridgeEvent : checkRecord;
  for (const [index, record] of parsed.records.entries()) {
    const started = performance.now();
    // The record's source is found by its bucket and key: an event for a bucket no source names is invalid.
    const check = checkOne(record, settings.sources);
    if (!check.ok) {
      // 256 KiB of tiny bogus records would otherwise be ~100,000 log lines from one message.
      if (index >= MAX_RECORD_LINES) {
        unlogged += 1;
        continue;
      }
      emit({
        ...facts,
        outcome: 'invalid',
        record: index,
        reason: check.reason,
        ...(check.bucket === undefined ? {} : { bucket: check.bucket }),
        ...(check.key === undefined ? {} : { key: check.key }),
      });
      continue;
    }
    const { target, source } = check;
    const where = {
      ...facts,
      record: index,
      bucket: target.bucket,
      key: target.key,
      versionId: target.versionId,
      envelope: parsed.envelope,
      shape: parsed.shape,
    };
    const elapsed = () => Math.round(performance.now() - started);
    try {
      // Only the last record frees the slot: earlier ones are followed by more scanning.
      const last = index === parsed.records.length - 1;
      const result = await processRecord(target, {
        settings,
        source,
        deps: context.deps,
        signal: context.signal,
        scanned: last ? context.scanned : undefined,
        origin,
      });
      const durationMs = elapsed();
      if (result.action === 'dropped') {
        emit({ ...where, outcome: 'dropped', reason: result.reason, durationMs });
      } else if (result.action === 'released') {
        emit({ ...where, ...result, outcome: 'released', durationMs, verdictMs: Math.round(result.verdictMs) });
      } else {
        const verdictMs = Math.round(result.verdictMs);
        emit({ ...where, ...result, outcome: outcomeOf(result.verdict), durationMs, verdictMs });
      }
    } catch (error) {
      const lastReceive = message.maxReceiveCount !== undefined && message.receiveCount >= message.maxReceiveCount;
      emit({ ...where, outcome: 'retry', durationMs: elapsed(), error, lastReceive });
      return { action: 'retry', error };
    }
  }
  if (unlogged > 0) emit({ ...facts, outcome: 'invalid', reason: 'unlogged', records: unlogged, firstUnlogged: MAX_RECORD_LINES });
  return { action: 'delete' };
}
