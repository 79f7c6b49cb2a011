import type { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { ObjectState } from '../pipeline/decide.ts';
import { awsErrorInfo } from './errors.ts';

/** Identifies one version of one object: by VersionId where S3 gave one, else by ETag. */
export interface ObjectVersion {
  bucket: string;
  key: string;
  versionId: string | undefined;
  eTag: string | undefined;
}

export type OpenedObject = Exclude<ObjectState, { kind: 'found' }> | (Extract<ObjectState, { kind: 'found' }> & { body: Readable });

const quoted = (eTag: string) => `"${eTag}"`;
const unquoted = (eTag: string | undefined) => eTag?.replace(/^"+|"+$/g, '') || undefined;

/**
 * Opens the announced version for streaming. Pinning the GET (VersionId, or
 * If-Match on the ETag) is what makes "the version scanned is the version acted
 * on" true even when the key is overwritten meanwhile.
 */
export async function openObject(s3: S3Client, version: ObjectVersion, signal?: AbortSignal): Promise<OpenedObject> {
  try {
    const response = await s3.send(
      new GetObjectCommand({
        Bucket: version.bucket,
        Key: version.key,
        ...(version.versionId ? { VersionId: version.versionId } : version.eTag ? { IfMatch: quoted(version.eTag) } : {}),
      }),
      signal ? { abortSignal: signal } : {},
    );
    const body = response.Body as Readable | undefined;
    if (!body) throw new Error('GetObject returned no body');
    return {
      kind: 'found',
      body,
      size: response.ContentLength ?? 0,
      eTag: unquoted(response.ETag),
      versionId: response.VersionId && response.VersionId !== 'null' ? response.VersionId : undefined,
    };
  } catch (error) {
    const { status, code } = awsErrorInfo(error);
    if (status === 404 && (code === 'NoSuchKey' || code === 'NoSuchVersion' || code === 'NotFound')) return { kind: 'gone' };
    if (status === 412 || code === 'PreconditionFailed') return { kind: 'precondition-failed' };
    throw error;
  }
}

function copySource(version: ObjectVersion): string {
  // CopySource is "bucket/key" URL-encoded, with the version as a query parameter.
  const path = `${version.bucket}/${version.key.split('/').map(encodeURIComponent).join('/')}`;
  return version.versionId ? `${path}?versionId=${encodeURIComponent(version.versionId)}` : path;
}

/** Server-side copy: the file never passes through the worker. */
export async function copyObject(s3: S3Client, source: ObjectVersion, destination: { bucket: string; key: string }): Promise<void> {
  await s3.send(
    new CopyObjectCommand({
      Bucket: destination.bucket,
      Key: destination.key,
      CopySource: copySource(source),
      ...(!source.versionId && source.eTag ? { CopySourceIfMatch: quoted(source.eTag) } : {}),
      MetadataDirective: 'COPY',
    }),
  );
}

export async function putJson(s3: S3Client, bucket: string, key: string, document: unknown): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: `${JSON.stringify(document, null, 2)}\n`,
      ContentType: 'application/json',
    }),
  );
}

/**
 * In a versioned bucket a delete without VersionId only adds a delete marker and
 * the infected version survives; delete the scanned version itself.
 */
export async function deleteVersion(s3: S3Client, version: ObjectVersion): Promise<void> {
  await s3.send(
    new DeleteObjectCommand({
      Bucket: version.bucket,
      Key: version.key,
      ...(version.versionId ? { VersionId: version.versionId } : {}),
    }),
  );
}
