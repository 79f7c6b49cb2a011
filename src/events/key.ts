import { codePointName, utf8Bytes } from './text.ts';

/**
 * S3 writes object keys into event documents form-encoded: a space arrives as
 * `+`, a literal plus as `%2B`, and UTF-8 bytes as `%XX`. Decoding them any other
 * way finds the wrong object (or none).
 */
export function decodeEventKey(encoded: string): { ok: true; key: string } | { ok: false; reason: string } {
  try {
    return { ok: true, key: decodeURIComponent(encoded.replace(/\+/g, ' ')) };
  } catch {
    return { ok: false, reason: 'object key is not valid percent-encoded UTF-8' };
  }
}

/** S3's own limit: a longer key cannot exist, so an event naming one is forged. */
export const MAX_KEY_BYTES = 1024;

/**
 * How keys under a source's prefix must be laid out: `submission`, the
 * `<submission_guid>/<filename>` rule of the original design, or `any`, every key
 * S3 can hold.
 */
export const KEY_LAYOUTS = ['submission', 'any'] as const;
export type KeyLayout = (typeof KEY_LAYOUTS)[number];

// C0 controls and DEL: never part of an upload's name, and the stuff of log and
// terminal injection.
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Rules on the decoded key as text, before its layout: well-formed Unicode (S3
 * keys are UTF-8, so a lone surrogate names nothing), no control characters, at
 * most 1024 UTF-8 bytes. The key is never normalised: S3 keys are byte strings,
 * and NFC and NFD spellings of one name are two different objects.
 *
 * With the `any` layout control characters are accepted: S3 allows them in keys,
 * and refusing an event would leave its file unscanned (and, without the
 * fail-closed bucket policy, readable). Every place a key is written escapes them
 * (JSON logs and reports, percent-encoded requests).
 */
export function checkKeyText(key: string, layout: KeyLayout = 'submission'): { ok: true } | { ok: false; reason: string } {
  if (!key.isWellFormed()) return { ok: false, reason: 'object key is not well-formed Unicode (lone surrogate)' };
  const control = layout === 'submission' ? CONTROL.exec(key) : null;
  if (control) return { ok: false, reason: `object key contains a control character (${codePointName(control[0])})` };
  const bytes = utf8Bytes(key);
  if (bytes > MAX_KEY_BYTES) {
    return { ok: false, reason: `object key is ${bytes} bytes long; S3 keys are at most ${MAX_KEY_BYTES}` };
  }
  return { ok: true };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface SubmissionKey {
  submissionGuid: string;
  filename: string;
}

/** What a key's layout says about it: the submission GUID (null for the `any` layout) and the filename. */
export interface KeyParts {
  submissionGuid: string | null;
  /** The last segment of the key (empty for a key that ends in "/" under the `any` layout). */
  filename: string;
}

/** The layout uploads must follow: `<prefix><submission_guid>/<filename>`. */
export function parseSubmissionKey(key: string, prefix: string): { ok: true; value: SubmissionKey } | { ok: false; reason: string } {
  if (!key.startsWith(prefix)) {
    return { ok: false, reason: `object key is outside the unprocessed prefix "${prefix}"` };
  }
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return { ok: false, reason: 'object key has no "<submission_guid>/" folder' };
  const submissionGuid = rest.slice(0, slash);
  const filename = rest.slice(slash + 1);
  if (!UUID.test(submissionGuid)) return { ok: false, reason: 'object key folder is not a submission GUID (UUID)' };
  if (filename === '') return { ok: false, reason: 'object key has an empty filename' };
  if (filename.includes('/')) return { ok: false, reason: 'object key filename contains a slash (nested folders are not accepted)' };
  if (filename === '.' || filename === '..') return { ok: false, reason: `object key filename is "${filename}"` };
  return { ok: true, value: { submissionGuid, filename } };
}

/**
 * The key's layout under its source's prefix. `any` accepts every key under the
 * prefix, the prefix itself included (a zero-byte "folder" object is scanned too).
 */
export function parseKeyLayout(
  key: string,
  prefix: string,
  layout: KeyLayout,
): { ok: true; value: KeyParts } | { ok: false; reason: string } {
  if (layout === 'submission') return parseSubmissionKey(key, prefix);
  if (!key.startsWith(prefix)) return { ok: false, reason: `object key is outside the unprocessed prefix "${prefix}"` };
  return { ok: true, value: { submissionGuid: null, filename: key.slice(key.lastIndexOf('/') + 1) } };
}
