/**
 * Where a detection set is published: a folder of the fleet's definitions mirror
 * (`s3://<mirror>/custom/`), which every clamd reads with freshclam's
 * `DatabaseCustomURL`, or a directory on this machine, which the local stack's
 * clamd loads. Both hold the same files, written the same way.
 */
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { awsErrorInfo, isNotFound, isPreconditionFailed } from '../aws/errors.ts';
import { parseS3Url } from '../aws/s3-url.ts';

export interface SetTarget {
  /** How people name it: s3://bucket/prefix/ or the directory's absolute path. */
  readonly location: string;
  readonly kind: 's3' | 'directory';
  /** A file's text; undefined when there is none. */
  read(name: string): Promise<string | undefined>;
  /** Writes a file, replacing what is there. */
  write(name: string, text: string): Promise<void>;
  /** Writes a file only when there is none yet: false when there is (someone else wrote it first). */
  create(name: string, text: string): Promise<boolean>;
}

export type TargetLocation = { kind: 's3'; bucket: string; prefix: string } | { kind: 'directory'; path: string };

/** An s3:// URL (a folder: a trailing "/" is added) or a directory path; or why it is neither. */
export function parseTargetLocation(text: string): { ok: true; value: TargetLocation } | { ok: false; reason: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, reason: 'is empty' };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) && !trimmed.startsWith('s3://')) {
    return { ok: false, reason: `${JSON.stringify(trimmed)} is neither an s3:// URL nor a directory` };
  }
  if (!trimmed.startsWith('s3://')) return { ok: true, value: { kind: 'directory', path: resolve(trimmed) } };
  const parsed = parseS3Url(trimmed, 'prefix');
  if (!parsed.ok) return { ok: false, reason: parsed.reason };
  const { bucket, key } = parsed.value;
  return { ok: true, value: { kind: 's3', bucket, prefix: key === '' || key.endsWith('/') ? key : `${key}/` } };
}

export function directoryTarget(path: string): SetTarget {
  const root = resolve(path);
  const at = (name: string) => join(root, name);
  return {
    location: root,
    kind: 'directory',
    async read(name) {
      try {
        return await readFile(at(name), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async write(name, text) {
      // Renamed into place: clamd, reloading at any moment, sees the old file or the new, never half of one.
      await mkdir(dirname(at(name)), { recursive: true });
      const temporary = `${at(name)}.${process.pid}.tmp`;
      await writeFile(temporary, text);
      await rename(temporary, at(name));
    },
    async create(name, text) {
      await mkdir(dirname(at(name)), { recursive: true });
      try {
        const handle = await open(at(name), 'wx');
        try {
          await handle.writeFile(text);
        } finally {
          await handle.close();
        }
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw error;
      }
    },
  };
}

function contentType(name: string): string {
  return name.endsWith('.json') ? 'application/json' : 'text/plain; charset=utf-8';
}

export function s3Target(s3: S3Client, bucket: string, prefix: string): SetTarget {
  const key = (name: string) => `${prefix}${name}`;
  return {
    location: `s3://${bucket}/${prefix}`,
    kind: 's3',
    async read(name) {
      try {
        const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key(name) }));
        return await response.Body!.transformToString('utf8');
      } catch (error) {
        // A missing bucket is a mistake to report, not an empty set.
        if (isNotFound(error) && awsErrorInfo(error).code !== 'NoSuchBucket') return undefined;
        throw error;
      }
    },
    async write(name, text) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key(name), Body: text, ContentType: contentType(name) }));
    },
    async create(name, text) {
      try {
        // S3's conditional write: refused (412) when the key exists.
        await s3.send(
          new PutObjectCommand({ Bucket: bucket, Key: key(name), Body: text, ContentType: contentType(name), IfNoneMatch: '*' }),
        );
        return true;
      } catch (error) {
        // 409: another conditional write to the same key was in progress.
        if (isPreconditionFailed(error) || awsErrorInfo(error).code === 'ConditionalRequestConflict') return false;
        throw error;
      }
    },
  };
}
