/** The log section: LOG_LEVEL and LOG_FORMAT, read here and only here. */
import { LOG_FORMATS, type LogFormatSetting } from '../log/pretty.ts';
import type { Env } from './env-file.ts';
import { DEFAULTS } from './defaults.ts';
import { choice, parseVariables, type Parsed } from './variables.ts';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LogSettings {
  level: LogLevel;
  /** `auto`: pretty on a terminal, JSON otherwise (src/log/pretty.ts). */
  format: LogFormatSetting;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LogLevel[];

export const LOG_VARIABLES = {
  LOG_FORMAT: choice(LOG_FORMATS, 'auto', `must be one of ${LOG_FORMATS.join(', ')}`),
  LOG_LEVEL: choice(LEVELS, DEFAULTS.logLevel, `must be one of ${LEVELS.join(', ')}`),
};

export function logSettings(v: Parsed<typeof LOG_VARIABLES>): LogSettings {
  return { level: v.LOG_LEVEL, format: v.LOG_FORMAT };
}

/** The log section alone, for a process that reads no other (a test's log sample). */
export function loadLogSettings(env: Env): LogSettings {
  return logSettings(parseVariables(env, LOG_VARIABLES));
}
