/**
 * What the worker is doing, read as one snapshot: /readyz and the gauges are pure
 * functions of it, so they are tested without a running worker and cannot
 * disagree with each other.
 */
import type { Gauges } from '../metrics/metrics.ts';
import type { FreshnessMonitor, FreshnessState } from '../scan/freshness.ts';
import type { HealthState } from './health.ts';
import type { Worker } from './worker.ts';

/** starting: looking up the queues; waiting-for-clamd: until it answers PING; running: the poll loop exists. */
export type Phase = 'starting' | 'waiting-for-clamd' | 'running' | 'stopped';

export interface WorkerSnapshot {
  phase: Phase;
  /** The poll loop, once it exists. */
  loop: { ready: boolean; dependencyUp: boolean; inFlight: number } | undefined;
  /** The definitions' freshness, once clamd answered. */
  definitions: FreshnessState | undefined;
}

/** The live parts a snapshot is read from, set by the worker as it starts them. */
export class WorkerStatus {
  phase: Phase = 'starting';
  worker: Worker | undefined;
  freshness: FreshnessMonitor | undefined;

  snapshot(): WorkerSnapshot {
    const { worker } = this;
    return {
      phase: this.phase,
      loop: worker ? { ready: worker.ready, dependencyUp: worker.dependencyUp, inFlight: worker.inFlight } : undefined,
      definitions: this.freshness?.state(),
    };
  }
}

/** /readyz: ready only while running and taking messages; the detail says why not. */
export function readiness(snapshot: WorkerSnapshot): HealthState {
  const { phase, loop, definitions } = snapshot;
  const running = phase === 'running' && loop !== undefined;
  return {
    ready: running && loop.ready,
    detail: {
      phase,
      clamd: running && !loop.dependencyUp ? 'unavailable' : undefined,
      paused: definitions?.pause === true ? 'stale definitions (STALE_DEFINITIONS=pause)' : undefined,
      inFlight: loop?.inFlight ?? 0,
      ...(definitions
        ? {
            definitions: {
              status: definitions.status,
              ageSeconds: definitions.ageSeconds,
              databaseVersion: definitions.databaseVersion,
              databaseDate: definitions.databaseDate,
              detail: definitions.detail,
            },
          }
        : {}),
    },
  };
}

/** bucketscan_clamd_up: known while running (from the loop's outage state) and while waiting for clamd (down). */
export function clamdUp(snapshot: WorkerSnapshot): boolean | undefined {
  if (snapshot.phase === 'running' && snapshot.loop) return snapshot.loop.dependencyUp;
  return snapshot.phase === 'waiting-for-clamd' ? false : undefined;
}

/** The metrics' gauges, each read from a fresh snapshot. */
export function gauges(read: () => WorkerSnapshot): Gauges {
  return {
    inFlight: () => read().loop?.inFlight ?? 0,
    clamdUp: () => clamdUp(read()),
    definitionsAgeSeconds: () => read().definitions?.ageSeconds ?? undefined,
  };
}
