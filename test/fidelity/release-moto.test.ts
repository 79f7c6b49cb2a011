// `bucketscan quarantine list` and `bucketscan release` against moto_server (a
// versioned bucket, STS GetCallerIdentity), on a file the worker itself quarantined
// with a real clamd: the file comes back as a new version, tagged CLEAN and
// released, its event is forwarded, the audit record says who, when, why and what
// was overridden; a newer object at the key is not overwritten without --force;
// the worker leaves the released version alone when it scans it again, and does
// not honour the release tag on any other version. Every AWS call the commands
// and the worker make is recorded for the IAM proof (deploy/test/iam/).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  CreateBucketCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { loadConfig } from '../../src/config/config.ts';
import { buildEventDocument, buildObjectCreatedRecord } from '../../src/events/s3-event.ts';
import { createLogger } from '../../src/log/logger.ts';
import { runWorker } from '../../src/worker/service.ts';
import { runCli, type CliResult } from '../support/cli.ts';
import { expectFixture, startIamRecorder, type IamRecorder, type RecorderNames } from '../support/iam-recorder.ts';
import { startMoto, type Moto } from '../support/moto.ts';
import { createQueue } from '../support/moto-notifications.ts';
import { eicar, EICAR_SIGNATURE } from '../support/samples.ts';
import { LogSink, startTestClamd } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/custom-signatures', import.meta.url));

const REGION = 'us-east-1';
const UNPROCESSED = 'unprocessed';
const QUARANTINE = 'quarantine';
const PREFIX = 'quarantined/';
const MIRROR = 'mirror';
const NAMES: RecorderNames = {
  buckets: { [UNPROCESSED]: '{unprocessed}', [QUARANTINE]: '{quarantine}', [MIRROR]: '{mirror}' },
  queues: { 'virus-scanning': '{inbound}', validation: '{validation}' },
  topics: { 'virus-notification': '{topic}' },
  statusTag: 'bucketscan-status',
};

let moto: Moto | undefined;
/** The worker's requests and the commands' go through separate recorders: two lists for the IAM proof. */
let workerRecorder: IamRecorder | undefined;
let commandRecorder: IamRecorder | undefined;
let clamd: Awaited<ReturnType<typeof startTestClamd>> | undefined;
let s3: S3Client;
let sqs: SQSClient;
let inboundUrl: string;
let validationUrl: string;
let topicArn: string;
let stopWorker: (() => Promise<void>) | undefined;
const logs = new LogSink();

type Json = Record<string, any>;

before(async () => {
  moto = await startMoto();
  const connection = { region: REGION, endpoint: moto.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  s3 = new S3Client({ ...connection, forcePathStyle: true });
  sqs = new SQSClient(connection);
  const sns = new SNSClient(connection);
  for (const bucket of [UNPROCESSED, QUARANTINE, MIRROR]) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: UNPROCESSED, VersioningConfiguration: { Status: 'Enabled' } }));
  inboundUrl = await createQueue(sqs, 'virus-scanning');
  validationUrl = await createQueue(sqs, 'validation');
  topicArn = (await sns.send(new CreateTopicCommand({ Name: 'virus-notification' }))).TopicArn!;
  sns.destroy();
  workerRecorder = await startIamRecorder(moto.endpoint, NAMES);
  commandRecorder = await startIamRecorder(moto.endpoint, NAMES);
  clamd = await startTestClamd({ maxFileSizeMb: 16 });
  const address = clamd.clamd.address;
  const config = loadConfig({
    ...settings(workerRecorder.endpoint),
    RECEIVE_WAIT_TIME: '1',
    VIRUS_NOTIFICATION_TOPIC_ARN: topicArn,
    ...(address.kind === 'tcp' ? { CLAMD_HOST: address.host, CLAMD_PORT: String(address.port) } : { CLAMD_SOCKET: address.path }),
  });
  const controller = new AbortController();
  const done = runWorker(config, createLogger('debug', 'bucketscan', logs.stream), controller.signal);
  stopWorker = async () => {
    controller.abort();
    await done;
  };
});

after(async () => {
  await stopWorker?.();
  await clamd?.stop();
  s3?.destroy();
  sqs?.destroy();
  await workerRecorder?.stop();
  await commandRecorder?.stop();
  await moto?.stop();
});

function settings(endpoint: string): Record<string, string> {
  return {
    UNPROCESSED_BUCKET_NAME: UNPROCESSED,
    QUARANTINE_BUCKET_NAME: QUARANTINE,
    QUARANTINE_PREFIX: PREFIX,
    VIRUS_SCANNING_QUEUE_NAME: 'virus-scanning',
    VALIDATION_QUEUE_NAME: 'validation',
    AWS_REGION: REGION,
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  };
}

const cli = (args: string[]): Promise<CliResult> => runCli(args, settings(commandRecorder!.endpoint));

/** Puts an object and hands the worker its event (moto's own notifications leave versionId out). */
async function upload(key: string, body: Buffer | string, tagging?: string) {
  const put = await s3.send(new PutObjectCommand({ Bucket: UNPROCESSED, Key: key, Body: body, ...(tagging ? { Tagging: tagging } : {}) }));
  await announce(key, put.VersionId!, put.ETag!.replace(/"/g, ''), Buffer.byteLength(body));
  return put.VersionId!;
}

async function announce(key: string, versionId: string, eTag: string, size: number) {
  const record = buildObjectCreatedRecord({
    bucket: UNPROCESSED,
    key,
    size,
    eTag,
    versionId,
    eventName: 'ObjectCreated:Put',
    region: REGION,
    eventTime: new Date(),
    sequencer: '0A1B2C3D4E5F',
  });
  await sqs.send(new SendMessageCommand({ QueueUrl: inboundUrl, MessageBody: JSON.stringify(buildEventDocument([record])) }));
}

function outcome(key: string, expected: string, after = 0): Promise<Json> {
  return waitFor(`a logged "${expected}" outcome for ${key}`, () =>
    logs.lines.slice(after).find((line) => line['key'] === key && line['outcome'] === expected),
  );
}

async function tagsOf(key: string, versionId: string): Promise<Record<string, string>> {
  const { TagSet = [] } = await s3.send(new GetObjectTaggingCommand({ Bucket: UNPROCESSED, Key: key, VersionId: versionId }));
  return Object.fromEntries(TagSet.map((tag) => [tag.Key!, tag.Value!]));
}

async function versions(key: string) {
  const response = await s3.send(new ListObjectVersionsCommand({ Bucket: UNPROCESSED, Prefix: key }));
  return (response.Versions ?? []).filter((version) => version.Key === key);
}

async function json(bucket: string, key: string): Promise<Json> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await response.Body!.transformToString()) as Json;
}

async function receiveValidation(predicate: (message: Message) => boolean): Promise<Message> {
  return waitFor('a message on the validation queue', async () => {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: validationUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['All'] }),
    );
    let found: Message | undefined;
    for (const message of Messages) {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: validationUrl, ReceiptHandle: message.ReceiptHandle }));
      if (predicate(message)) found = message;
    }
    return found;
  });
}

const oneLine = (result: CliResult) => {
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  return lines[0]!;
};

describe('a false positive, released', () => {
  const key = `${randomUUID()}/invoice.com`;
  const quarantined = `${PREFIX}${key}`;
  const target = `s3://${QUARANTINE}/${quarantined}`;
  let releasedVersion: string;
  let recordKey: string;

  before(async () => {
    await upload(key, eicar());
    await outcome(key, 'infected');
  });

  test('quarantine list shows it: key, status, signature and origin, when, source, not released', async () => {
    const text = await cli(['quarantine', 'list']);
    assert.equal(text.code, 0, text.stderr);
    const line = text.stdout.split('\n').find((l) => l.includes(key))!;
    assert.match(
      line,
      new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:]+Z\\s+INFECTED\\s+no\\s+${EICAR_SIGNATURE.replace(/\./g, '\\.')} \\[third-party\\]`),
    );
    assert.ok(line.endsWith(`s3://${UNPROCESSED}/${key} -> ${target}`), line);
    const listed = await cli(['quarantine', 'list', '--json', '--since', '1d']);
    const entry = listed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Json)
      .find((e) => e['original'].key === key)!;
    assert.equal(entry['status'], 'INFECTED');
    assert.equal(entry['signature'], EICAR_SIGNATURE);
    assert.equal(entry['signatureOrigin'], 'third-party');
    assert.equal(entry['released'], null);
    assert.deepEqual(entry['quarantine'], { bucket: QUARANTINE, key: quarantined, reportKey: `${quarantined}.report.json` });
    const future = await cli(['quarantine', 'list', '--since', '2099-01-01']);
    assert.equal(future.code, 0);
    assert.doesNotMatch(future.stdout, new RegExp(key));
    assert.match(future.stderr, /nothing in s3:\/\/quarantine\/quarantined\/ since 2099/);
  });

  test('clear refusals: no reason, a path outside the quarantine, a report, a missing file', async () => {
    const noReason = await cli(['release', target]);
    assert.equal(noReason.code, 2);
    assert.match(oneLine(noReason), /--reason is required/);
    const outside = await cli(['release', `s3://${UNPROCESSED}/${key}`, '--reason', 'r']);
    assert.equal(outside.code, 2);
    assert.match(oneLine(outside), /is not in a quarantine area \(s3:\/\/quarantine\/quarantined\/: QUARANTINE_BUCKET_NAME/);
    const report = await cli(['release', `${target}.report.json`, '--reason', 'r']);
    assert.equal(report.code, 2);
    assert.match(oneLine(report), /is a report: name the quarantined file itself/);
    const missing = await cli(['release', `s3://${QUARANTINE}/${PREFIX}${randomUUID()}/gone.pdf`, '--reason', 'r']);
    assert.equal(missing.code, 1);
    assert.match(oneLine(missing), /no such quarantined file/);
  });

  test("with SOURCES (several buckets): quarantine list reads every quarantine area once; release finds the file's source and its queue", async () => {
    const { UNPROCESSED_BUCKET_NAME, QUARANTINE_BUCKET_NAME, QUARANTINE_PREFIX, VALIDATION_QUEUE_NAME, ...rest } = settings(
      commandRecorder!.endpoint,
    );
    const sources = {
      sources: [
        { bucket: UNPROCESSED, quarantineBucket: QUARANTINE, quarantinePrefix: PREFIX, validationQueue: 'validation' },
        { bucket: 'other-uploads', quarantineBucket: QUARANTINE, quarantinePrefix: `${PREFIX}other/` },
      ],
    };
    const env = { ...rest, SOURCES: JSON.stringify(sources) };
    const listed = await runCli(['quarantine', 'list'], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout.split('\n').filter((line) => line.includes(key)).length, 1, listed.stdout);
    const dry = await runCli(['release', target, '--reason', 'INC-0', '--dry-run'], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /tagged bucketscan-status=CLEAN and bucketscan-released/);
    assert.match(dry.stdout, /forward its event to the validation queue/);
  });

  test('a file scanned in an unversioned bucket is not released: the worker would quarantine it again', async () => {
    const report = await json(QUARANTINE, `${quarantined}.report.json`);
    const copy = `${PREFIX}${randomUUID()}/unversioned.com`;
    const unversioned = { ...report, key: copy.slice(PREFIX.length), versionId: null, quarantine: { ...report['quarantine'], key: copy } };
    await s3.send(new PutObjectCommand({ Bucket: QUARANTINE, Key: copy, Body: eicar() }));
    await s3.send(new PutObjectCommand({ Bucket: QUARANTINE, Key: `${copy}.report.json`, Body: JSON.stringify(unversioned) }));
    const refused = await cli(['release', `s3://${QUARANTINE}/${copy}`, '--reason', 'r']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      oneLine(refused),
      /was scanned in an unversioned bucket \(its report has no version id\): a release there would be quarantined again/,
    );
  });

  test('a newer object at the original key: refused (dry run and real), nothing changed', async () => {
    const newer = await s3.send(new PutObjectCommand({ Bucket: UNPROCESSED, Key: key, Body: 'a newer, unrelated upload' }));
    const dry = await cli(['release', target, '--reason', 'INC-1', '--dry-run']);
    assert.equal(dry.code, 1, dry.stderr);
    assert.match(dry.stdout, /REFUSED without --force: s3:\/\/unprocessed\/.* now holds another object .* newer than the quarantined file/);
    const refused = await cli(['release', target, '--reason', 'INC-1']);
    assert.equal(refused.code, 1);
    assert.match(oneLine(refused), /now holds another object .*--force restores over it/);
    const all = await versions(key);
    assert.deepEqual(
      all.filter((v) => v.IsLatest).map((v) => v.VersionId),
      [newer.VersionId],
      'the newer object is still the current one',
    );
  });

  test('--force: the file is back as a new version, tagged CLEAN and released, forwarded, with the audit record', async () => {
    const reason = 'INC-1234: a customer test file, checked by the on-call engineer';
    const result = await cli(['release', target, '--reason', reason, '--force']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^released s3:\/\/quarantine\/.* \(INFECTED \(Win\.Test\.EICAR_HDB-1\.UNOFFICIAL\)\)$/m);
    recordKey = /audit record s3:\/\/quarantine\/(\S+) \(by /.exec(result.stdout)![1]!;

    const current = (await versions(key)).find((v) => v.IsLatest)!;
    releasedVersion = current.VersionId!;
    const body = await s3.send(new GetObjectCommand({ Bucket: UNPROCESSED, Key: key, VersionId: releasedVersion }));
    assert.ok(Buffer.from(await body.Body!.transformToByteArray()).equals(eicar()), 'the quarantined bytes, restored');
    const tags = await tagsOf(key, releasedVersion);
    assert.equal(tags['bucketscan-status'], 'CLEAN');
    assert.match(tags['bucketscan-released'] ?? '', /^\d{8}T\d{9}Z-[0-9a-f]{4}$/);

    const record = await json(QUARANTINE, recordKey);
    assert.equal(recordKey, `${quarantined}.release-${tags['bucketscan-released']}.json`, 'beside the report');
    assert.equal(record['state'], 'done');
    assert.equal(record['reason'], reason);
    assert.match(record['releasedBy'].arn, /^arn:aws:(iam|sts)::\d{12}:/, 'who, from STS');
    assert.deepEqual(record['overridden'], {
      status: 'INFECTED',
      signature: EICAR_SIGNATURE,
      signatureOrigin: 'third-party',
      scannedAt: record['overridden'].scannedAt,
    });
    assert.equal(record['restored'].versionId, releasedVersion);
    assert.equal(record['force'], true);
    assert.ok(record['replaced'], 'the object it restored over is named');

    const forwarded = await receiveValidation((m) => JSON.parse(m.Body!).Records[0].s3.object.versionId === releasedVersion);
    const event = JSON.parse(forwarded.Body!).Records[0];
    assert.equal(event.eventName, 'ObjectCreated:Copy');
    assert.equal(event.s3.bucket.name, UNPROCESSED);
    assert.equal(event.s3.configurationId, 'bucketscan-release');
    assert.equal(forwarded.MessageAttributes?.['status']?.StringValue, 'CLEAN');
    assert.equal(forwarded.MessageAttributes?.['released']?.StringValue, `s3://${QUARANTINE}/${recordKey}`);
    assert.equal(record['forwarded'].messageId, forwarded.MessageId);

    const listed = await cli(['quarantine', 'list', '--json']);
    const entry = listed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Json)
      .find((e) => e['original'].key === key)!;
    assert.equal(entry['released'].state, 'done');
    assert.equal(entry['released'].reason, reason);
    assert.equal(entry['released'].record, `s3://${QUARANTINE}/${recordKey}`);
  });

  test('released once: a second release is refused without --force', async () => {
    const again = await cli(['release', target, '--reason', 'again']);
    assert.equal(again.code, 1);
    assert.match(oneLine(again), /released already, at .* --force releases it again/);
  });

  test('the worker leaves the released version alone when it scans it again (same verdict)', async () => {
    const from = logs.lines.length;
    const current = (await versions(key)).find((v) => v.IsLatest)!;
    await announce(key, releasedVersion, current.ETag!.replace(/"/g, ''), eicar().length);
    const line = await outcome(key, 'released', from);
    assert.equal(line['signature'], EICAR_SIGNATURE);
    assert.equal((await versions(key)).find((v) => v.IsLatest)?.VersionId, releasedVersion, 'not quarantined again');
    assert.equal((await tagsOf(key, releasedVersion))['bucketscan-status'], 'CLEAN');
  });

  test('the release tag on any other version is not honoured: that upload is quarantined', async () => {
    const from = logs.lines.length;
    const id = recordKey.slice(recordKey.lastIndexOf('.release-') + '.release-'.length, -'.json'.length);
    await upload(key, eicar(), `bucketscan-released=${id}`);
    const line = await outcome(key, 'infected', from);
    assert.equal(line['signature'], EICAR_SIGNATURE);
  });
});

describe("STATUS_TAG_STYLE=guardduty: a released file is tagged in GuardDuty's words, as the worker would tag a clean one", () => {
  const key = `${randomUUID()}/report.com`;
  const target = `s3://${QUARANTINE}/${PREFIX}${key}`;
  // Straight to moto: the IAM proof's recorded calls are those of the default style.
  const env = () => ({ ...settings(moto!.endpoint), STATUS_TAG_STYLE: 'guardduty' });

  before(async () => {
    await upload(key, eicar());
    await outcome(key, 'infected');
  });

  test('the dry run says so; the release writes GuardDutyMalwareScanStatus=NO_THREATS_FOUND', async () => {
    const dry = await runCli(['release', target, '--reason', 'INC-7', '--dry-run'], env());
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /tagged GuardDutyMalwareScanStatus=NO_THREATS_FOUND and bucketscan-released/);
    const done = await runCli(['release', target, '--reason', 'INC-7'], env());
    assert.equal(done.code, 0, done.stderr);
    const current = (await versions(key)).find((v) => v.IsLatest)!;
    const tags = await tagsOf(key, current.VersionId!);
    assert.equal(tags['GuardDutyMalwareScanStatus'], 'NO_THREATS_FOUND');
    assert.match(tags['bucketscan-released'] ?? '', /^\d{8}T\d{9}Z-[0-9a-f]{4}$/);
  });
});

describe('the detection set on the definitions mirror (s3://mirror/custom/)', () => {
  const set = `s3://${MIRROR}/custom/`;
  const limits = (databaseMemoryMiB: number) =>
    s3.send(
      new PutObjectCommand({
        Bucket: MIRROR,
        Key: 'custom/bucketscan-limits.json',
        Body: JSON.stringify({ format: 'bucketscan-limits', databaseMemoryMiB, clamdMemoryMiB: databaseMemoryMiB + 1024 }),
      }),
    );

  test('publish checks the set against the memory the deployment wrote beside it, then writes it', async () => {
    await limits(1000);
    const refused = await cli(['signatures', 'publish', FIXTURES, '--to', set]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /more than clamd's 1000 MiB/);
    await limits(4096);
    const published = await cli(['signatures', 'publish', FIXTURES, '--to', set]);
    assert.equal(published.code, 0, published.stderr);
    assert.match(published.stdout, /^published version 1 to s3:\/\/mirror\/custom\/ /m);
    assert.match(published.stdout, /freshclam's next check/);
    const manifest = await json(MIRROR, 'custom/bucketscan-manifest.json');
    assert.match(manifest['publishedBy'], /^arn:aws:(iam|sts)::\d{12}:/, 'the publisher, from STS');
    assert.deepEqual(
      manifest['sources'].map((source: Json) => source.file),
      ['acme.ndb', 'acme.yar'],
    );
  });

  test('allow adds to the versioned list on the mirror; status reads it back', async () => {
    const hash = 'ab'.repeat(32);
    const added = await cli(['allow', '--sha256', hash, '--reason', 'INC-7', '--to', set]);
    assert.equal(added.code, 0, added.stderr);
    const list = await json(MIRROR, 'custom/bucketscan-allow-list.json');
    assert.equal(list['entries'][0].value, hash);
    assert.match(list['entries'][0].added.by, /^arn:aws:(iam|sts)::/);
    const history = await json(MIRROR, 'custom/history/allow-list.v1.json');
    assert.equal(history['version'], 1);
    const status = await cli(['signatures', 'status', '--to', set]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /version 2, published .* \(allow-list\)\n {2}acme\.ndb: 1 signatures/);
  });
});

test('every AWS call of the commands and the worker is listed for the IAM proof (deploy/test/iam/)', () => {
  expectFixture('detection', commandRecorder!.calls());
  expectFixture('release-worker', workerRecorder!.calls());
});
