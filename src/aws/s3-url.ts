/**
 * S3 names as users type them on a command line: bucket names and `s3://bucket/key`
 * URLs. Pure functions returning a reason rather than throwing, so each command
 * words its own one-line error.
 */
import { checkKeyText } from '../events/key.ts';
import { quoteValue } from '../events/text.ts';

/** S3's rule for bucket names (general purpose buckets). */
export const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const IP_ADDRESS = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/**
 * Why `name` cannot be a general purpose bucket's name, or undefined when it can.
 * The rules S3 applies when a bucket is created (3-63 characters of lowercase
 * letters, digits, dots and hyphens, a letter or digit at each end, no two dots in a
 * row, not an IP address), so a name that breaks them names no bucket at all. The
 * legacy us-east-1 names with capitals or underscores are refused too, as the worker's
 * configuration refuses them. Names S3 reserves for aliases (`-s3alias`, `--ol-s3`)
 * and directory buckets (`--x-s3`) pass: S3 accepts them wherever a bucket is named.
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'the bucket name is empty';
  if (name.length < 3 || name.length > 63) return `bucket names are 3 to 63 characters long, not ${name.length}`;
  if (!/^[a-z0-9.-]+$/.test(name)) return 'bucket names hold only lowercase letters, digits, dots and hyphens';
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'bucket names begin and end with a lowercase letter or a digit';
  if (name.includes('..')) return 'bucket names never have two dots in a row';
  if (IP_ADDRESS.test(name)) return 'a bucket name cannot be an IP address';
  return undefined;
}

export interface S3Location {
  bucket: string;
  key: string;
}

export const S3_SCHEME = 's3://';

/**
 * Reads `s3://bucket/key`. The key is everything after the first slash, taken
 * literally as the AWS CLI does: no percent-decoding (`%20` is three characters of
 * the key), and `?`/`#` are part of it. The reason names what is wrong in words a
 * user can act on; a bucket name in it is quoted
 * as JSON (and clipped), so control characters cannot reach a terminal raw.
 */
export function parseS3Url(text: string): { ok: true; value: S3Location } | { ok: false; reason: string } {
  if (!text.startsWith(S3_SCHEME)) return { ok: false, reason: 'an S3 URL starts with s3://' };
  const rest = text.slice(S3_SCHEME.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  if (bucket.length === 0) return { ok: false, reason: 'no bucket name (expected s3://<bucket>/<key>)' };
  const bucketProblem = bucketNameProblem(bucket);
  if (bucketProblem) return { ok: false, reason: `invalid bucket name ${quoteValue(bucket)}: ${bucketProblem}` };
  const key = slash === -1 ? '' : rest.slice(slash + 1);
  if (key.length === 0) return { ok: false, reason: 'no object key (expected s3://<bucket>/<key>)' };
  const keyCheck = checkKeyText(key);
  if (!keyCheck.ok) return { ok: false, reason: keyCheck.reason };
  return { ok: true, value: { bucket, key } };
}
