/**
 * The S3 calls of src/aws/objects.ts bound to one client, in the shape the
 * pipeline takes them (its ObjectStore, src/pipeline/deps.ts).
 */
import type { S3Client, Tag } from '@aws-sdk/client-s3';
import {
  copyObject,
  deleteVersion,
  getJson,
  getTags,
  headMetadata,
  openObject,
  putJson,
  putTags,
  replaceMetadata,
  type CopyOptions,
  type ObjectVersion,
} from './objects.ts';

export function s3ObjectStore(s3: S3Client) {
  return {
    open: (version: ObjectVersion, signal?: AbortSignal) => openObject(s3, version, signal),
    getTags: (version: ObjectVersion, signal?: AbortSignal) => getTags(s3, version, signal),
    putTags: (version: ObjectVersion, tags: Tag[]) => putTags(s3, version, tags),
    copy: (source: ObjectVersion, destination: { bucket: string; key: string }, options: CopyOptions) =>
      copyObject(s3, source, destination, options),
    putJson: (bucket: string, key: string, document: unknown, metadata?: Record<string, string>) =>
      putJson(s3, bucket, key, document, metadata),
    getJson: (bucket: string, key: string) => getJson(s3, bucket, key),
    headMetadata: (bucket: string, key: string) => headMetadata(s3, bucket, key),
    replaceMetadata: (bucket: string, key: string, metadata: Record<string, string>, contentType: string) =>
      replaceMetadata(s3, bucket, key, metadata, contentType),
    deleteVersion: (version: ObjectVersion) => deleteVersion(s3, version),
  };
}
