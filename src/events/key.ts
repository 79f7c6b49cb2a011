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

// C0 controls and DEL: never part of an upload's name, and the stuff of log and
// terminal injection.
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Rules on the decoded key as text, before its layout: well-formed Unicode (S3
 * keys are UTF-8, so a lone surrogate names nothing), no control characters, at
 * most 1024 UTF-8 bytes. The key is never normalised: S3 keys are byte strings,
 * and NFC and NFD spellings of one name are two different objects.
 */
export function checkKeyText(key: string): { ok: true } | { ok: false; reason: string } {
  if (!key.isWellFormed()) return { ok: false, reason: 'object key is not well-formed Unicode (lone surrogate)' };
  const control = CONTROL.exec(key);
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
