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

/** A failure that ends a command with one line (on stderr) and an exit code. */
export class Stop extends Error {
  readonly exitCode: number;
  constructor(line: string, exitCode: number) {
    super(line);
    this.name = 'Stop';
    this.exitCode = exitCode;
  }
}

/**
 * A Stop as its line, `bucketscan: <command>: <line>` (none for an interruption,
 * exit 130), and its exit code; anything else is thrown on.
 */
export function stopped(command: string, error: unknown): number {
  if (!(error instanceof Stop)) throw error;
  if (error.exitCode !== 130) process.stderr.write(`bucketscan: ${command}: ${error.message}\n`);
  return error.exitCode;
}

/** The whole worker configuration, SOURCES_FILE read; a bad value throws ConfigError (exit 2 in cli.ts). */
export function workerConfig(env: Env = readEnvironment()): Promise<Config> {
  return readConfig(env);
}

export { ConfigError };
