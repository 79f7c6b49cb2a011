/**
 * The detection section: where `bucketscan signatures publish` and `bucketscan
 * allow` publish the detection set (custom signatures and the allow list), and
 * the memory a clamd has for it (the memory guard, src/signatures/memory.ts).
 * Only those commands read it; the worker never does.
 */
import * as z from '../shared/zod.ts';
import { parseTargetLocation, type TargetLocation } from '../signatures/target.ts';
import { integer, trimmed, type Parsed } from './variables.ts';

/** Where the local stack's clamd loads a set from, and where one is published when nothing else is named. */
export const DEFAULT_CUSTOM_DATABASES = '.local/custom-databases';

const location = z.pipe(
  trimmed(),
  z.transform((value: string | undefined, ctx) => {
    const parsed = parseTargetLocation(value || DEFAULT_CUSTOM_DATABASES);
    if (!parsed.ok) return z.reject(ctx, `must be s3://<bucket>/<folder>/ or a directory: ${parsed.reason}`);
    return parsed.value;
  }),
);

const optionalMegabytes = z.pipe(
  trimmed(),
  z.transform((value: string | undefined, ctx) => {
    if (value === undefined || value === '') return undefined;
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1_048_576)
      return z.reject(ctx, `must be a whole number of MiB from 1 to 1048576, got "${value}"`);
    return Number(value);
  }),
);

export const DETECTION_VARIABLES = {
  CUSTOM_DATABASES: location,
  CLAMD_MEMORY_LIMIT_MB: optionalMegabytes,
  CLAMD_SCAN_RESERVE_MB: integer(512, 0, 1_048_576, 'MiB'),
};

export interface DetectionSettings {
  /** CUSTOM_DATABASES. */
  target: TargetLocation;
  /** CLAMD_MEMORY_LIMIT_MB: the memory of each clamd (its container's limit); undefined: not checked. */
  memoryLimitMiB: number | undefined;
  /** CLAMD_SCAN_RESERVE_MB: what of that memory its scans need, kept out of the database's share. */
  scanReserveMiB: number;
}

export function detectionSettings(v: Parsed<typeof DETECTION_VARIABLES>): DetectionSettings {
  return { target: v.CUSTOM_DATABASES, memoryLimitMiB: v.CLAMD_MEMORY_LIMIT_MB, scanReserveMiB: v.CLAMD_SCAN_RESERVE_MB };
}
