/**
 * What every command shares: reading the settings, turning signals into an
 * abort, and the one-line usage errors (exit 2) the project promises.
 */
import { resolve } from 'node:path';
import { ConfigError, loadConfig, type Config } from '../config/config.ts';
import { environmentWithDotenv, type Env } from '../config/env-file.ts';
import type { Logger } from '../log/logger.ts';

/** A command-line mistake: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The environment over the .env file (BUCKETSCAN_ENV_FILE names another, `none` reads none). */
export function readEnvironment(): Env {
  const choice = process.env['BUCKETSCAN_ENV_FILE'];
  const path = choice === 'none' ? undefined : resolve(choice || '.env');
  return environmentWithDotenv(path, process.env);
}

/** The whole worker configuration; a bad value throws ConfigError (exit 2 in cli.ts). */
export function workerConfig(env: Env = readEnvironment()): Config {
  return loadConfig(env);
}

export { ConfigError };

/**
 * Turns SIGTERM/SIGINT into an abort. Repeats change nothing: Ctrl-C under
 * `npm start` reaches the process twice (from the terminal and from npm), and a
 * shutdown is bounded by its own timeout anyway.
 */
export function shutdownSignal(logger?: Logger): AbortSignal {
  const controller = new AbortController();
  for (const name of ['SIGTERM', 'SIGINT'] as const) {
    process.on(name, () => {
      if (controller.signal.aborted) {
        logger?.debug({ signal: name }, 'already shutting down');
        return;
      }
      logger?.info({ signal: name }, 'shutdown requested');
      controller.abort();
    });
  }
  return controller.signal;
}
