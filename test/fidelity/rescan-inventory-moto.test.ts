// `bucketscan rescan --inventory` against moto_server: a report generated from the
// real objects of a versioned bucket (CSV and Parquet, the Parquet file read with
// moto's ranged GETs), queued on the RESCAN_QUEUE lane; each event names the
// object's current version as moto gave it, and the worker's checker accepts it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, DeleteObjectCommand, PutBucketVersioningCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { parseMessageBody } from '../../src/events/message.ts';
import { checkRecord } from '../../src/events/record.ts';
import { endpointEnv, runCli } from '../support/cli.ts';
import { putInventory, type InventoryEntry } from '../support/inventory.ts';
import { startMoto, type Moto } from '../support/moto.ts';
import { drainQueue } from '../support/queue.ts';

let moto: Moto | undefined;
let s3: S3Client;
let sqs: SQSClient;
let laneUrl: string;
let env: Record<string, string>;
const guid = randomUUID();
const rows: InventoryEntry[] = [];
const expected = new Map<string, string>();

before(async () => {
  moto = await startMoto();
  const connection = { region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  s3 = new S3Client({ ...connection, forcePathStyle: true });
  sqs = new SQSClient(connection);
  for (const bucket of ['unprocessed', 'quarantine', 'inventory']) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: 'unprocessed', VersioningConfiguration: { Status: 'Enabled' } }));
  await sqs.send(new CreateQueueCommand({ QueueName: 'virus-scanning' }));
  laneUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'bucketscan-rescan' }))).QueueUrl!;
  env = endpointEnv(moto.endpoint, { RESCAN_QUEUE: 'bucketscan-rescan' });

  // The bucket as S3 Inventory would list it with all versions: two versions of one
  // key, a deleted key (its version and the delete marker), and keys that need encoding.
  const put = async (name: string, body: string) => {
    const key = `${guid}/${name}`;
    const written = await s3.send(new PutObjectCommand({ Bucket: 'unprocessed', Key: key, Body: body }));
    return { key, versionId: written.VersionId!, eTag: written.ETag!.replace(/"/g, ''), size: Buffer.byteLength(body) };
  };
  const first = await put('a b+c.txt', 'first');
  const second = await put('a b+c.txt', 'second, longer');
  const other = await put('ünïcödé 100%.pdf', 'other');
  const gone = await put('gone.txt', 'deleted later');
  const marker = await s3.send(new DeleteObjectCommand({ Bucket: 'unprocessed', Key: gone.key }));
  rows.push(
    { ...first, isLatest: false },
    { ...second, isLatest: true },
    { ...other, isLatest: true },
    { ...gone, isLatest: false },
    { key: gone.key, size: 0, versionId: marker.VersionId!, isLatest: true, isDeleteMarker: true },
  );
  expected.set(second.key, second.versionId);
  expected.set(other.key, other.versionId);
});

after(async () => {
  s3?.destroy();
  sqs?.destroy();
  await moto?.stop();
});

describe('rescan --inventory against moto', () => {
  for (const format of ['CSV', 'Parquet'] as const) {
    test(`${format}: the current version of each live key, on the RESCAN_QUEUE lane`, async () => {
      const manifest = await putInventory(s3, {
        bucket: 'inventory',
        prefix: `${format.toLowerCase()}/`,
        sourceBucket: 'unprocessed',
        format,
        versions: true,
        files: [rows.slice(0, 2), rows.slice(2)],
        rowGroupSize: 2,
      });
      const result = await runCli(['rescan', '--inventory', `s3://inventory/${manifest}`, '--json'], env);
      assert.equal(result.code, 0, result.stderr);
      const summary = JSON.parse(result.stdout) as Record<string, unknown>;
      assert.deepEqual([summary['listed'], summary['queued'], summary['skipped']], [2, 2, 0]);
      const queued = new Map<string, string | undefined>();
      for (const message of await drainQueue(sqs, laneUrl)) {
        const parsed = parseMessageBody(message.Body);
        if (parsed.kind !== 'records') throw new Error(message.Body);
        const check = checkRecord(parsed.records[0], { bucket: 'unprocessed', prefix: '' });
        if (!check.ok) throw new Error(check.reason);
        queued.set(check.target.key, check.target.versionId);
      }
      assert.deepEqual(queued, expected);
    });
  }
});
