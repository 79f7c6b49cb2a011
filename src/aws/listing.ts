import { GetBucketVersioningCommand, ListObjectVersionsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

/** One current object version as a listing reports it. */
export interface ListedObject {
  key: string;
  size: number;
  /** As S3 lists it (quoted or not). */
  eTag: string;
  /** Absent for an unversioned bucket; "null" for a version written while versioning was off. */
  versionId?: string;
  lastModified: Date;
  /**
   * Where a resumed run picks up after this object: the key for a listing (the
   * default), the row number for an inventory report (src/aws/inventory.ts).
   */
  position?: string;
  /** Why this entry cannot be queued (an inventory row that cannot be read); it is skipped with this reason. */
  problem?: string;
}

const options = (signal?: AbortSignal) => (signal ? { abortSignal: signal } : {});

/**
 * Whether the bucket has ever had versioning on. Also the first request to the
 * bucket, so a missing bucket fails here (NoSuchBucket) before any other work.
 */
export async function isVersioned(s3: S3Client, bucket: string, signal?: AbortSignal): Promise<boolean> {
  const response = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }), options(signal));
  // Never enabled: no Status at all. Suspended buckets still hold real versions.
  return response.Status === 'Enabled' || response.Status === 'Suspended';
}

export interface ListingOptions {
  bucket: string;
  prefix: string;
  /** Keys up to and including this one are left out (resuming). */
  startAfter?: string;
  /**
   * Versioned buckets are listed with ListObjectVersions: its current versions
   * (IsLatest) carry their VersionId, which ListObjectsV2 does not give, and one
   * listing request covers up to 1000 versions where a HEAD per object would be a
   * request per object.
   */
  versioned: boolean;
  signal?: AbortSignal;
}

export interface ListingPage {
  objects: ListedObject[];
  /** Entries S3 returned, current or not, for progress on buckets full of old versions. */
  entries: number;
}

/** The current version of every object under the prefix, in key order, one page (≤ 1000 entries) at a time. */
export async function* listCurrentObjects(s3: S3Client, listing: ListingOptions): AsyncGenerator<ListingPage> {
  if (listing.versioned) {
    yield* listVersions(s3, listing);
    return;
  }
  let continuationToken: string | undefined;
  do {
    const response = await s3.send(
      new ListObjectsV2Command({
        Bucket: listing.bucket,
        Prefix: listing.prefix || undefined,
        MaxKeys: 1000,
        ...(continuationToken ? { ContinuationToken: continuationToken } : listing.startAfter ? { StartAfter: listing.startAfter } : {}),
      }),
      options(listing.signal),
    );
    const contents = response.Contents ?? [];
    const objects: ListedObject[] = [];
    for (const item of contents) {
      if (item.Key === undefined) continue;
      objects.push({
        key: item.Key,
        size: item.Size ?? 0,
        eTag: item.ETag ?? '',
        lastModified: item.LastModified ?? new Date(0),
      });
    }
    yield { objects, entries: contents.length };
    continuationToken = response.IsTruncated ? response.NextContinuationToken : undefined;
  } while (continuationToken);
}

async function* listVersions(s3: S3Client, listing: ListingOptions): AsyncGenerator<ListingPage> {
  let keyMarker = listing.startAfter;
  let versionIdMarker: string | undefined;
  for (;;) {
    const response = await s3.send(
      new ListObjectVersionsCommand({
        Bucket: listing.bucket,
        Prefix: listing.prefix || undefined,
        MaxKeys: 1000,
        // KeyMarker alone starts after that key's last version, which is what
        // --start-after means.
        ...(keyMarker !== undefined ? { KeyMarker: keyMarker } : {}),
        ...(versionIdMarker !== undefined ? { VersionIdMarker: versionIdMarker } : {}),
      }),
      options(listing.signal),
    );
    const versions = response.Versions ?? [];
    const objects: ListedObject[] = [];
    // A key whose latest entry is a delete marker has no current version: it is not
    // listed here (delete markers come in DeleteMarkers, and its versions have IsLatest false).
    for (const version of versions) {
      if (version.IsLatest !== true || version.Key === undefined) continue;
      objects.push({
        key: version.Key,
        size: version.Size ?? 0,
        eTag: version.ETag ?? '',
        ...(version.VersionId ? { versionId: version.VersionId } : {}),
        lastModified: version.LastModified ?? new Date(0),
      });
    }
    yield { objects, entries: versions.length + (response.DeleteMarkers?.length ?? 0) };
    if (!response.IsTruncated) return;
    keyMarker = response.NextKeyMarker;
    versionIdMarker = response.NextVersionIdMarker;
    if (keyMarker === undefined) return;
  }
}
