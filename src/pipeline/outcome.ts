/**
 * The one typed stream of what happened to each record (or message). The log
 * lines, the metrics and the tests all read these events; nothing counts outcomes
 * by parsing log text. A record that reached a verdict carries the Verdict itself
 * (src/verdict/verdict.ts), which also spells its `outcome`.
 */
import type { Origin } from '../aws/queue.ts';
import type { MessageShape } from '../events/message.ts';
import { VERDICT_STATUSES, type QuarantineVerdict, type Verdict, type VerdictOf, type VerdictStatus } from '../verdict/verdict.ts';
import type { Resumed } from './quarantine.ts';
import type { TagResult } from './tags.ts';

/** Every `outcome` of a log line and of the bucketscan_records_total label, in the metrics' order. */
export const OUTCOMES = [...VERDICT_STATUSES, 'released', 'invalid', 'dropped', 'retry', 'test-event'] as const;
export type OutcomeName = (typeof OUTCOMES)[number];

/** What was measured of a record that reached clamd (or was judged by its size). */
export interface RecordFigures {
  /** The object's size as S3 reported it. */
  size: number;
  /** Time clamd spent on it, from the first byte sent to the verdict; absent when it was not scanned. */
  scanMs?: number;
  /**
   * From the start of the record to its verdict: the time it held a slot (the
   * network steps after the verdict run without one, see Worker).
   */
  verdictMs: number;
}

/** A record that reached a verdict, and what was done with the file. */
export type Judged = RecordFigures & {
  /** Absent when tagging is off. */
  tag?: TagResult;
} & (
    | {
        action: 'forwarded';
        verdict: VerdictOf<'clean' | 'unscannable'>;
        /** The source names no validation queue: the file was tagged and announced, and its event went nowhere. */
        withoutQueue?: true;
      }
    | { action: 'quarantined'; verdict: QuarantineVerdict; quarantineKey: string; resumed: Resumed }
  );

/**
 * A file released from quarantine (bucketscan release) whose scan gave nothing
 * new: clean, or exactly the verdict the release overrode. It is left as the
 * release left it (tagged CLEAN, already forwarded). `release` is the release's id.
 */
export type Released = RecordFigures & { action: 'released'; verdict: Verdict; release: string };

/** How one valid record ended: judged, released earlier, or dropped because its object is gone or changed. */
export type RecordResult = Judged | Released | { action: 'dropped'; reason: string };

/** Common to every event of one message. */
export interface MessageFacts {
  messageId: string | undefined;
  receiveCount: number;
  origin: Origin;
}

/** Identifies the record an event is about, when there is one. */
export interface RecordFacts {
  record: number;
  /** The bucket of the record's source (and so a bounded set of values: the metrics' `bucket` label). */
  bucket: string;
  key: string;
  versionId: string | undefined;
  envelope: 'direct' | 'sns';
  /** The message's shape: S3's own event records (when absent), or an EventBridge event. */
  shape?: MessageShape;
}

export type OutcomeEvent = MessageFacts &
  /** `outcome` is outcomeOf(verdict). */
  (
    | (RecordFacts & Judged & { outcome: VerdictStatus; durationMs: number })
    | (RecordFacts & Released & { outcome: 'released'; durationMs: number })
    | (RecordFacts & { outcome: 'dropped'; reason: string; durationMs: number })
    | (RecordFacts & { outcome: 'retry'; durationMs: number; error: unknown; lastReceive: boolean })
    /** A record that failed the checks; `bucket`/`key` as found (possibly absent, possibly hostile). */
    | { outcome: 'invalid'; record: number; reason: string; bucket?: string; key?: string }
    /** A message that is not an S3 event at all. */
    | { outcome: 'invalid'; record?: undefined; reason: string; bodyBytes: number }
    /** Invalid records past the per-message line budget, counted in one event. */
    | { outcome: 'invalid'; record?: undefined; reason: 'unlogged'; records: number; firstUnlogged: number }
    | { outcome: 'test-event' }
  );

export type OutcomeListener = (event: OutcomeEvent) => void;

/** How many records an event stands for (one, except the summary of unlogged invalid records). */
export function recordsIn(event: OutcomeEvent): number {
  return event.outcome === 'invalid' && 'records' in event ? event.records : 1;
}
