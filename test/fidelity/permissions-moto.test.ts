// The commands under an identity that lacks the permission: moto with its IAM
// enforcement on (moto-api/reset-auth), so AccessDenied comes from a real
// authorisation check, not a fake. Each command must say which step was refused
// and why, on one line, and change nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { runCli, type CliResult } from '../support/cli.ts';
import { startMoto, type Moto } from '../support/moto.ts';

const REGION = 'us-east-1';
const ROOT = { accessKeyId: 'test', secretAccessKey: 'test' };
let moto: Moto | undefined;
let s3: S3Client;
/** The access key of an IAM user with no policy at all. */
let nobody: { id: string; secret: string };

before(async () => {
  moto = await startMoto();
  s3 = new S3Client({ region: REGION, endpoint: moto.endpoint, forcePathStyle: true, credentials: ROOT });
  for (const bucket of ['unprocessed', 'quarantine']) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutObjectCommand({ Bucket: 'quarantine', Key: 'q/0b6f2c1e/eicar.com', Body: 'quarantined bytes' }));
  await s3.send(new PutObjectCommand({ Bucket: 'quarantine', Key: 'q/0b6f2c1e/eicar.com.report.json', Body: '{}' }));
  const aws = (...args: string[]) =>
    execFileSync('aws', ['--endpoint-url', moto!.endpoint, '--output', 'json', ...args], {
      env: { ...process.env, AWS_ACCESS_KEY_ID: ROOT.accessKeyId, AWS_SECRET_ACCESS_KEY: ROOT.secretAccessKey, AWS_DEFAULT_REGION: REGION },
      encoding: 'utf8',
    });
  aws('iam', 'create-user', '--user-name', 'nobody');
  const key = (
    JSON.parse(aws('iam', 'create-access-key', '--user-name', 'nobody')) as { AccessKey: { AccessKeyId: string; SecretAccessKey: string } }
  ).AccessKey;
  nobody = { id: key.AccessKeyId, secret: key.SecretAccessKey };
  // From here on moto checks every request against IAM.
  const reset = await fetch(`${moto.endpoint}/moto-api/reset-auth`, {
    method: 'POST',
    body: '0',
    headers: { 'content-type': 'text/plain' },
  });
  assert.equal(reset.status, 200, await reset.text());
});

after(async () => {
  s3?.destroy();
  await moto?.stop();
});

function asNobody(args: string[], prefix = 'q/'): Promise<CliResult> {
  return runCli(args, {
    UNPROCESSED_BUCKET_NAME: 'unprocessed',
    QUARANTINE_BUCKET_NAME: 'quarantine',
    QUARANTINE_PREFIX: prefix,
    VALIDATION_QUEUE_NAME: 'validation',
    AWS_REGION: REGION,
    AWS_ENDPOINT_URL: moto!.endpoint,
    AWS_ACCESS_KEY_ID: nobody.id,
    AWS_SECRET_ACCESS_KEY: nobody.secret,
  });
}

function oneLine(result: CliResult): string {
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  return lines[0]!;
}

test('the enforcement is on: the root key is refused too, so the refusals below are IAM decisions', async () => {
  await assert.rejects(s3.send(new ListObjectsV2Command({ Bucket: 'quarantine' })), (error: Error) =>
    /InvalidAccessKeyId|AccessDenied|SignatureDoesNotMatch/.test(error.name),
  );
});

test('release without permission: exit 1, one line naming the refused step, nothing changed', async () => {
  const result = await asNobody(['release', 's3://quarantine/q/0b6f2c1e/eicar.com', '--reason', 'INC-9']);
  assert.equal(result.code, 1, result.stderr);
  assert.match(
    oneLine(result),
    /^bucketscan: release: read s3:\/\/quarantine\/q\/0b6f2c1e\/eicar\.com: access denied \(HTTP 403\): this identity lacks the permission$/,
  );
  assert.equal(result.stdout, '');
});

test('quarantine list without permission: exit 1, one line saying access was denied', async () => {
  // The whole bucket: moto computes the signature of a listing with prefix=q%2F differently from the SDK.
  const result = await asNobody(['quarantine', 'list'], '');
  assert.equal(result.code, 1, result.stderr);
  assert.match(oneLine(result), /^bucketscan: quarantine list: .*(access denied|AccessDenied)/i);
});
