/**
 * ECS task scale-in protection, driven by the worker's in-flight count: while the
 * worker holds messages it asks the ECS agent to protect its task (so that neither
 * a scale-in nor a deployment stops it mid-scan), renews the protection before it
 * expires, and gives it up as soon as it holds nothing. The agent endpoint is
 * `$ECS_AGENT_URI/task-protection/v1/state`; ECS injects ECS_AGENT_URI into every
 * container of a task, and the task role needs ecs:UpdateTaskProtection.
 *
 * A failure is logged and never stops the worker: without protection a stopped
 * task still finishes its work within SHUTDOWN_TIMEOUT and returns the rest
 * (docs/deploy.md, "Scale-in").
 *
 * I/O comes in as small functions (the HTTP call and the timers), so tests drive
 * it against a local HTTP server with their own clock.
 */
import { request as httpRequest } from 'node:http';

/** Minutes a protection lasts unless renewed; renewed at half of it while busy. */
export const PROTECTION_MINUTES = 10;
/** After a failed call, the next try (while the state still differs). */
export const RETRY_MS = 30_000;
/**
 * Idle this long before the protection is given up: a trickle of single files
 * would otherwise cost two agent calls (two ECS API calls) per file. Scale-in
 * waits minutes for an idle queue, so ten seconds changes nothing there.
 */
export const RELEASE_AFTER_MS = 10_000;

export type ProtectionFetch = (
  url: string,
  init: { method: 'PUT'; headers: Record<string, string>; body: string; signal: AbortSignal },
) => Promise<{ ok: boolean; status: number; text(): Promise<string> }>;

/** The most of an agent's answer that is read (its answers are a few hundred bytes). */
const ANSWER_LIMIT = 64 * 1024;

/**
 * The agent call over node:http. Node's global fetch would do, but its first use
 * loads Node's bundled undici, about 2 MiB that the worker holds nowhere else
 * (docs/benchmarks.md, idle memory).
 */
export const agentFetch: ProtectionFetch = (url, init) =>
  new Promise((resolve, reject) => {
    const body = Buffer.from(init.body, 'utf8');
    const call = httpRequest(
      url,
      { method: init.method, headers: { ...init.headers, 'content-length': String(body.length) }, signal: init.signal },
      (response) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          if (bytes < ANSWER_LIMIT) chunks.push(chunk);
          bytes += chunk.length;
        });
        response.on('error', reject);
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          const text = Buffer.concat(chunks).subarray(0, ANSWER_LIMIT).toString('utf8');
          resolve({ ok: status >= 200 && status < 300, status, text: () => Promise.resolve(text) });
        });
      },
    );
    call.on('error', reject);
    call.end(body);
  });

export interface ProtectionTimers {
  /** Runs `fn` after `ms`; returns the cancel function. */
  after(ms: number, fn: () => void): () => void;
}

export interface ProtectionLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface TaskProtectionOptions {
  /** ECS_AGENT_URI. */
  agentUri: string;
  fetch: ProtectionFetch;
  timers: ProtectionTimers;
  logger: ProtectionLogger;
  expiresInMinutes?: number;
  /** One call's limit (ms). */
  timeoutMs?: number;
  /** Default RELEASE_AFTER_MS. */
  releaseAfterMs?: number;
}

export interface TaskProtection {
  /** The worker's in-flight count changed (the hook). */
  update(inFlight: number): void;
  /** Gives up the protection if it is held, and waits for the last call. */
  stop(): Promise<void>;
}

const realTimers: ProtectionTimers = {
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/** The protection for this task, or undefined outside ECS (no ECS_AGENT_URI). */
export function taskProtectionFromEnvironment(
  env: Record<string, string | undefined>,
  logger: ProtectionLogger,
  io: { fetch?: ProtectionFetch; timers?: ProtectionTimers } = {},
): TaskProtection | undefined {
  const agentUri = env['ECS_AGENT_URI']?.trim();
  if (!agentUri) return undefined;
  return createTaskProtection({ agentUri, logger, fetch: io.fetch ?? agentFetch, timers: io.timers ?? realTimers });
}

export function createTaskProtection(options: TaskProtectionOptions): TaskProtection {
  const minutes = options.expiresInMinutes ?? PROTECTION_MINUTES;
  const url = `${options.agentUri.replace(/\/+$/, '')}/task-protection/v1/state`;
  let wanted = false;
  /** What the agent was last told successfully (false at start: ECS starts tasks unprotected). */
  let applied = false;
  let calling: Promise<void> | undefined;
  let cancelTimer: (() => void) | undefined;
  let cancelRelease: (() => void) | undefined;
  let failing = false;
  let stopped = false;

  const schedule = (ms: number, fn: () => void) => {
    cancelTimer?.();
    cancelTimer = options.timers.after(ms, () => {
      cancelTimer = undefined;
      fn();
    });
  };

  const call = async (enabled: boolean): Promise<void> => {
    const body = JSON.stringify(enabled ? { ProtectionEnabled: true, ExpiresInMinutes: minutes } : { ProtectionEnabled: false });
    const response = await options.fetch(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
    });
    const text = await response.text();
    // The agent answers 200 with {"protection": ...}, or with {"failure": ...} / {"error": ...}.
    let answer: { failure?: { Reason?: string; Detail?: string }; error?: { Code?: string; Message?: string } } = {};
    try {
      answer = JSON.parse(text) as typeof answer;
    } catch {
      // not JSON: judged by the status alone
    }
    if (!response.ok || answer.failure || answer.error) {
      const detail = answer.failure
        ? `${answer.failure.Reason ?? ''} ${answer.failure.Detail ?? ''}`.trim()
        : answer.error
          ? `${answer.error.Code ?? ''} ${answer.error.Message ?? ''}`.trim()
          : text.slice(0, 200);
      throw new Error(`HTTP ${response.status}${detail ? `: ${detail}` : ''}`);
    }
  };

  /** Brings the agent to `wanted`, one call at a time; renewals and retries are timers. */
  const settle = (renew = false): void => {
    if (calling) return;
    if (wanted === applied && !renew) return;
    const target = wanted;
    calling = call(target)
      .then(
        () => {
          applied = target;
          if (failing) options.logger.info({ protected: target }, 'task scale-in protection works again');
          failing = false;
          return true;
        },
        (error: unknown) => {
          if (!failing) {
            options.logger.warn(
              { protected: target, error: error instanceof Error ? error.message : String(error) },
              'could not set ECS task scale-in protection; scanning goes on (a scale-in may stop this task, whose messages then return to the queue)',
            );
          }
          failing = true;
          return false;
        },
      )
      .then((ok) => {
        calling = undefined;
        if (stopped) return;
        if (wanted !== applied) {
          if (ok) settle();
          else schedule(RETRY_MS, () => settle());
        } else if (wanted) {
          // Renew while busy, well before the protection lapses.
          schedule(ok ? (minutes * 60_000) / 2 : RETRY_MS, () => settle(true));
        } else {
          cancelTimer?.();
        }
      });
  };

  return {
    update(inFlight) {
      if (stopped) return;
      if (inFlight > 0) {
        cancelRelease?.();
        cancelRelease = undefined;
        wanted = true;
        settle();
      } else if (wanted && !cancelRelease) {
        cancelRelease = options.timers.after(options.releaseAfterMs ?? RELEASE_AFTER_MS, () => {
          cancelRelease = undefined;
          wanted = false;
          settle();
        });
      }
    },
    async stop() {
      stopped = true;
      cancelTimer?.();
      cancelRelease?.();
      while (calling) await calling;
      if (applied) {
        wanted = false;
        await call(false).then(
          () => {
            applied = false;
          },
          (error: unknown) =>
            options.logger.warn(
              { error: error instanceof Error ? error.message : String(error) },
              'could not clear ECS task scale-in protection at shutdown; it lapses by itself',
            ),
        );
      }
    },
  };
}
