/** Test objects: random bytes, uploaded the way real clients upload them. */
import { randomFillSync, randomUUID } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

export const MIB = 1024 * 1024;
/** The emulator takes at most 11 MiB in one request; clients such as `aws s3 cp` use 8 MiB parts. */
export const PART_BYTES = 8 * MIB;
const PARTS_AT_ONCE = 4;

/** A key the worker accepts: `<uuid>/<filename>`. */
export function benchKey(filename: string): string {
  return `${randomUUID()}/${filename}`;
}

export function randomBuffer(bytes: number): Buffer {
  const buffer = Buffer.allocUnsafe(bytes);
  // randomFillSync takes at most 2^31-1 bytes at once.
  for (let offset = 0; offset < bytes; offset += 1 << 30) randomFillSync(buffer, offset, Math.min(1 << 30, bytes - offset));
  return buffer;
}

/**
 * Uploads `size` bytes in PART_BYTES parts (one PutObject when it fits in one).
 * `part(offset, length)` supplies the bytes, so a 1 GiB object need not be held
 * in memory whole.
 */
export async function uploadObject(
  s3: S3Client,
  bucket: string,
  key: string,
  size: number,
  part: (offset: number, length: number) => Buffer,
): Promise<void> {
  if (size <= PART_BYTES) {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: part(0, size) }));
    return;
  }
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const count = Math.ceil(size / PART_BYTES);
  const etags: string[] = new Array<string>(count);
  let next = 0;
  const uploader = async () => {
    for (let index = next++; index < count; index = next++) {
      const offset = index * PART_BYTES;
      const body = part(offset, Math.min(PART_BYTES, size - offset));
      const { ETag } = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: index + 1, Body: body }));
      etags[index] = ETag ?? '';
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARTS_AT_ONCE, count) }, uploader));
  await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
    }),
  );
}

/** Runs `task(i)` for i in [0, count) with at most `parallel` at once. */
export async function inParallel(count: number, parallel: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const runner = async () => {
    for (let index = next++; index < count; index = next++) await task(index);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, count)) }, runner));
}

/** A buffer as INSTREAM source chunks, without copying (64 KiB, the size S3 bodies arrive in). */
export async function* chunksOf(buffer: Buffer, chunkBytes = 64 * 1024): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < buffer.length; offset += chunkBytes) yield buffer.subarray(offset, offset + chunkBytes);
}
