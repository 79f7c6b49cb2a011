/**
 * The rule every set of sources keeps, whoever wrote it (a sources file, or the
 * deployment's construct, deploy/lib/bucketscan.ts): every key belongs to at most
 * one scanned area, and no quarantine area overlaps a scanned one.
 *
 * Self-contained on purpose (no imports): deploy/ imports it.
 */

/** A sources file that cannot be used; the message names the entry and the field. */
export class SourcesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourcesError';
  }
}

/** One scanned area and its quarantine area, as the rule needs them (a Source has these fields). */
export interface SourceArea {
  /** How messages name it: `sources[2] (bucket "uploads")`. */
  label: string;
  bucket: string;
  /** '' or ending in '/'. */
  prefix: string;
  quarantineBucket: string;
  quarantinePrefix: string;
}

function where(location: string, bucketName: string, folder: string): string {
  return `${location} s3://${bucketName}/${folder}`;
}

/** Two folders of one bucket overlap when one contains the other ('' contains everything). */
function overlaps(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

/**
 * Scanned areas must not overlap (every key belongs to at most one source), and
 * no quarantine area may overlap a scanned one: a quarantined file would be
 * scanned again, and a report would land where uploads are judged.
 */
export function checkAreas(sources: readonly SourceArea[]): void {
  for (const [i, source] of sources.entries()) {
    for (const other of sources.slice(0, i)) {
      if (source.bucket !== other.bucket) continue;
      if (source.prefix === other.prefix) {
        throw new SourcesError(
          `${source.label}.bucket: ${where('', source.bucket, source.prefix).trim()} is already scanned by ${other.label}`,
        );
      }
      if (overlaps(source.prefix, other.prefix)) {
        throw new SourcesError(
          `${source.label}.prefix: ${JSON.stringify(source.prefix)} overlaps ${other.label}'s prefix ${JSON.stringify(other.prefix)} in the same bucket`,
        );
      }
    }
  }
  for (const source of sources) {
    for (const scanned of sources) {
      if (source.quarantineBucket !== scanned.bucket || !overlaps(source.quarantinePrefix, scanned.prefix)) continue;
      const quarantine = where('the quarantine area', source.quarantineBucket, source.quarantinePrefix);
      const area = where(`the area ${scanned === source ? 'it' : scanned.label} scans,`, scanned.bucket, scanned.prefix);
      throw new SourcesError(`${source.label}.quarantinePrefix: ${quarantine} overlaps ${area}`);
    }
  }
}
