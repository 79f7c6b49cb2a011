/**
 * What every command shares: reading the settings and the one-line usage
 * errors (exit 2) the project promises.
 */
import { readConfig, type Config } from '../config/config.ts';
import { ConfigError } from '../config/variables.ts';
import { readEnvironment, type Env } from '../config/env-file.ts';

/** A command-line mistake: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The whole worker configuration, SOURCES_FILE read; a bad value throws ConfigError (exit 2 in cli.ts). */
export function workerConfig(env: Env = readEnvironment()): Promise<Config> {
  return readConfig(env);
}

export { ConfigError };
