import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  PutObjectTaggingCommand,
  type Tag,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCopyCommand,
  type GetObjectCommandOutput,
  type S3Client,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { unquoteETag } from '../events/text.ts';
import type { Body } from '../shared/lending.ts';
import { isInvalidVersion, isNotFound, isObjectGone, isPreconditionFailed } from './errors.ts';
import { DirectUnsupported, directS3 } from './s3-direct.ts';

/** Identifies one version of one object: by VersionId where S3 gave one, else by ETag. */
export interface ObjectVersion {
  bucket: string;
  key: string;
  versionId: string | undefined;
  eTag: string | undefined;
}

/** What S3 said when the scanned version was opened. */
export type ObjectState =
  | { kind: 'gone' }
  | { kind: 'precondition-failed' }
  | { kind: 'found'; size: number; eTag: string | undefined; versionId: string | undefined };

/**
 * What a copy must carry over by hand: a multipart copy starts a new object, and
 * no copy keeps a customer's KMS key unless it is named again.
 */
export interface ObjectAttributes {
  contentType: string | undefined;
  metadata: Record<string, string> | undefined;
  serverSideEncryption: ServerSideEncryption | undefined;
  kmsKeyId: string | undefined;
  bucketKeyEnabled: boolean | undefined;
}

export type OpenedObject =
  | Exclude<ObjectState, { kind: 'found' }>
  | (Extract<ObjectState, { kind: 'found' }> & {
      body: Body;
      attributes: ObjectAttributes;
      /** x-amz-tagging-count: when 0, the tag set is known to be empty without asking. */
      tagCount: number;
    });

function attributesOf(
  response: Pick<GetObjectCommandOutput, 'ContentType' | 'Metadata' | 'SSEKMSKeyId' | 'BucketKeyEnabled'> & {
    ServerSideEncryption?: string | undefined;
  },
): ObjectAttributes {
  return {
    contentType: response.ContentType,
    metadata: response.Metadata,
    serverSideEncryption: response.ServerSideEncryption as ServerSideEncryption | undefined,
    kmsKeyId: response.SSEKMSKeyId,
    bucketKeyEnabled: response.BucketKeyEnabled,
  };
}

const quoted = (eTag: string) => `"${eTag}"`;

/**
 * Opens the announced version for streaming. Pinning the GET (VersionId, or
 * If-Match on the ETag) is what makes "the version scanned is the version acted
 * on" true even when the key is overwritten meanwhile.
 */
export async function openObject(s3: S3Client, version: ObjectVersion, signal?: AbortSignal): Promise<OpenedObject> {
  const input = {
    Bucket: version.bucket,
    Key: version.key,
    ...(version.versionId ? { VersionId: version.versionId } : version.eTag ? { IfMatch: quoted(version.eTag) } : {}),
  };
  try {
    // The direct path (src/aws/s3-direct.ts) where it applies, the SDK's command otherwise.
    const response = await directS3(s3)
      .getObject(input, signal)
      .catch(async (error: unknown) => {
        if (!(error instanceof DirectUnsupported)) throw error;
        return s3.send(new GetObjectCommand(input), signal ? { abortSignal: signal } : {});
      });
    const body = response.Body as Body | undefined;
    if (!body) throw new Error('GetObject returned no body');
    return {
      kind: 'found',
      body,
      size: response.ContentLength ?? 0,
      eTag: unquoteETag(response.ETag),
      versionId: response.VersionId && response.VersionId !== 'null' ? response.VersionId : undefined,
      attributes: attributesOf(response),
      tagCount: response.TagCount ?? 0,
    };
  } catch (error) {
    if (isObjectGone(error) || (isInvalidVersion(error) && version.versionId)) return { kind: 'gone' };
    if (isPreconditionFailed(error)) return { kind: 'precondition-failed' };
    throw error;
  }
}

function copySource(version: ObjectVersion): string {
  // CopySource is "bucket/key" URL-encoded, with the version as a query parameter.
  const path = `${version.bucket}/${version.key.split('/').map(encodeURIComponent).join('/')}`;
  return version.versionId ? `${path}?versionId=${encodeURIComponent(version.versionId)}` : path;
}

/** S3 copies at most 5 GiB in one CopyObject; anything larger goes part by part. */
export const SINGLE_COPY_LIMIT = 5 * 1024 ** 3;
const MIN_PART = 5 * 1024 ** 2;
const MAX_PARTS = 10_000;

export interface CopyOptions {
  size: number;
  attributes?: ObjectAttributes;
  /** The copy's whole tag set (the source's are not carried over when this is given). */
  tags?: Tag[];
  /** Objects above this many bytes are copied with UploadPartCopy (default: S3's single-copy limit). */
  multipartThreshold?: number;
}

function encryptionOf(attributes: ObjectAttributes | undefined) {
  // SSE-S3 and unencrypted sources follow the destination bucket's default; a KMS
  // key is named again so the quarantined copy stays under the same key.
  if (attributes?.serverSideEncryption !== 'aws:kms' && attributes?.serverSideEncryption !== 'aws:kms:dsse') return {};
  return {
    ServerSideEncryption: attributes.serverSideEncryption,
    ...(attributes.kmsKeyId ? { SSEKMSKeyId: attributes.kmsKeyId } : {}),
    ...(attributes.bucketKeyEnabled !== undefined ? { BucketKeyEnabled: attributes.bucketKeyEnabled } : {}),
  };
}

/** Tags as the x-amz-tagging header carries them: URL query encoding. */
export function taggingHeader(tags: Tag[]): string {
  return new URLSearchParams(tags.map((tag): [string, string] => [tag.Key ?? '', tag.Value ?? ''])).toString();
}

/** The tag set of exactly this version. */
export async function getTags(s3: S3Client, version: ObjectVersion, signal?: AbortSignal): Promise<Tag[]> {
  const input = { Bucket: version.bucket, Key: version.key, ...(version.versionId ? { VersionId: version.versionId } : {}) };
  try {
    return await directS3(s3).getObjectTagging(input, signal);
  } catch (error) {
    if (!(error instanceof DirectUnsupported)) throw error;
  }
  const response = await s3.send(
    new GetObjectTaggingCommand({
      Bucket: version.bucket,
      Key: version.key,
      ...(version.versionId ? { VersionId: version.versionId } : {}),
    }),
    signal ? { abortSignal: signal } : {},
  );
  return response.TagSet ?? [];
}

/** Replaces the tag set of exactly this version (S3 has no per-tag write). */
export async function putTags(s3: S3Client, version: ObjectVersion, tags: Tag[]): Promise<void> {
  const input = {
    Bucket: version.bucket,
    Key: version.key,
    ...(version.versionId ? { VersionId: version.versionId } : {}),
  };
  try {
    await directS3(s3).putObjectTagging({ ...input, TagSet: tags });
  } catch (error) {
    if (!(error instanceof DirectUnsupported)) throw error;
    await s3.send(new PutObjectTaggingCommand({ ...input, Tagging: { TagSet: tags } }));
  }
}

/** The version a copy wrote (VersionId undefined in an unversioned bucket). */
export interface CopiedObject {
  versionId: string | undefined;
  eTag: string | undefined;
}

const copied = (versionId: string | undefined, eTag: string | undefined): CopiedObject => ({
  versionId: versionId && versionId !== 'null' ? versionId : undefined,
  eTag: unquoteETag(eTag),
});

/** Server-side copy: the file never passes through the worker. */
export async function copyObject(
  s3: S3Client,
  source: ObjectVersion,
  destination: { bucket: string; key: string },
  options: CopyOptions = { size: 0 },
): Promise<CopiedObject> {
  const threshold = options.multipartThreshold ?? SINGLE_COPY_LIMIT;
  if (options.size > threshold) {
    return multipartCopy(s3, source, destination, options, threshold);
  }
  const response = await s3.send(
    new CopyObjectCommand({
      Bucket: destination.bucket,
      Key: destination.key,
      CopySource: copySource(source),
      ...(!source.versionId && source.eTag ? { CopySourceIfMatch: quoted(source.eTag) } : {}),
      MetadataDirective: 'COPY',
      ...(options.tags ? { TaggingDirective: 'REPLACE', Tagging: taggingHeader(options.tags) } : {}),
      ...encryptionOf(options.attributes),
    }),
  );
  return copied(response.VersionId, response.CopyObjectResult?.ETag);
}

/** Part size: at least S3's 5 MiB minimum, few enough parts for S3's 10,000 limit. */
function copyPartSize(size: number, threshold: number): number {
  return Math.max(MIN_PART, Math.min(threshold, 1024 ** 3), Math.ceil(size / MAX_PARTS));
}

async function multipartCopy(
  s3: S3Client,
  source: ObjectVersion,
  destination: { bucket: string; key: string },
  options: CopyOptions,
  threshold: number,
): Promise<CopiedObject> {
  const { attributes } = options;
  const upload = await s3.send(
    new CreateMultipartUploadCommand({
      Bucket: destination.bucket,
      Key: destination.key,
      ...(attributes?.contentType ? { ContentType: attributes.contentType } : {}),
      ...(attributes?.metadata ? { Metadata: attributes.metadata } : {}),
      ...(options.tags ? { Tagging: taggingHeader(options.tags) } : {}),
      ...encryptionOf(attributes),
    }),
  );
  const uploadId = upload.UploadId;
  if (!uploadId) throw new Error('CreateMultipartUpload returned no UploadId');
  try {
    const partSize = copyPartSize(options.size, threshold);
    const parts: Array<{ PartNumber: number; ETag: string | undefined }> = [];
    for (let offset = 0, number = 1; offset < options.size; offset += partSize, number += 1) {
      const last = Math.min(offset + partSize, options.size) - 1;
      const part = await s3.send(
        new UploadPartCopyCommand({
          Bucket: destination.bucket,
          Key: destination.key,
          UploadId: uploadId,
          PartNumber: number,
          CopySource: copySource(source),
          CopySourceRange: `bytes=${offset}-${last}`,
          ...(!source.versionId && source.eTag ? { CopySourceIfMatch: quoted(source.eTag) } : {}),
        }),
      );
      parts.push({ PartNumber: number, ETag: part.CopyPartResult?.ETag });
    }
    const completed = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: destination.bucket,
        Key: destination.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    return copied(completed.VersionId, completed.ETag);
  } catch (error) {
    // An abandoned upload keeps its parts (and their storage cost) until a lifecycle rule removes them.
    await s3
      .send(new AbortMultipartUploadCommand({ Bucket: destination.bucket, Key: destination.key, UploadId: uploadId }))
      .catch(() => undefined);
    throw error;
  }
}

export async function putJson(
  s3: S3Client,
  bucket: string,
  key: string,
  document: unknown,
  metadata?: Record<string, string>,
): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: `${JSON.stringify(document, null, 2)}\n`,
      ContentType: 'application/json',
      ...(metadata ? { Metadata: metadata } : {}),
    }),
  );
}

export async function getJson(s3: S3Client, bucket: string, key: string): Promise<unknown> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await response.Body!.transformToString('utf8')) as unknown;
}

/** The user metadata of an object, or undefined when there is no such object. */
export async function headMetadata(s3: S3Client, bucket: string, key: string): Promise<Record<string, string> | undefined> {
  try {
    const response = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return response.Metadata ?? {};
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** Rewrites an object's user metadata in place (a copy onto itself); the body is unchanged. */
export async function replaceMetadata(
  s3: S3Client,
  bucket: string,
  key: string,
  metadata: Record<string, string>,
  contentType: string,
): Promise<void> {
  await s3.send(
    new CopyObjectCommand({
      Bucket: bucket,
      Key: key,
      CopySource: copySource({ bucket, key, versionId: undefined, eTag: undefined }),
      MetadataDirective: 'REPLACE',
      Metadata: metadata,
      ContentType: contentType,
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
