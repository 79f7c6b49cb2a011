/**
 * The clamd section: where clamd listens, how long to wait for it, the most a
 * file may be (MAX_FILE_SIZE), and how old its definitions may get. `bucketscan
 * scan` needs only this section.
 */
import * as z from '../shared/zod.ts';
import type { ClamdAddress } from '../scan/clamd-client.ts';
import { DEFAULTS } from './defaults.ts';
import { STALE_DEFINITIONS_MODES, type StaleDefinitionsMode } from '../scan/freshness.ts';
import type { Env } from './env-file.ts';
import { choice, ConfigError, integer, MEGABYTE, optionalText, trimmed, type Parsed } from './variables.ts';

export interface ClamdSettings {
  address: ClamdAddress;
  /** True when any CLAMD_* variable was set: the local stack then uses that clamd instead of starting one. */
  explicit: boolean;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** MAX_FILE_SIZE in bytes: the most one scan streams; a larger file is TOO_LARGE, never scanned. */
  maxFileSizeBytes: number;
  /** MAX_DEFINITIONS_AGE, in hours: older definitions are stale. */
  maxDefinitionsAgeHours: number;
  /** STALE_DEFINITIONS: keep scanning (warn) or stop taking messages (pause) while stale. */
  staleDefinitions: StaleDefinitionsMode;
}

// clamd clamps MaxFileSize to just under 2 GiB and flags anything larger as a
// limit hit, so nothing larger can ever be scanned in full.
/** The most clamd scans in full (libclamav's 2 GB file limit), in MB: MAX_FILE_SIZE and a source's maxFileSize. */
export const MAX_SCANNABLE_MB = 2047;

const megabytes = z.pipe(
  trimmed(),
  z.transform((value: string | undefined, ctx) => {
    if (value === undefined || value === '') return DEFAULTS.maxFileSizeMb;
    if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0 || Number(value) > MAX_SCANNABLE_MB)
      return z.reject(
        ctx,
        `must be a number of megabytes above 0 and at most ${MAX_SCANNABLE_MB} (the most clamd scans in full), got "${value}"`,
      );
    return Number(value);
  }),
);

const hours = z.pipe(
  trimmed(),
  z.transform((value: string | undefined, ctx) => {
    if (value === undefined || value === '') return DEFAULTS.maxDefinitionsAgeHours;
    if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) return z.reject(ctx, `must be a number of hours above 0, got "${value}"`);
    return Number(value);
  }),
);

export const CLAMD_VARIABLES = {
  CLAMD_HOST: optionalText,
  CLAMD_PORT: integer(DEFAULTS.clamdPort, 1, 65535, 'port'),
  CLAMD_SOCKET: optionalText,
  CLAMD_CONNECT_TIMEOUT: integer(DEFAULTS.clamdConnectTimeoutSeconds, 1, 600, 'seconds'),
  CLAMD_TIMEOUT: integer(DEFAULTS.clamdTimeoutSeconds, 1, 3600, 'seconds'),
  MAX_FILE_SIZE: megabytes,
  MAX_DEFINITIONS_AGE: hours,
  STALE_DEFINITIONS: choice(STALE_DEFINITIONS_MODES, DEFAULTS.staleDefinitions, 'must be warn or pause'),
};

export function clamdSettings(v: Parsed<typeof CLAMD_VARIABLES>, env: Env): ClamdSettings {
  if (v.CLAMD_SOCKET && v.CLAMD_HOST) {
    throw new ConfigError('CLAMD_SOCKET', 'cannot be combined with CLAMD_HOST: choose the unix socket or TCP');
  }
  return {
    address: v.CLAMD_SOCKET
      ? { kind: 'socket', path: v.CLAMD_SOCKET }
      : { kind: 'tcp', host: v.CLAMD_HOST ?? DEFAULTS.clamdHost, port: v.CLAMD_PORT },
    explicit: ['CLAMD_HOST', 'CLAMD_PORT', 'CLAMD_SOCKET'].some((name) => (env[name] ?? '').trim() !== ''),
    connectTimeoutMs: v.CLAMD_CONNECT_TIMEOUT * 1000,
    idleTimeoutMs: v.CLAMD_TIMEOUT * 1000,
    maxFileSizeBytes: Math.floor(v.MAX_FILE_SIZE * MEGABYTE),
    maxDefinitionsAgeHours: v.MAX_DEFINITIONS_AGE,
    staleDefinitions: v.STALE_DEFINITIONS,
  };
}
