/**
 * The tuning section: how many files the worker scans at once, how it holds and
 * returns messages, when it copies part by part, and what it does with a file
 * clamd could not fully scan. Defaults from the latency-mode sweep
 * (docs/benchmarks.md).
 */
import type { UnscannableAction } from '../pipeline/decide.ts';
import * as z from '../shared/zod.ts';
import { DEFAULTS } from './defaults.ts';
import { integer, MEGABYTE, trimmed, type Parsed } from './variables.ts';

export interface TuningSettings {
  concurrency: number;
  /** Messages received ahead of a free slot (RECEIVE_AHEAD). */
  receiveAhead: number;
  visibilityTimeoutSeconds: number;
  receiveWaitSeconds: number;
  shutdownTimeoutSeconds: number;
  /** First delay before a failed message is retried; it doubles with each receive, up to the visibility timeout. */
  retryDelaySeconds: number;
  /** Objects above this are quarantined with a multipart copy (S3 copies at most 5 GiB at once). */
  multipartCopyThresholdBytes: number;
  /** What happens to a file clamd could not fully scan (UNSCANNABLE): quarantined, or forwarded marked as such. */
  unscannableAction: UnscannableAction;
}

const unscannableAction = z.pipe(
  trimmed(),
  z.transform((value: string | undefined, ctx): UnscannableAction => {
    const action = value ? value.toLowerCase() : DEFAULTS.unscannableAction;
    if (action === 'quarantine' || action === 'forward') return action;
    return z.reject(ctx, `must be quarantine or forward, got "${value}"`);
  }),
);

export const TUNING_VARIABLES = {
  UNSCANNABLE_ACTION: unscannableAction,
  CONCURRENCY: integer(DEFAULTS.concurrency, 1, 256, 'messages'),
  // Unset: as many as CONCURRENCY (told apart in tuningSettings).
  RECEIVE_AHEAD: integer(-1, 0, 256, 'messages'),
  VISIBILITY_TIMEOUT: integer(DEFAULTS.visibilityTimeoutSeconds, 10, 43200, 'seconds'),
  RECEIVE_WAIT_TIME: integer(DEFAULTS.receiveWaitSeconds, 0, 20, 'seconds'),
  SHUTDOWN_TIMEOUT: integer(DEFAULTS.shutdownTimeoutSeconds, 1, 3600, 'seconds'),
  MULTIPART_COPY_THRESHOLD: integer(DEFAULTS.multipartCopyThresholdMb, 5, 5120, 'megabytes'),
  RETRY_DELAY: integer(DEFAULTS.retryDelaySeconds, 0, 43200, 'seconds'),
};

export function tuningSettings(v: Parsed<typeof TUNING_VARIABLES>): TuningSettings {
  return {
    concurrency: v.CONCURRENCY,
    receiveAhead: v.RECEIVE_AHEAD === -1 ? v.CONCURRENCY : v.RECEIVE_AHEAD,
    visibilityTimeoutSeconds: v.VISIBILITY_TIMEOUT,
    receiveWaitSeconds: v.RECEIVE_WAIT_TIME,
    shutdownTimeoutSeconds: v.SHUTDOWN_TIMEOUT,
    retryDelaySeconds: v.RETRY_DELAY,
    multipartCopyThresholdBytes: v.MULTIPART_COPY_THRESHOLD * MEGABYTE,
    unscannableAction: v.UNSCANNABLE_ACTION,
  };
}
