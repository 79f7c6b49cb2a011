// Generated S3 Inventory reports, written into a bucket the way S3 writes them
// (Amazon S3 User Guide, "Amazon S3 Inventory"): data files under
// <prefix>/<source>/<config>/data/, a manifest.json naming them with their size and
// MD5, CSV gzip'd with every field quoted and keys URL-encoded (quote_plus: a space
// is "+", "/" is %2F), or Parquet with Snappy. Built here, not by src/, so the
// reader is checked against an encoder of its own.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

export interface InventoryEntry {
  key: string;
  size: number;
  eTag?: string;
  versionId?: string;
  /** A report of all versions: false for an older version. Default true. */
  isLatest?: boolean;
  isDeleteMarker?: boolean;
  lastModified?: Date;
  /** The row's Bucket column; default the source bucket. */
  bucket?: string;
}

export interface InventoryOptions {
  /** Where the report goes (the destination bucket), and under which prefix. */
  bucket: string;
  prefix: string;
  sourceBucket: string;
  format: 'CSV' | 'Parquet' | 'ORC';
  /** A report of all versions (VersionId, IsLatest, IsDeleteMarker columns). */
  versions: boolean;
  /** Leave out LastModifiedDate. */
  withoutLastModified?: boolean;
  /** The rows of each data file. */
  files: InventoryEntry[][];
  /** Parquet: rows per row group. */
  rowGroupSize?: number;
  /** Write a wrong MD5 for this data file (index) into the manifest. */
  badMd5For?: number;
}

/** Python's quote_plus: what S3 Inventory's CSV keys look like. */
export function quotePlus(key: string): string {
  return encodeURIComponent(key)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

const csvField = (value: string) => `"${value.replace(/"/g, '""')}"`;

function columnsOf(options: InventoryOptions): string[] {
  const columns = ['Bucket', 'Key'];
  if (options.versions) columns.push('VersionId', 'IsLatest', 'IsDeleteMarker');
  columns.push('Size');
  if (!options.withoutLastModified) columns.push('LastModifiedDate');
  columns.push('ETag', 'StorageClass');
  return columns;
}

function csvFile(options: InventoryOptions, rows: InventoryEntry[]): Buffer {
  const columns = columnsOf(options);
  const lines = rows.map((row) => {
    const values: Record<string, string> = {
      Bucket: row.bucket ?? options.sourceBucket,
      Key: quotePlus(row.key),
      VersionId: row.versionId ?? '',
      IsLatest: String(row.isLatest ?? true),
      IsDeleteMarker: String(row.isDeleteMarker ?? false),
      Size: row.isDeleteMarker ? '' : String(row.size),
      LastModifiedDate: (row.lastModified ?? new Date('2026-11-30T10:00:00Z')).toISOString(),
      ETag: row.isDeleteMarker ? '' : (row.eTag ?? ''),
      StorageClass: 'STANDARD',
    };
    return columns.map((column) => csvField(values[column] ?? '')).join(',');
  });
  return gzipSync(`${lines.join('\n')}\n`);
}

async function parquetFile(options: InventoryOptions, rows: InventoryEntry[]): Promise<Buffer> {
  const { parquetWriteBuffer } = await import('hyparquet-writer');
  const columnData = [
    { name: 'bucket', data: rows.map((row) => row.bucket ?? options.sourceBucket), type: 'STRING' as const },
    { name: 'key', data: rows.map((row) => row.key), type: 'STRING' as const },
    ...(options.versions
      ? [
          { name: 'version_id', data: rows.map((row) => row.versionId ?? null), type: 'STRING' as const },
          { name: 'is_latest', data: rows.map((row) => row.isLatest ?? true), type: 'BOOLEAN' as const },
          { name: 'is_delete_marker', data: rows.map((row) => row.isDeleteMarker ?? false), type: 'BOOLEAN' as const },
        ]
      : []),
    { name: 'size', data: rows.map((row) => (row.isDeleteMarker ? null : BigInt(row.size))), type: 'INT64' as const },
    ...(options.withoutLastModified
      ? []
      : [
          {
            name: 'last_modified_date',
            data: rows.map((row) => row.lastModified ?? new Date('2026-11-30T10:00:00Z')),
            type: 'TIMESTAMP' as const,
          },
        ]),
    { name: 'e_tag', data: rows.map((row) => (row.isDeleteMarker ? null : (row.eTag ?? ''))), type: 'STRING' as const },
  ];
  const buffer = parquetWriteBuffer({ columnData, rowGroupSize: options.rowGroupSize ?? 1000 });
  return Buffer.from(buffer);
}

function parquetSchemaText(options: InventoryOptions): string {
  const fields = ['required binary bucket (UTF8);', 'required binary key (UTF8);'];
  if (options.versions)
    fields.push('optional binary version_id (UTF8);', 'optional boolean is_latest;', 'optional boolean is_delete_marker;');
  fields.push('optional int64 size;');
  if (!options.withoutLastModified) fields.push('optional int64 last_modified_date (TIMESTAMP_MILLIS);');
  fields.push('optional binary e_tag (UTF8);');
  return `message s3.inventory { ${fields.join(' ')} }`;
}

/** Writes the report's data files and manifest.json; returns the manifest's key. */
export async function putInventory(s3: S3Client, options: InventoryOptions): Promise<string> {
  const base = `${options.prefix}${options.sourceBucket}/daily`;
  const stamp = '2026-12-05T01-00Z';
  const files: Array<{ key: string; size: number; MD5checksum: string }> = [];
  for (const [index, rows] of options.files.entries()) {
    const extension = options.format === 'CSV' ? 'csv.gz' : options.format === 'Parquet' ? 'parquet' : 'orc';
    const body = options.format === 'Parquet' ? await parquetFile(options, rows) : csvFile(options, rows);
    const key = `${base}/data/${index}-${stamp}.${extension}`;
    await s3.send(new PutObjectCommand({ Bucket: options.bucket, Key: key, Body: body }));
    const md5 = createHash('md5').update(body).digest('hex');
    files.push({
      key,
      size: body.length,
      MD5checksum: index === options.badMd5For ? md5.replace(/^./, (c) => (c === '0' ? '1' : '0')) : md5,
    });
  }
  const manifest = {
    sourceBucket: options.sourceBucket,
    destinationBucket: `arn:aws:s3:::${options.bucket}`,
    version: '2016-11-30',
    creationTimestamp: String(Date.parse('2026-12-05T01:00:00Z')),
    fileFormat: options.format,
    fileSchema: options.format === 'Parquet' ? parquetSchemaText(options) : columnsOf(options).join(', '),
    files,
  };
  const manifestKey = `${base}/${stamp}/manifest.json`;
  await s3.send(new PutObjectCommand({ Bucket: options.bucket, Key: manifestKey, Body: JSON.stringify(manifest, null, 2) }));
  return manifestKey;
}
