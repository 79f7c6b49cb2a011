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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface SubmissionKey {
  submissionGuid: string;
  filename: string;
}

/** The layout uploads must follow: `<prefix><submission_guid>/<filename>`. */
export function parseSubmissionKey(
  key: string,
  prefix: string,
): { ok: true; value: SubmissionKey } | { ok: false; reason: string } {
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
  return { ok: true, value: { submissionGuid, filename } };
}
