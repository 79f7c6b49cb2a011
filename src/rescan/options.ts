/**
 * The pure parts of `bucketscan rescan`'s command line: --since, --rate, and the
 * scanned area a URL lies in (the s3:// URL is read by src/aws/s3-url.ts, as
 * `scan` reads its own). Each returns a reason instead of throwing, so the command turns it
 * into its one-line usage error.
 */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

// Calendar date, optionally with a time; a time without a zone is taken as UTC.
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * --since: an ISO 8601 date (`2026-03-01`, midnight UTC) or date and time
 * (`2026-03-01T12:00:00Z`, `2026-03-01T12:00+02:00`; no zone means UTC), or an
 * age relative to `now`: `90m`, `24h`, `7d`, `2w`.
 */
export function parseSince(text: string, now: Date): Parsed<Date> {
  const value = text.trim();
  const relative = /^(\d+)\s*([smhdw])$/i.exec(value);
  if (relative) {
    const unit = relative[2]!.toLowerCase() as keyof typeof UNIT_MS;
    return { ok: true, value: new Date(now.getTime() - Number(relative[1]) * UNIT_MS[unit]) };
  }
  const iso = ISO.exec(value);
  if (!iso) {
    return {
      ok: false,
      reason: `--since ${JSON.stringify(text)} is neither an ISO 8601 time (2026-03-01, 2026-03-01T12:00:00Z) nor an age (90m, 24h, 7d, 2w)`,
    };
  }
  const [, year, month, day, hour = '00', minute = '00', second = '00', fraction = '', zone = 'Z'] = iso;
  const normalisedZone = zone.toUpperCase() === 'Z' ? 'Z' : zone.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
  const stamp = `${year}-${month}-${day}T${hour}:${minute}:${second}${fraction.slice(0, 4)}${normalisedZone}`;
  const date = new Date(stamp);
  // Date accepts 2026-02-31 as March 3rd; a calendar check catches such typos.
  const check = new Date(`${year}-${month}-${day}T00:00:00Z`);
  if (
    Number.isNaN(date.getTime()) ||
    check.getUTCFullYear() !== Number(year) ||
    check.getUTCMonth() + 1 !== Number(month) ||
    check.getUTCDate() !== Number(day) ||
    Number(hour) > 23 ||
    Number(minute) > 59 ||
    Number(second) > 59
  ) {
    return { ok: false, reason: `--since ${JSON.stringify(text)} is not a real date and time` };
  }
  if (date.getTime() > now.getTime()) {
    return { ok: false, reason: `--since ${date.toISOString()} is in the future: no object was modified since then` };
  }
  return { ok: true, value: date };
}

/** SendMessageBatch throughput is far above this; a higher --rate is a typo. */
export const MAX_RATE = 10_000;

/** --rate: messages per second, a positive number (fractions allowed: 0.5 is one every 2 s). */
export function parseRate(text: string): Parsed<number> {
  const value = text.trim().replace(/\/s$/, '');
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0 || Number(value) > MAX_RATE) {
    return {
      ok: false,
      reason: `--rate must be a number of messages per second above 0 and at most ${MAX_RATE}, got ${JSON.stringify(text)}`,
    };
  }
  return { ok: true, value: Number(value) };
}

/** One source's scanned area, as rescan sees it (src/config/sources.ts's Source has these fields). */
export interface ScannedArea {
  /** How messages name it: `sources[2] (bucket "uploads")`, or UNPROCESSED_BUCKET_NAME. */
  label: string;
  bucket: string;
  /** '' or ending in '/'. */
  prefix: string;
  /** Its quarantine area ('' bucket: none, when QUARANTINE_BUCKET_NAME is not set for a command). */
  quarantine: { bucket: string; prefix: string };
}

/** Where the areas come from: a sources file (`SOURCES_FILE (<path>)`, or `SOURCES`), or the single-bucket variables. */
export type AreasOrigin = { file: string } | { file?: undefined };

export interface ResolvedArea<A extends ScannedArea> {
  area: A;
  /** What to list: the URL's prefix, narrowed to the area's when wider. */
  prefix: string;
  /** Quarantine areas inside the listing, never rescanned. */
  quarantinePrefixes: string[];
}

const overlaps = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);

/** The quarantine area `prefix` of `bucket` is in, if any: never rescanned. */
export function quarantineProblem(areas: readonly ScannedArea[], origin: AreasOrigin, bucket: string, prefix: string): string | undefined {
  for (const area of areas) {
    if (area.quarantine.bucket !== bucket || !prefix.startsWith(area.quarantine.prefix)) continue;
    const named =
      origin.file === undefined ? `(QUARANTINE_BUCKET_NAME${area.quarantine.prefix ? ', QUARANTINE_PREFIX' : ''})` : `of ${area.label}`;
    return `s3://${bucket}/${area.quarantine.prefix} is the quarantine area ${named}: it is never rescanned`;
  }
  return undefined;
}

/**
 * The one scanned area s3://bucket/prefix lies in (or contains), and what to list
 * there; or why there is none: the quarantine, a bucket no source names, a prefix
 * outside every area, or one spanning several (rescan each on its own).
 */
export function resolveArea<A extends ScannedArea>(
  areas: readonly A[],
  origin: AreasOrigin,
  bucket: string,
  prefix: string,
): Parsed<ResolvedArea<A>> {
  const quarantined = quarantineProblem(areas, origin, bucket, prefix);
  if (quarantined) return { ok: false, reason: quarantined };
  const inBucket = areas.filter((area) => area.bucket === bucket);
  if (inBucket.length === 0) {
    const reason =
      origin.file === undefined
        ? `bucket "${bucket}" is not the unprocessed bucket "${areas[0]?.bucket ?? ''}" (UNPROCESSED_BUCKET_NAME): the worker would reject its events`
        : `bucket "${bucket}" is in no source of ${origin.file}: the worker would reject its events`;
    return { ok: false, reason };
  }
  const matching = inBucket.filter((area) => overlaps(prefix, area.prefix));
  if (matching.length === 0) {
    const reason =
      origin.file === undefined
        ? `prefix ${JSON.stringify(prefix)} is outside UNPROCESSED_PREFIX ${JSON.stringify(inBucket[0]!.prefix)}: the worker would reject every key under it`
        : `prefix ${JSON.stringify(prefix)} is outside every source of bucket "${bucket}" (${inBucket.map((a) => `${a.label}: ${JSON.stringify(a.prefix)}`).join(', ')}): the worker would reject every key under it`;
    return { ok: false, reason };
  }
  if (matching.length > 1) {
    return {
      ok: false,
      reason: `s3://${bucket}/${prefix} spans ${matching.length} sources (${matching.map((a) => a.label).join(', ')}): rescan each on its own, e.g. s3://${bucket}/${matching[0]!.prefix}`,
    };
  }
  const area = matching[0]!;
  const listed = prefix.startsWith(area.prefix) ? prefix : area.prefix;
  const quarantinePrefixes = areas
    .filter((other) => other.quarantine.bucket === bucket && overlaps(other.quarantine.prefix, listed))
    .map((other) => other.quarantine.prefix);
  return { ok: true, value: { area, prefix: listed, quarantinePrefixes } };
}

/** A word the shell passes through unchanged, for the printed resume command. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
