/**
 * Amazon S3 Inventory reports as a list of objects, for `bucketscan rescan
 * --inventory`: a bucket of tens of millions of objects is read from its daily
 * report instead of being listed a thousand keys per request.
 *
 * What is read, from the Amazon S3 User Guide ("Amazon S3 Inventory": "Inventory
 * manifest" and "Amazon S3 Inventory list"):
 * - manifest.json: sourceBucket, destinationBucket, fileFormat (CSV, ORC or
 *   Parquet), fileSchema (for CSV the column names in order: "Bucket, Key, Size,
 *   …"), and files: [{key, size, MD5checksum}], the data files in the destination
 *   bucket (the one that holds the manifest);
 * - CSV data files are gzip'd, one object (or version) per row, no header row,
 *   every field quoted. "When using the CSV file format, the key name is
 *   URL-encoded and must be decoded before you can use it": form encoding, as in
 *   event notifications (a space is "+", a plus "%2B"; Cloud Custodian's reader
 *   decodes it with unquote_plus), so it is decoded by the worker's own
 *   decodeEventKey. Parquet files (Snappy) hold the key as plain UTF-8.
 * - A report of all versions has VersionId, IsLatest and IsDeleteMarker: only the
 *   current version of a key that is not deleted is kept, as a listing would.
 *
 * Nothing is held whole: a CSV file streams from GetObject through MD5, gunzip and
 * the CSV parser, a page of rows at a time, with backpressure; a Parquet file is
 * read a row group at a time with ranged GETs (hyparquet), so memory is bounded by
 * the largest row group, not by the report.
 */
import { createHash } from 'node:crypto';
import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as z from '../shared/zod.ts';
import { decodeEventKey } from '../events/key.ts';
import type { ListedObject, ListingPage } from './listing.ts';
import { bucketNameProblem } from './s3-url.ts';

/** A manifest that cannot be used: a bad argument (exit 2), named in one line. */
export class InventoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InventoryError';
  }
}

export type InventoryFormat = 'CSV' | 'Parquet';

export interface InventoryFile {
  key: string;
  /** Bytes of the (compressed) file, as the manifest says. */
  size: number;
  md5: string;
}

export interface InventoryManifest {
  /** Where the manifest is; its data files are in the same bucket. */
  bucket: string;
  key: string;
  sourceBucket: string;
  format: InventoryFormat;
  /** The report's columns by their CSV names; for CSV in file order. */
  columns: string[];
  files: InventoryFile[];
  /** When S3 began the report (creationTimestamp). */
  createdAt: Date;
}

const manifestSchema = z.object({
  sourceBucket: z.string({ error: 'is required (the bucket the report lists)' }),
  destinationBucket: z.optional(z.string({ error: 'is required' })),
  fileFormat: z.string({ error: 'is required (CSV, ORC or Parquet)' }),
  fileSchema: z.string({ error: 'is required (the columns of the report)' }),
  creationTimestamp: z.optional(z.union([z.string(), z.number()], { error: 'must be milliseconds since 1970' })),
  files: z
    .array(
      z.object({
        key: z.string({ error: 'is required' }).check(z.minLength(1, 'is empty')),
        size: z.number({ error: 'must be a number of bytes' }).check(z.int(), z.nonnegative()),
        MD5checksum: z.string({ error: 'is required' }).check(z.regex(/^[0-9a-f]{32}$/i, 'must be 32 hex digits')),
      }),
      { error: 'must be a list of the data files' },
    )
    .check(z.minLength(1, 'lists no data files')),
});

/** The columns a row must have to become an event; the others are optional. */
const REQUIRED_COLUMNS = ['Bucket', 'Key', 'Size'] as const;

/** Parquet's snake_case names for the CSV columns used here. */
const PARQUET_COLUMNS: Record<string, string> = {
  Bucket: 'bucket',
  Key: 'key',
  VersionId: 'version_id',
  IsLatest: 'is_latest',
  IsDeleteMarker: 'is_delete_marker',
  Size: 'size',
  LastModifiedDate: 'last_modified_date',
  ETag: 'e_tag',
};

const where = (bucket: string, key: string) => `s3://${bucket}/${key}`;

/**
 * Reads and checks a manifest.json document. `location` is where it was read
 * from, for the messages and for finding its data files.
 */
export function parseManifest(text: string, location: { bucket: string; key: string }): InventoryManifest {
  const name = where(location.bucket, location.key);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new InventoryError(`${name} is not an inventory manifest: not valid JSON (${(error as Error).message.split('\n')[0]})`);
  }
  const parsed = manifestSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    const problem = issue?.code === 'invalid_type' && issue.input === undefined ? 'is required' : (issue?.message ?? 'is invalid');
    throw new InventoryError(`${name} is not an inventory manifest: ${field}${problem}`);
  }
  const manifest = parsed.data;
  const sourceProblem = bucketNameProblem(manifest.sourceBucket);
  if (sourceProblem) throw new InventoryError(`${name}: sourceBucket ${JSON.stringify(manifest.sourceBucket)}: ${sourceProblem}`);
  const format = manifest.fileFormat.trim().toUpperCase();
  if (format === 'ORC') {
    throw new InventoryError(`${name} is an ORC report, which rescan does not read: configure the inventory as CSV or Parquet`);
  }
  if (format !== 'CSV' && format !== 'PARQUET') {
    throw new InventoryError(`${name}: fileFormat ${JSON.stringify(manifest.fileFormat)} is not CSV, ORC or Parquet`);
  }
  let columns: string[];
  if (format === 'CSV') {
    columns = manifest.fileSchema.split(',').map((column) => column.trim());
  } else {
    // "message s3.inventory { required binary bucket (UTF8); … optional int64 size; … }"
    const fields = new Set([...manifest.fileSchema.matchAll(/\b(?:binary|int64|int32|boolean)\s+(\w+)/g)].map((match) => match[1]));
    columns = Object.keys(PARQUET_COLUMNS).filter((column) => fields.has(PARQUET_COLUMNS[column]));
  }
  const missing = REQUIRED_COLUMNS.filter((column) => !columns.includes(column));
  if (missing.length > 0) {
    throw new InventoryError(`${name}: the report has no ${missing.join(', ')} column (fileSchema "${manifest.fileSchema}")`);
  }
  const created = manifest.creationTimestamp === undefined ? Number.NaN : Number(manifest.creationTimestamp);
  return {
    bucket: location.bucket,
    key: location.key,
    sourceBucket: manifest.sourceBucket,
    format: format === 'CSV' ? 'CSV' : 'Parquet',
    columns,
    files: manifest.files.map((file) => ({ key: file.key, size: file.size, md5: file.MD5checksum.toLowerCase() })),
    createdAt: new Date(Number.isFinite(created) ? created : 0),
  };
}

/** Whether the report carries a column (by its CSV name), whatever its format. */
export function hasColumn(manifest: InventoryManifest, column: string): boolean {
  return manifest.columns.includes(column);
}

/** Manifests are small (a few KB per thousand data files); anything far larger is not one. */
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/** Reads the manifest at s3://bucket/key. S3 errors propagate (the command words them). */
export async function readManifest(
  s3: S3Client,
  location: { bucket: string; key: string },
  signal?: AbortSignal,
): Promise<InventoryManifest> {
  const response = await s3.send(
    new GetObjectCommand({ Bucket: location.bucket, Key: location.key }),
    signal ? { abortSignal: signal } : {},
  );
  if ((response.ContentLength ?? 0) > MAX_MANIFEST_BYTES) {
    (response.Body as Readable | undefined)?.destroy?.();
    throw new InventoryError(`${where(location.bucket, location.key)} is ${response.ContentLength} bytes: not an inventory manifest`);
  }
  const text = (await response.Body?.transformToString('utf8')) ?? '';
  return parseManifest(text, location);
}

/** One row of a report, its fields by CSV column name (Parquet values already typed). */
export type InventoryRow = Partial<Record<string, unknown>>;

/**
 * The row's current object; `undefined` for a row that names none (an old version,
 * a delete marker); an object with a `problem` for a row that cannot be used.
 * `encodedKeys`: the key is URL-encoded (CSV reports).
 */
export function rowObject(row: InventoryRow, sourceBucket: string, position: string, encodedKeys: boolean): ListedObject | undefined {
  if (isTrue(row['IsDeleteMarker'])) return undefined;
  if (row['IsLatest'] !== undefined && row['IsLatest'] !== '' && !isTrue(row['IsLatest'])) return undefined;
  const rawKey = row['Key'];
  const base = { position, size: 0, eTag: '', lastModified: new Date(0) };
  if (typeof rawKey !== 'string' || rawKey === '') return { ...base, key: '', problem: 'inventory row has no key' };
  const decoded = encodedKeys ? decodeEventKey(rawKey) : { ok: true as const, key: rawKey };
  if (!decoded.ok) return { ...base, key: rawKey, problem: decoded.reason };
  const key = decoded.key;
  if (row['Bucket'] !== sourceBucket) {
    return { ...base, key, problem: `inventory row names bucket ${JSON.stringify(row['Bucket'])}, not the report's ${sourceBucket}` };
  }
  const size = toNumber(row['Size']);
  if (size === undefined) return { ...base, key, problem: 'inventory row has no size' };
  const modified = toDate(row['LastModifiedDate']);
  const versionId = typeof row['VersionId'] === 'string' && row['VersionId'] !== '' ? row['VersionId'] : undefined;
  return {
    key,
    size,
    eTag: typeof row['ETag'] === 'string' ? row['ETag'] : '',
    ...(versionId ? { versionId } : {}),
    lastModified: modified ?? new Date(0),
    position,
  };
}

function isTrue(value: unknown): boolean {
  return value === true || (typeof value === 'string' && value.toLowerCase() === 'true');
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value === 'bigint') return value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
  if (typeof value === 'string' && /^\d+$/.test(value)) return toNumber(Number(value));
  return undefined;
}

function toDate(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  if (typeof value === 'bigint' || typeof value === 'number') return toDate(new Date(Number(value)));
  if (typeof value === 'string' && value !== '') return toDate(new Date(value));
  return undefined;
}

export interface InventoryReadOptions {
  /** Only keys under this prefix (decoded), like a listing's Prefix. */
  prefix: string;
  /** Rows of the report (all files, in manifest order) already handled: skipped without a look. */
  startAfterRow?: number;
  /** Rows per page. Default 1000, a listing's page. */
  pageSize?: number;
  signal?: AbortSignal;
}

/** A page of the report: the objects, and how far through the report (by compressed bytes) it is. */
export interface InventoryPage extends ListingPage {
  /** 0..1: the share of the report's bytes read so far. */
  fraction: number;
}

/**
 * The report's current objects under `prefix`, in the report's order, a page at
 * a time. Each object's `position` is its row number in the report (1-based,
 * over all files), which `startAfterRow` resumes after.
 */
export async function* readInventory(
  s3: S3Client,
  manifest: InventoryManifest,
  options: InventoryReadOptions,
): AsyncGenerator<InventoryPage> {
  const total = manifest.files.reduce((sum, file) => sum + file.size, 0) || 1;
  const pageSize = options.pageSize ?? 1000;
  const skipRows = options.startAfterRow ?? 0;
  let bytesBefore = 0;
  let row = 0;
  let page: ListedObject[] = [];
  let entries = 0;
  for (const file of manifest.files) {
    let fileBytes = 0;
    const read: FileRead = {
      s3,
      manifest,
      file,
      name: where(manifest.bucket, file.key),
      onBytes: (bytes) => {
        fileBytes = bytes;
      },
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const rows = manifest.format === 'CSV' ? csvRows(read) : parquetRows(read);
    for await (const fields of rows) {
      row += 1;
      if (row <= skipRows) continue;
      entries += 1;
      const object = rowObject(fields, manifest.sourceBucket, String(row), manifest.format === 'CSV');
      if (object?.key.startsWith(options.prefix)) page.push(object);
      if (entries >= pageSize) {
        yield { objects: page, entries, fraction: Math.min(1, (bytesBefore + fileBytes) / total) };
        page = [];
        entries = 0;
      }
    }
    bytesBefore += file.size;
  }
  yield { objects: page, entries, fraction: 1 };
}

/** Counts and hashes the compressed bytes on their way to gunzip. */
class Md5Meter extends Transform {
  readonly hash = createHash('md5');
  bytes = 0;
  readonly #onBytes: (bytes: number) => void;
  constructor(onBytes: (bytes: number) => void) {
    super();
    this.#onBytes = onBytes;
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.#onBytes(this.bytes);
    callback(null, chunk);
  }
}

/** One data file to read, and where to report the compressed bytes read so far. */
interface FileRead {
  s3: S3Client;
  manifest: InventoryManifest;
  file: InventoryFile;
  /** s3://bucket/key, for messages. */
  name: string;
  onBytes: (bytes: number) => void;
  signal?: AbortSignal;
}

async function* csvRows({ s3, manifest, file, name, onBytes, signal }: FileRead): AsyncGenerator<InventoryRow> {
  const { parse } = await import('csv-parse');
  const response = await s3.send(new GetObjectCommand({ Bucket: manifest.bucket, Key: file.key }), signal ? { abortSignal: signal } : {});
  if (response.ContentLength !== undefined && response.ContentLength !== file.size) {
    (response.Body as Readable | undefined)?.destroy?.();
    throw new Error(`inventory file ${name} is ${response.ContentLength} bytes, not the ${file.size} its manifest says`);
  }
  const body = response.Body as Readable;
  const meter = new Md5Meter(onBytes);
  const parser = parse({ skip_empty_lines: true });
  // An error anywhere in the chain destroys the parser with it, which ends the
  // iteration below with that error; leaving the loop early tears the chain down.
  pipeline(body, meter, createGunzip(), parser, () => undefined);
  const columns = manifest.columns;
  let line = 0;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      line += 1;
      if (record.length !== columns.length) {
        throw new Error(
          `inventory file ${name} row ${line} has ${record.length} fields, not the ${columns.length} of the manifest's fileSchema`,
        );
      }
      const fields: InventoryRow = {};
      for (const [index, column] of columns.entries()) fields[column] = record[index];
      yield fields;
    }
  } catch (error) {
    if ((error as { code?: unknown }).code === 'Z_DATA_ERROR' || (error as { code?: unknown }).code === 'Z_BUF_ERROR') {
      throw new Error(`inventory file ${name} is not gzip data, or is cut short (${(error as Error).message})`);
    }
    throw error;
  } finally {
    body.destroy();
  }
  const md5 = meter.hash.digest('hex');
  if (md5 !== file.md5) throw new Error(`inventory file ${name} does not match its MD5 in the manifest (${md5}, expected ${file.md5})`);
}

async function* parquetRows({ s3, manifest, file, name, onBytes, signal }: FileRead): AsyncGenerator<InventoryRow> {
  const { parquetMetadataAsync, parquetReadObjects } = await import('hyparquet');
  const buffer = {
    byteLength: file.size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const last = (end ?? file.size) - 1;
      const response = await s3.send(
        new GetObjectCommand({ Bucket: manifest.bucket, Key: file.key, Range: `bytes=${start}-${last}` }),
        signal ? { abortSignal: signal } : {},
      );
      const bytes = await response.Body!.transformToByteArray();
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new Error(`inventory file ${name} is not a Parquet file (${(error as Error).message})`);
  }
  const names = new Set(metadata.schema.map((element) => element.name));
  const wanted = Object.entries(PARQUET_COLUMNS).filter(([, parquet]) => names.has(parquet));
  let rowStart = 0;
  const rowsTotal = Number(metadata.num_rows) || 1;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const rows = await parquetReadObjects({
      file: buffer,
      metadata,
      columns: wanted.map(([, parquet]) => parquet),
      rowStart,
      rowEnd,
      rowFormat: 'object',
    });
    for (const values of rows) {
      const fields: InventoryRow = {};
      for (const [column, parquet] of wanted) fields[column] = values[parquet];
      yield fields;
    }
    rowStart = rowEnd;
    onBytes(Math.round((file.size * rowStart) / rowsTotal));
  }
}
