/**
 * The status tag (SCAN_STATUS_TAG): pure decisions about what a tag set becomes.
 * S3 replaces an object's whole tag set on every write, so the status is merged
 * into the tags the object already has; S3 allows at most 10.
 */
import type { Tag } from '@aws-sdk/client-s3';
import type { TagValue } from '../verdict/verdict.ts';

export const MAX_TAGS = 10;

export type Merge = { ok: true; tags: Tag[] } | { ok: false; problem: string };

/** The object's tags with the status set (replacing an earlier status), or why that cannot be. */
export function withStatus(existing: Tag[], key: string, value: TagValue): Merge {
  const others = existing.filter((tag) => tag.Key !== key);
  if (others.length >= MAX_TAGS) {
    return { ok: false, problem: `the object already has ${others.length} other tags, S3's limit is ${MAX_TAGS}` };
  }
  return { ok: true, tags: [...others, { Key: key, Value: value }] };
}

/** What happened to the status tag of one record; absent when tagging is off. `value` is in the tag's style. */
export type TagResult = { written: true; value: TagValue } | { written: false; value: TagValue; problem: string };
