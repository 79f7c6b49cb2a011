/**
 * The direct S3 path (src/aws/s3-direct.ts) against the same real servers as the
 * SDK path: the emulator and moto_server, side by side with the SDK's answers,
 * and through the chaos suite's fault proxy for what a server will not do on
 * demand (5xx, throttling, a reset), plus a body whose checksum is wrong.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import {
  CreateBucketCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/aws/clients.ts';
import { getTags, openObject, putTags } from '../../src/aws/objects.ts';
import { directS3, DirectUnsupported, enableDirectS3 } from '../../src/aws/s3-direct.ts';
import { isObjectGone } from '../../src/aws/errors.ts';
import { createLogger } from '../../src/log/logger.ts';
import { DEFAULT_RESOURCES, startEmulator, type Emulator } from '../../src/local/emulator.ts';
import { startFaultProxy, type FaultProxy, DEFAULT_POLICY } from '../../harness/aws-proxy.ts';
import { Random } from '../../harness/random.ts';
import { startMoto, type Moto } from '../support/moto.ts';

const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

function client(endpoint: string): S3Client {
  return createS3Client({ region: REGION, endpoint, credentials: CREDENTIALS });
}

describe('direct S3 path on moto (versioned bucket, tags)', () => {
  let moto: Moto;
  let s3: S3Client;
  const bucket = 'direct-moto';
  before(async () => {
    moto = await startMoto();
    s3 = client(moto.endpoint);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  });
  after(async () => {
    s3?.destroy();
    await moto?.stop();
  });

  test('GetObject of a version: the same answer as the SDK, body checked against its CRC32', async () => {
    const key = 'guid/a file+with (odd) chars!*.txt';
    const put = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'hello direct', ContentType: 'text/plain', Metadata: { origin: 'test' } }),
    );
    const direct = await directS3(s3).getObject({ Bucket: bucket, Key: key, VersionId: put.VersionId });
    const sdk = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: put.VersionId }));
    assert.equal(await text(direct.Body), 'hello direct');
    await sdk.Body?.transformToString();
    for (const field of ['ContentLength', 'ETag', 'VersionId', 'ContentType', 'Metadata'] as const) {
      assert.deepEqual(direct[field], sdk[field], field);
    }
  });

  test('a version that does not exist is gone, as with the SDK', async () => {
    const opened = await openObject(s3, { bucket, key: 'guid/none.txt', versionId: undefined, eTag: undefined });
    assert.equal(opened.kind, 'gone');
    await assert.rejects(directS3(s3).getObject({ Bucket: bucket, Key: 'guid/none.txt' }), (error: unknown) => isObjectGone(error));
  });

  test('an If-Match that no longer holds is a failed precondition', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'guid/changed.txt', Body: 'v1' }));
    const opened = await openObject(s3, {
      bucket,
      key: 'guid/changed.txt',
      versionId: undefined,
      eTag: '0123456789abcdef0123456789abcdef',
    });
    assert.equal(opened.kind, 'precondition-failed');
  });

  test('PutObjectTagging writes the whole tag set of that version', async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'guid/tagged.txt', Body: 'x' }));
    const version = { bucket, key: 'guid/tagged.txt', versionId: put.VersionId, eTag: undefined };
    await putTags(s3, version, [
      { Key: 'bucketscan-status', Value: 'CLEAN' },
      { Key: 'team', Value: 'a+b=c @x:/y' },
    ]);
    const read = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: version.key, VersionId: put.VersionId }));
    assert.deepEqual((read.TagSet ?? []).map((tag) => [tag.Key, tag.Value]).sort(), [
      ['bucketscan-status', 'CLEAN'],
      ['team', 'a+b=c @x:/y'],
    ]);
  });

  test('GetObjectTagging reads the tag set of that version as the SDK does', async () => {
    // The characters S3 allows in tags (moto checks them as S3 does).
    const tags = [
      { Key: 'team', Value: 'a+b=c @x:/y' },
      { Key: 'path_like.key-1', Value: 'x_y.z-w 50' },
      { Key: 'empty', Value: '' },
    ];
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'guid/read-tags.txt',
        Body: 'x',
        Tagging: new URLSearchParams(tags.map((t): [string, string] => [t.Key, t.Value])).toString(),
      }),
    );
    const version = { bucket, key: 'guid/read-tags.txt', versionId: put.VersionId, eTag: undefined };
    const sdk = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: version.key, VersionId: put.VersionId }));
    const direct = await getTags(s3, version);
    const sorted = (list: Array<{ Key?: string | undefined; Value?: string | undefined }>) =>
      list.map((t) => [t.Key, t.Value ?? '']).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    assert.deepEqual(sorted(direct), sorted(sdk.TagSet ?? []));
    assert.deepEqual(sorted(direct), sorted(tags));
    assert.deepEqual(
      await getTags(s3, { bucket, key: 'guid/tagged.txt', versionId: undefined, eTag: undefined }).then((t) => t.length >= 0),
      true,
    );
  });
});

describe('direct S3 path on the emulator, through the fault proxy', () => {
  let emulator: Emulator;
  let proxy: FaultProxy;
  const bucket = DEFAULT_RESOURCES.unprocessedBucket;
  before(async () => {
    emulator = await startEmulator({ port: 0, resources: DEFAULT_RESOURCES, logger: createLogger('warn', 'emulator') });
    proxy = await startFaultProxy({
      target: emulator.endpoint,
      random: new Random(7),
      policy: { ...DEFAULT_POLICY, rate: 0, delayRate: 0 },
    });
  });
  after(async () => {
    await proxy?.stop();
    await emulator?.stop();
  });

  async function forced(kind: 'http-500' | 'http-503' | 'throttle' | 'reset-request', operation = 'GetObject') {
    const faulty = await startFaultProxy({ target: emulator.endpoint, random: new Random(1), force: { operation, kind } });
    return faulty;
  }

  test('a found object streams, and its size and ETag are read', async () => {
    const s3 = client(proxy.endpoint);
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'guid/plain.bin', Body: Buffer.alloc(70_000, 7) }));
      const opened = await openObject(s3, { bucket, key: 'guid/plain.bin', versionId: undefined, eTag: undefined });
      assert.equal(opened.kind, 'found');
      if (opened.kind !== 'found') return;
      assert.equal(opened.size, 70_000);
      let bytes = 0;
      for await (const chunk of opened.body) bytes += (chunk as Buffer).length;
      assert.equal(bytes, 70_000);
      assert.equal(proxy.stats.byOperation['s3:GetObject']?.requests, 1, 'one request, made by the direct path through the proxy');
    } finally {
      s3.destroy();
    }
  });

  for (const kind of ['http-500', 'http-503', 'throttle', 'reset-request'] as const) {
    test(`${kind} on every attempt: retried up to maxAttempts, then the error is reported and thrown`, async () => {
      const faulty = await forced(kind);
      const errors: string[] = [];
      const s3 = createS3Client({ region: REGION, endpoint: faulty.endpoint, credentials: CREDENTIALS });
      enableDirectS3(s3, { onError: (service, operation) => errors.push(`${service}.${operation}`) });
      try {
        await assert.rejects(openObject(s3, { bucket, key: 'guid/plain.bin', versionId: undefined, eTag: undefined }));
        assert.equal(faulty.stats.byOperation['s3:GetObject']?.requests, 5, 'the SDK clients are made with maxAttempts 5');
        assert.deepEqual(errors, ['S3.GetObject']);
      } finally {
        s3.destroy();
        await faulty.stop();
      }
    });
  }

  test('a body whose checksum is not the one S3 sent fails at its end', async () => {
    // A server that sends a CRC32 of other bytes: the check must fail the body, never pass it.
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-length': '5', 'x-amz-checksum-crc32': 'AAAAAA==', etag: '"x"' });
      response.end('hello');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const s3 = client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const response = await directS3(s3).getObject({ Bucket: bucket, Key: 'guid/x' });
      await assert.rejects(text(response.Body), /Checksum mismatch/);
    } finally {
      s3.destroy();
      server.close();
    }
  });

  test('a bucket whose endpoint is not plain SigV4 (an S3 Express directory bucket) is left to the SDK', async () => {
    const s3 = new S3Client({ region: 'us-west-2', credentials: CREDENTIALS });
    try {
      await assert.rejects(directS3(s3).getObject({ Bucket: 'abc--usw2-az1--x-s3', Key: 'k' }), DirectUnsupported);
    } finally {
      s3.destroy();
    }
  });
});
