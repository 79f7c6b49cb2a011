/**
 * S3 names as users type them on a command line: bucket names and `s3://bucket/key`
 * URLs. Pure functions returning a reason rather than throwing, so each command
 * words its own one-line error.
 */
import { checkKeyText } from '../events/key.ts';
import { quoteValue } from '../events/text.ts';

const IP_ADDRESS = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/**
 * Why `name` cannot be a general purpose bucket's name, or undefined when it can.
 * The rules S3 applies when a bucket is created (3-63 characters of lowercase
 * letters, digits, dots and hyphens, a letter or digit at each end, no two dots in a
 * row, not an IP address), so a name that breaks them names no bucket at all. The
 * legacy us-east-1 names with capitals or underscores are refused too. Names S3
 * reserves for aliases (`-s3alias`, `--ol-s3`) and directory buckets (`--x-s3`)
 * pass: S3 accepts them wherever a bucket is named. The one rule for every bucket
 * name bucketscan reads: settings, command lines, policies.
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

/** A place in S3 as a user names it. */
export interface S3Location {
  bucket: string;
  /** The object key, or for a prefix URL the prefix ("" for the whole bucket). Verbatim: S3 URLs are not percent-encoded. */
  key: string;
}

export const S3_SCHEME = 's3://';

const EXPECTED = { object: 's3://<bucket>/<key>', prefix: 's3://<bucket>[/<prefix>]' } as const;

/**
 * Reads `s3://bucket/key` (`want` 'object': a key is required) or
 * `s3://bucket[/prefix]` ('prefix'). The key or prefix is everything after the
 * first slash, taken literally as the AWS CLI does: no percent-decoding (`%20` is
 * three characters of the key), and `?`/`#` are part of it; it must be text an S3
 * key can hold (checkKeyText). The reason names what is wrong in words a user can
 * act on; a bucket name in it is quoted as JSON (and clipped), so control
 * characters cannot reach a terminal raw.
 */
export function parseS3Url(
  text: string,
  want: 'object' | 'prefix' = 'object',
): { ok: true; value: S3Location } | { ok: false; reason: string } {
  if (!text.startsWith(S3_SCHEME)) return { ok: false, reason: `an S3 URL starts with s3:// (expected ${EXPECTED[want]})` };
  const rest = text.slice(S3_SCHEME.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  if (bucket.length === 0) return { ok: false, reason: `no bucket name (expected ${EXPECTED[want]})` };
  const bucketProblem = bucketNameProblem(bucket);
  if (bucketProblem) return { ok: false, reason: `invalid bucket name ${quoteValue(bucket)}: ${bucketProblem}` };
  const key = slash === -1 ? '' : rest.slice(slash + 1);
  if (key.length === 0) {
    return want === 'prefix' ? { ok: true, value: { bucket, key } } : { ok: false, reason: `no object key (expected ${EXPECTED[want]})` };
  }
  const keyCheck = checkKeyText(key);
  if (!keyCheck.ok) return { ok: false, reason: keyCheck.reason };
  return { ok: true, value: { bucket, key } };
}
