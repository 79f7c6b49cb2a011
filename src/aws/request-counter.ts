/**
 * Counts the AWS API requests a process makes, per service and operation, for the
 * benchmark (`bench/`): what a file costs in requests is a number to watch, and
 * only the SDK sees every attempt, retries included.
 *
 * Off unless BUCKETSCAN_COUNT_REQUESTS names a file: then every client made by
 * createClients shares one counter, and the counts are written to that file as
 * JSON when the process exits (and by `write()`). When it is off, nothing is added
 * to any client, so it costs nothing.
 */
import { writeFileSync } from 'node:fs';
import type { FinalizeRequestMiddleware, MiddlewareStack } from '@smithy/types';
import { errorMessage } from '../shared/errors.ts';

export const REQUEST_COUNT_VARIABLE = 'BUCKETSCAN_COUNT_REQUESTS';

export interface RequestCounts {
  pid: number;
  startedAt: string;
  writtenAt: string;
  /** HTTP attempts per "<service>.<operation>" (e.g. "SQS.ReceiveMessage"), retries included. */
  attempts: Record<string, number>;
  /** Attempts that failed (error response, timeout, abort), per operation; also counted in `attempts`. */
  failed: Record<string, number>;
  /** ReceiveMessage attempts that brought no message (idle long polls, aborted polls); also counted in `attempts`. */
  emptyReceives: number;
  /** Messages brought by all ReceiveMessage attempts. */
  receivedMessages: number;
}

const MIDDLEWARE_NAME = 'bucketscanRequestCounter';

/** "S3Client" -> "S3", "GetObjectCommand" -> "GetObject". */
function operationName(clientName: string | undefined, commandName: string | undefined): string {
  const service = (clientName ?? 'Unknown').replace(/Client$/, '');
  const operation = (commandName ?? 'Unknown').replace(/Command$/, '');
  return `${service}.${operation}`;
}

function bump(counts: Map<string, number>, name: string, by = 1): void {
  counts.set(name, (counts.get(name) ?? 0) + by);
}

export class RequestCounter {
  readonly #attempts = new Map<string, number>();
  readonly #failed = new Map<string, number>();
  readonly #startedAt = new Date();
  #emptyReceives = 0;
  #receivedMessages = 0;

  /**
   * Adds the counting middleware to a client. It sits at the end of the
   * finalizeRequest step, inside the SDK's retry middleware, so it runs once per
   * HTTP attempt. Adding it twice to the same client replaces the first.
   */
  // biome-ignore lint/suspicious/noExplicitAny: one middleware for every client, whose input and output types differ
  attach(stack: MiddlewareStack<any, any>): void {
    // biome-ignore lint/suspicious/noExplicitAny: as above
    const middleware: FinalizeRequestMiddleware<any, any> = (next, context) => async (args) => {
      const name = operationName(context.clientName, context.commandName);
      bump(this.#attempts, name);
      const isReceive = name === 'SQS.ReceiveMessage';
      try {
        const result = await next(args);
        if (isReceive) {
          const messages = (result.output as { Messages?: unknown[] } | undefined)?.Messages?.length ?? 0;
          this.#receivedMessages += messages;
          if (messages === 0) this.#emptyReceives += 1;
        }
        return result;
      } catch (error) {
        bump(this.#failed, name);
        if (isReceive) this.#emptyReceives += 1;
        throw error;
      }
    };
    stack.add(middleware, { step: 'finalizeRequest', priority: 'low', name: MIDDLEWARE_NAME, override: true });
  }

  snapshot(): RequestCounts {
    const sorted = (counts: Map<string, number>) => Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b)));
    return {
      pid: process.pid,
      startedAt: this.#startedAt.toISOString(),
      writtenAt: new Date().toISOString(),
      attempts: sorted(this.#attempts),
      failed: sorted(this.#failed),
      emptyReceives: this.#emptyReceives,
      receivedMessages: this.#receivedMessages,
    };
  }

  /** Writes the counts so far to `path` (synchronously: it also runs in an exit handler). */
  writeTo(path: string): void {
    writeFileSync(path, `${JSON.stringify(this.snapshot(), null, 2)}\n`);
  }
}

let processCounter: { path: string; counter: RequestCounter } | undefined;

/**
 * The process-wide counter when BUCKETSCAN_COUNT_REQUESTS names a file, else
 * undefined. The first call arranges for the counts to be written to that file
 * when the process exits.
 */
export function requestCounterFromEnv(env: Record<string, string | undefined> = process.env): RequestCounter | undefined {
  const path = env[REQUEST_COUNT_VARIABLE]?.trim();
  if (!path) return undefined;
  if (processCounter?.path !== path) {
    const entry = { path, counter: new RequestCounter() };
    processCounter = entry;
    process.on('exit', () => {
      try {
        entry.counter.writeTo(entry.path);
      } catch (error) {
        process.stderr.write(`bucketscan: could not write request counts to ${entry.path}: ${errorMessage(error)}\n`);
      }
    });
  }
  return processCounter.counter;
}
