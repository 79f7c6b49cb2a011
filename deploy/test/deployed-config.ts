// The configuration that will be deployed is the one tested: the worker and
// clamd are started with exactly the environment the checked-in template's task
// definition gives them (intrinsics resolved to the local emulator's resources),
// and they process a clean file and EICAR. Two launchers run this suite: as
// processes (deploy/test/deployed-config.test.ts, in `make test`) and as the
// container images (test/image/deployed-config.test.ts, in `make test-image`).
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { containerEnvironment, logicalIdOf, type ResolveContext, type Template } from '../lib/template-env.ts';
import { DEFAULT_RESOURCES, startEmulator, type Emulator } from '../../src/local/emulator.ts';
import { eicar } from '../../src/local/eicar.ts';
import { createLogger } from '../../src/log/logger.ts';
import { waitFor } from '../../test/support/wait.ts';
import { existsSync, readFileSync } from 'node:fs';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TEMPLATE = JSON.parse(readFileSync(fileURLToPath(new URL('../bucketscan.template.json', import.meta.url)), 'utf8')) as Template;
const REGION = 'us-east-1';
const STACK_NAME = 'BucketScan';

/** Starts the two containers of a task: as processes, or as the images. */
export interface Launcher {
  startClamd(environment: Record<string, string>): Promise<{ stop(): Promise<void> }>;
  startWorker(environment: Record<string, string>): Promise<{ lines: Array<Record<string, unknown>>; stop(): Promise<number | null> }>;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export function deployedConfigTests(
  launcher: Launcher,
  extra: { worker?: Record<string, string>; clamd?: Record<string, string> } = {},
): void {
  let emulator: Emulator;
  let clamd: { stop(): Promise<void> } | undefined;
  let worker: Awaited<ReturnType<Launcher['startWorker']>> | undefined;
  let workerEnv: Record<string, string>;
  let clamdEnv: Record<string, string>;
  let rescanUrl: string;

  before(async () => {
    assert.ok(existsSync(join(ROOT, 'dist', 'cli.js')), 'dist/cli.js is missing: run `npm run build` at the repository root');
    emulator = await startEmulator({
      port: 0,
      resources: { ...DEFAULT_RESOURCES, region: REGION },
      logger: createLogger('warn', 'emulator'),
    });
    // The rescan queue (RESCAN_QUEUE), which the emulator's default resources do not hold.
    const sqs = new SQSClient({
      region: REGION,
      endpoint: emulator.endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    rescanUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'bucketscan-rescan' }))).QueueUrl!;
    sqs.destroy();
    // What CloudFormation would fill in, pointed at the emulator's resources.
    const context: ResolveContext = {
      parameters: { UnprocessedBucketName: DEFAULT_RESOURCES.unprocessedBucket },
      refs: {
        [logicalIdOf(TEMPLATE, 'AWS::S3::Bucket', 'BucketScanQuarantineBucket')]: DEFAULT_RESOURCES.quarantineBucket,
        [logicalIdOf(TEMPLATE, 'AWS::SQS::Queue', 'BucketScanQueuesInbound')]: emulator.queueUrls.inbound,
        [logicalIdOf(TEMPLATE, 'AWS::SQS::Queue', 'BucketScanQueuesValidation')]: emulator.queueUrls.validation,
        [logicalIdOf(TEMPLATE, 'AWS::SQS::Queue', 'BucketScanQueuesRescan')]: rescanUrl,
        [logicalIdOf(TEMPLATE, 'AWS::SNS::Topic', 'BucketScanQuarantineVirusNotifications')]: emulator.topicArn,
      },
      attributes: {
        [`${logicalIdOf(TEMPLATE, 'AWS::S3::Bucket', 'BucketScanMirrorBucket')}.RegionalDomainName`]: 'mirror.invalid',
      },
      pseudo: { 'AWS::Region': REGION, 'AWS::StackName': STACK_NAME, 'AWS::AccountId': '000000000000', 'AWS::Partition': 'aws' },
    };
    workerEnv = containerEnvironment(TEMPLATE, 'worker', context);
    clamdEnv = containerEnvironment(TEMPLATE, 'clamd', context);
    for (const port of [Number(clamdEnv['CLAMD_TCP_PORT']), Number(workerEnv['HEALTH_PORT'])]) {
      assert.ok(await portIsFree(port), `port ${port} on 127.0.0.1 is taken; the task's ports are fixed, so free it for this test`);
    }
    clamd = await launcher.startClamd({ ...clamdEnv, ...extra.clamd });
    worker = await launcher.startWorker({
      ...extra.worker,
      ...workerEnv,
      // The only additions, both stand-ins for what Fargate provides: the endpoint
      // (AWS itself there) and credentials (the task role there). PATH for node.
      AWS_ENDPOINT_URL: emulator.endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      PATH: process.env['PATH'] ?? '',
    });
  });

  after(async () => {
    const code = await worker?.stop();
    await clamd?.stop();
    await emulator?.stop();
    assert.equal(code ?? 0, 0, 'the worker exits 0 on SIGTERM');
  });

  test('the template gives the worker everything it needs and nothing local', () => {
    assert.equal(workerEnv['BUCKETSCAN_ENV_FILE'], 'none');
    assert.equal(workerEnv['AWS_REGION'], REGION);
    assert.equal(workerEnv['UNPROCESSED_BUCKET_NAME'], 'unprocessed');
    assert.equal(workerEnv['QUARANTINE_BUCKET_NAME'], 'quarantine');
    assert.equal(workerEnv['VIRUS_SCANNING_QUEUE_URL'], emulator.queueUrls.inbound);
    assert.equal(workerEnv['METRICS_NAMESPACE'], `bucketscan/${STACK_NAME}`);
    assert.equal(workerEnv['CLAMD_PORT'], clamdEnv['CLAMD_TCP_PORT']);
    assert.equal(workerEnv['MAX_FILE_SIZE'], clamdEnv['CLAMD_STREAM_MAX_LENGTH_MB']);
    assert.equal(workerEnv['CONCURRENCY'], clamdEnv['CLAMD_MAX_THREADS']);
    assert.equal(workerEnv['RESCAN_QUEUE'], rescanUrl);
    // With the default parameters: one source (the single-bucket variables), no result bus.
    assert.equal(workerEnv['SOURCES'], undefined);
    assert.equal(workerEnv['RESULT_EVENT_BUS'], undefined);
    assert.equal(
      Object.keys(workerEnv).some((name) => name.startsWith('AWS_ENDPOINT') || name.includes('SECRET')),
      false,
    );
  });

  test('with that environment the worker forwards a clean file and quarantines EICAR', async () => {
    const s3 = new S3Client({
      endpoint: emulator.endpoint,
      region: REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const sqs = new SQSClient({
      endpoint: emulator.endpoint,
      region: REGION,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const submission = '0b6f2c1e-4d2a-4c1b-9e7f-3a5d8c2b1f00';
    const cleanKey = `${submission}/hello.txt`;
    const infectedKey = `${submission}/eicar.com`;
    await s3.send(new PutObjectCommand({ Bucket: 'unprocessed', Key: cleanKey, Body: 'hello from the deployed configuration\n' }));
    await s3.send(new PutObjectCommand({ Bucket: 'unprocessed', Key: infectedKey, Body: eicar() }));

    const outcome = (key: string) =>
      waitFor(`the worker's outcome for ${key}`, () => worker!.lines.find((line) => line['key'] === key && line['outcome']), 60_000);
    assert.equal((await outcome(cleanKey))['outcome'], 'clean');
    assert.equal((await outcome(infectedKey))['outcome'], 'infected');

    const forwarded = await waitFor('the clean file on the validation queue', async () => {
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: emulator.queueUrls.validation, WaitTimeSeconds: 1, MessageAttributeNames: ['All'] }),
      );
      return Messages?.[0];
    });
    assert.match(forwarded.Body ?? '', /hello\.txt/);
    assert.equal(forwarded.MessageAttributes?.['status']?.StringValue, 'CLEAN');

    const report = await s3.send(new GetObjectCommand({ Bucket: 'quarantine', Key: `${infectedKey}.report.json` }));
    const body = JSON.parse(await report.Body!.transformToString()) as Record<string, unknown>;
    assert.equal(body['status'], 'INFECTED');
    assert.match(String(body['signature']), /EICAR/);
    await assert.rejects(
      s3.send(new HeadObjectCommand({ Bucket: 'unprocessed', Key: infectedKey })),
      'EICAR is gone from the unprocessed bucket',
    );
    s3.destroy();
    sqs.destroy();
  });
}
