/**
 * The one typed stream of what happened to each record (or message). The log
 * lines, the metrics and the tests all read these events; nothing counts outcomes
 * by parsing log text.
 */
import type { QuarantineStatus } from './decide.ts';
import type { Resumed } from './quarantine.ts';
import type { TagResult } from './tags.ts';

export const OUTCOMES = ['clean', 'infected', 'too-large', 'unscannable', 'invalid', 'dropped', 'retry', 'test-event'] as const;
export type OutcomeName = (typeof OUTCOMES)[number];

/** Where a message came from: S3 itself, or `bucketscan rescan` (message attribute bucketscan-origin). */
export type Origin = 'event' | 'rescan';

/** Common to every event of one message. */
export interface MessageFacts {
  messageId: string | undefined;
  receiveCount: number;
  origin: Origin;
}

/** Identifies the record an event is about, when there is one. */
export interface RecordFacts {
  record: number;
  bucket: string;
  key: string;
  versionId: string | undefined;
  envelope: 'direct' | 'sns';
}

export type OutcomeEvent = MessageFacts &
  (
    | (RecordFacts & { outcome: 'clean'; durationMs: number; size: number; scanMs?: number; tag?: TagResult })
    | (RecordFacts & {
        outcome: 'unscannable';
        action: 'forwarded';
        durationMs: number;
        size: number;
        scanMs?: number;
        signature: string | null;
        detail: string;
        tag?: TagResult;
      })
    | (RecordFacts & {
        outcome: 'infected' | 'too-large' | 'unscannable';
        action: 'quarantined';
        status: QuarantineStatus;
        signature: string | null;
        detail?: string;
        quarantineKey: string;
        resumed: Resumed;
        durationMs: number;
        size: number;
        scanMs?: number;
        tag?: TagResult;
      })
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
