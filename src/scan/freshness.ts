/**
 * How old clamd's virus definitions are, and what the worker should do about it.
 *
 * `assessFreshness` is the decision, a pure function of clamd's VERSION answer,
 * the time and the limit. `startFreshnessMonitor` asks clamd periodically, keeps
 * the latest state for /readyz, the metrics and the poll loop, and logs once per
 * change rather than once per check.
 */
import type { Logger } from '../log/logger.ts';
import { errorMessage } from '../shared/errors.ts';
import { formatAge } from '../shared/format.ts';
import type { EngineInfo } from './reply.ts';

/**
 * - `fresh`: the daily database was built at most MAX_DEFINITIONS_AGE ago.
 * - `stale`: it is older than that (freshclam is failing, or clamd is not reloading).
 * - `unknown`: clamd gave no readable build date, or VERSION could not be read
 *   several times in a row (see FAILURES_BEFORE_UNKNOWN).
 * - `test-signatures`: no official database is loaded at all. clamd 1.4.6 then
 *   answers VERSION with the engine version alone ("ClamAV 1.4.6"), whatever
 *   unsigned signatures it has; with the local stack those are the project's test
 *   signatures, so there is nothing to age and nothing to alarm about.
 */
export type FreshnessStatus = 'fresh' | 'stale' | 'unknown' | 'test-signatures';

/** STALE_DEFINITIONS: keep scanning and report it (`warn`), or stop taking messages (`pause`). */
export const STALE_DEFINITIONS_MODES = ['warn', 'pause'] as const;
export type StaleDefinitionsMode = (typeof STALE_DEFINITIONS_MODES)[number];

/**
 * MAX_DEFINITIONS_AGE default, in hours. ClamAV publishes daily.cvd updates
 * several times a day and freshclam checks every two hours by default (its
 * `Checks 12`; the CDN asks for at most about one check an hour), so a healthy
 * installation's database is normally hours old. A quiet publishing day, a
 * weekend, CDN caching and a slow freshclam schedule still stay well within two
 * days, while a database older than that means updates have been failing for a
 * day or more: worth an alert, and rare enough that `pause` does not stop a
 * healthy fleet.
 */
export const DEFAULT_MAX_DEFINITIONS_AGE_HOURS = 48;
export const DEFAULT_STALE_DEFINITIONS: StaleDefinitionsMode = 'warn';
/**
 * How often VERSION is read. One short connection a minute costs clamd nothing,
 * and a paused worker resumes within a minute of clamd loading new definitions.
 */
export const DEFAULT_FRESHNESS_INTERVAL_MS = 60_000;
/**
 * Failed reads in a row before the state becomes `unknown`. Until then the last
 * database clamd reported stays in force, aged by the clock, so one refused
 * connection neither pauses nor resumes anything. `unknown` never pauses: a clamd
 * that cannot answer VERSION cannot scan either, and the worker's own clamd
 * outage handling (and retries, never "clean") covers that; pausing on it would
 * only add a second, slower recovery path.
 */
export const FAILURES_BEFORE_UNKNOWN = 3;

export interface FreshnessAssessment {
  status: FreshnessStatus;
  /** Seconds since the daily database was built; null unless fresh or stale. Never negative. */
  ageSeconds: number | null;
  databaseVersion: number | null;
  /** As clamd reported it (see EngineInfo.databaseDate). */
  databaseDate: string | null;
  /** One sentence for /readyz and the logs. */
  detail: string;
}

export interface FreshnessState extends FreshnessAssessment {
  /** True only when mode is `pause` and the definitions are stale: take no messages. */
  pause: boolean;
  /** ClamAV engine version from the last good read; null before one. */
  clamav: string | null;
  /** When this state was computed (ISO 8601); null before the first check. */
  checkedAt: string | null;
  /** Failed VERSION reads since the last good one. */
  consecutiveFailures: number;
}

const LOCAL_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/;
const DATE_TIME_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * The database build time in epoch milliseconds, or null when it cannot be read.
 * clamd writes it in its own local time zone without naming it (EngineInfo), so a
 * date without an offset is taken in this process's time zone. That is exact when
 * both run with the same TZ: the local stack (clamd is our child), one container
 * or task with two processes, or the usual containers that are all UTC. Otherwise
 * the age is off by the difference of the two zones.
 */
export function databaseBuildTime(databaseDate: string): number | null {
  const local = LOCAL_DATE_TIME.exec(databaseDate);
  if (local) {
    const [, year, month, day, hour, minute, second] = local.map(Number) as [number, number, number, number, number, number, number];
    const time = new Date(year, month - 1, day, hour, minute, second).getTime();
    return Number.isNaN(time) ? null : time;
  }
  if (DATE_TIME_WITH_OFFSET.test(databaseDate)) {
    const time = Date.parse(databaseDate);
    return Number.isNaN(time) ? null : time;
  }
  return null;
}

const hoursText = (hours: number) => `MAX_DEFINITIONS_AGE=${hours}h`;

/** The freshness of what one VERSION answer describes, at `nowMs`. */
export function assessFreshness(info: EngineInfo, nowMs: number, maxAgeHours: number): FreshnessAssessment {
  const { databaseVersion, databaseDate } = info;
  const base = { databaseVersion, databaseDate, ageSeconds: null };
  if (databaseVersion === null && databaseDate === null) {
    return {
      ...base,
      status: 'test-signatures',
      detail: `no official ClamAV database is loaded (clamd says "${info.raw}"): only unsigned signatures such as the test signatures, so there is no definition age to check`,
    };
  }
  if (databaseDate === null) {
    return {
      ...base,
      status: 'unknown',
      detail: `clamd reports database version ${databaseVersion} without a build date, so its age is unknown`,
    };
  }
  const builtAt = databaseBuildTime(databaseDate);
  if (builtAt === null) {
    return {
      ...base,
      status: 'unknown',
      detail: `clamd's database date ${JSON.stringify(databaseDate)} could not be read, so the definitions' age is unknown`,
    };
  }
  // A build time in the future (clamd in a time zone ahead of ours, or a clock
  // off) is taken as just built rather than as an error.
  const ageSeconds = Math.max(0, Math.floor((nowMs - builtAt) / 1000));
  const which = `daily ${databaseVersion ?? '?'} built ${databaseDate}`;
  if (ageSeconds > maxAgeHours * 3_600) {
    return {
      ...base,
      ageSeconds,
      status: 'stale',
      detail: `definitions are stale: ${formatAge(ageSeconds)} old (${which}; ${hoursText(maxAgeHours)})`,
    };
  }
  return {
    ...base,
    ageSeconds,
    status: 'fresh',
    detail: `definitions are fresh: ${formatAge(ageSeconds)} old (${which}; ${hoursText(maxAgeHours)})`,
  };
}

/** The state the worker acts on: the assessment plus whether to stop taking messages. */
export function freshnessState(
  assessment: FreshnessAssessment,
  mode: StaleDefinitionsMode,
  extra: Pick<FreshnessState, 'clamav' | 'checkedAt' | 'consecutiveFailures'>,
): FreshnessState {
  const pause = mode === 'pause' && assessment.status === 'stale';
  const detail =
    assessment.status === 'stale'
      ? `${assessment.detail}; ${pause ? 'not taking messages until they are fresh again (STALE_DEFINITIONS=pause)' : 'still scanning (STALE_DEFINITIONS=warn)'}`
      : assessment.detail;
  return { ...assessment, detail, pause, ...extra };
}

export interface FreshnessMonitorOptions {
  /** clamd's VERSION, e.g. `() => clamd.version()` (ClamdClient's own timeouts bound a hanging read). */
  readVersion: () => Promise<EngineInfo>;
  maxAgeHours: number;
  mode: StaleDefinitionsMode;
  /** Default DEFAULT_FRESHNESS_INTERVAL_MS. */
  intervalMs?: number;
  /** Default FAILURES_BEFORE_UNKNOWN. */
  failuresBeforeUnknown?: number;
  /** Epoch milliseconds. Default Date.now (which Node's mock timers replace too). */
  now?: () => number;
  logger: Logger;
  /** Called after every change that is logged, with the new and the previous state. */
  onChange?: (state: FreshnessState, previous: FreshnessState) => void;
  /** Default the global setTimeout/clearTimeout (which Node's mock timers replace). */
  timers?: { setTimeout: typeof setTimeout; clearTimeout: typeof clearTimeout };
}

export interface FreshnessMonitor {
  /** The state as of the last check (at most intervalMs old). Before the first check: unknown, no pause. */
  state(): FreshnessState;
  /** Reads VERSION now (joining a read already under way) and resolves with the new state. Never rejects. */
  checkNow(): Promise<FreshnessState>;
  /** Resolves once no read is under way, with the current state. */
  settled(): Promise<FreshnessState>;
  /** No more reads are scheduled; a read under way still finishes. Safe to call twice. */
  stop(): void;
}

function checkPositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a number above 0, got ${value}`);
}

/**
 * Checks at once, then every intervalMs until stopped; the caller should await
 * the first `checkNow()` (or `settled()`) before taking messages, so that a worker
 * in pause mode never starts on stale definitions. Timers are unref'd: the
 * monitor never keeps the process alive.
 */
export function startFreshnessMonitor(options: FreshnessMonitorOptions): FreshnessMonitor {
  const { readVersion, maxAgeHours, mode, logger, onChange } = options;
  const intervalMs = options.intervalMs ?? DEFAULT_FRESHNESS_INTERVAL_MS;
  const failuresBeforeUnknown = options.failuresBeforeUnknown ?? FAILURES_BEFORE_UNKNOWN;
  const now = options.now ?? (() => Date.now());
  const timers = options.timers ?? { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout };
  checkPositive('maxAgeHours', maxAgeHours);
  checkPositive('intervalMs', intervalMs);
  if (!Number.isSafeInteger(failuresBeforeUnknown) || failuresBeforeUnknown < 1) {
    throw new RangeError(`failuresBeforeUnknown must be a positive integer, got ${failuresBeforeUnknown}`);
  }
  if (!(STALE_DEFINITIONS_MODES as readonly string[]).includes(mode)) {
    throw new RangeError(`mode must be one of ${STALE_DEFINITIONS_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  }

  let current: FreshnessState = {
    status: 'unknown',
    ageSeconds: null,
    databaseVersion: null,
    databaseDate: null,
    detail: 'the definitions have not been checked yet',
    pause: false,
    clamav: null,
    checkedAt: null,
    consecutiveFailures: 0,
  };
  /** The last answer clamd gave; aged again while reads fail. */
  let lastInfo: EngineInfo | undefined;
  let failures = 0;
  let inFlight: Promise<FreshnessState> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const fields = (state: FreshnessState) => ({
    definitions: state.status,
    definitionsAgeSeconds: state.ageSeconds,
    databaseVersion: state.databaseVersion,
    databaseDate: state.databaseDate,
  });

  /** Status and pause as last logged; undefined until the first real state. */
  let reported: { key: string; databaseVersion: number | null } | undefined;

  /** One line per change: a new status, or new definitions under the same status. */
  const report = (next: FreshnessState, previous: FreshnessState) => {
    const key = `${next.status}/${next.pause}`;
    const before = reported;
    const statusChanged = before?.key !== key;
    const updated = !statusChanged && next.databaseVersion !== before?.databaseVersion;
    reported = { key, databaseVersion: next.databaseVersion };
    if (!statusChanged && !updated) return;
    const log = fields(next);
    if (updated) {
      logger.info(log, 'definitions updated: %s', next.detail);
    } else if (next.status === 'stale') {
      if (next.pause) logger.error(log, next.detail);
      else logger.warn(log, next.detail);
    } else if (next.status === 'fresh' && before?.key === 'stale/true') {
      logger.info(log, '%s; taking messages again', next.detail);
    } else if (next.status === 'fresh' || next.status === 'test-signatures') {
      logger.info(log, next.detail);
    } else {
      logger.warn({ ...log, consecutiveFailures: next.consecutiveFailures }, 'cannot tell how old the definitions are: %s', next.detail);
    }
    onChange?.(next, previous);
  };

  const check = async (): Promise<FreshnessState> => {
    let next: FreshnessState;
    try {
      const info = await readVersion();
      lastInfo = info;
      failures = 0;
      next = freshnessState(assessFreshness(info, now(), maxAgeHours), mode, {
        clamav: info.clamav,
        checkedAt: new Date(now()).toISOString(),
        consecutiveFailures: 0,
      });
    } catch (error) {
      failures += 1;
      const why = errorMessage(error);
      logger.debug({ consecutiveFailures: failures, error: why }, 'could not read the clamd version for the definitions check');
      const checkedAt = new Date(now()).toISOString();
      if (lastInfo !== undefined && failures < failuresBeforeUnknown) {
        next = freshnessState(assessFreshness(lastInfo, now(), maxAgeHours), mode, {
          clamav: lastInfo.clamav,
          checkedAt,
          consecutiveFailures: failures,
        });
      } else if (failures < failuresBeforeUnknown) {
        // Never read yet: stays "not checked yet" until the limit, as above, and
        // is not reported (nothing has changed yet).
        current = { ...current, checkedAt, consecutiveFailures: failures };
        return current;
      } else {
        next = {
          status: 'unknown',
          ageSeconds: null,
          databaseVersion: lastInfo?.databaseVersion ?? null,
          databaseDate: lastInfo?.databaseDate ?? null,
          detail: `clamd's VERSION could not be read ${failures === 1 ? 'once' : `${failures} times in a row`} (last error: ${why})`,
          pause: false,
          clamav: lastInfo?.clamav ?? null,
          checkedAt,
          consecutiveFailures: failures,
        };
      }
    }
    const previous = current;
    current = next;
    report(next, previous);
    return next;
  };

  const schedule = () => {
    if (stopped) return;
    timer = timers.setTimeout(() => {
      timer = undefined;
      void checkNow().finally(schedule);
    }, intervalMs);
    (timer as { unref?: () => void }).unref?.();
  };

  const checkNow = (): Promise<FreshnessState> => {
    inFlight ??= check()
      .catch((error: unknown) => {
        // check() handles read failures; this is a bug in a callback (onChange).
        logger.error({ error: errorMessage(error) }, 'definitions check failed');
        return current;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };

  void checkNow().finally(schedule);

  return {
    state: () => current,
    checkNow,
    settled: () => inFlight ?? Promise.resolve(current),
    stop: () => {
      stopped = true;
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
    },
  };
}
