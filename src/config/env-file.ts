import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';

export type Env = Record<string, string | undefined>;

/**
 * Reads a dotenv file and lays the real environment over it, so that a deployed
 * worker's variables always win over the committed local defaults.
 * A missing file is not an error: production images usually ship none.
 */
export function environmentWithDotenv(path: string | undefined, real: Env): Env {
  if (!path) return { ...real };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { ...real };
    throw error;
  }
  return { ...parseEnv(text), ...real };
}

/** The environment over the .env file (BUCKETSCAN_ENV_FILE names another, `none` reads none). */
export function readEnvironment(): Env {
  const choice = process.env['BUCKETSCAN_ENV_FILE'];
  const path = choice === 'none' ? undefined : resolve(choice || '.env');
  return environmentWithDotenv(path, process.env);
}
