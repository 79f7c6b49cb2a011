/**
 * Bounded, unambiguous renderings of text that came from a message body. Reasons
 * and log fields carry keys, bucket names and event names chosen by whoever could
 * write to the queue; none of them may make a log line grow without bound.
 */

const utf8 = new TextEncoder();

export function utf8Bytes(text: string): number {
  return utf8.encode(text).length;
}

/**
 * The longest prefix of `text` that is at most `maxBytes` UTF-8 bytes, cut on a
 * code point boundary (never inside a surrogate pair).
 */
export function clipUtf8(text: string, maxBytes: number): { text: string; clipped: boolean; bytes: number } {
  const bytes = utf8Bytes(text);
  if (bytes <= maxBytes) return { text, clipped: false, bytes };
  let used = 0;
  let end = 0;
  for (const char of text) {
    const size = utf8Bytes(char);
    if (used + size > maxBytes) break;
    used += size;
    end += char.length;
  }
  return { text: text.slice(0, end), clipped: true, bytes };
}

/**
 * A value quoted for use inside a reason: JSON string syntax (so control
 * characters and lone surrogates show as escapes), shortened to `maxBytes` with
 * an ellipsis when longer.
 */
export function quoteValue(value: string, maxBytes = 100): string {
  const clipped = clipUtf8(value, maxBytes);
  return clipped.clipped ? `${JSON.stringify(clipped.text)}… (${clipped.bytes} bytes)` : JSON.stringify(value);
}

/** `U+000A` for a newline. */
export function codePointName(char: string): string {
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** S3 writes ETags quoted in headers and sometimes in events; bucketscan keeps them bare. */
export function unquoteETag(eTag: string | undefined): string | undefined {
  return eTag?.replace(/^"+|"+$/g, '') || undefined;
}
