/**
 * The `requests-tagged` phase: AWS requests per clean file with the status tag
 * (SCAN_STATUS_TAG) written, as it is in production on a versioned bucket.
 *
 * The emulator has no versioning and no tags, and the worker tags a version only
 * when it knows the version id (src/pipeline/process-record.ts, writeStatusTag),
 * so the other phases' counts leave tagging out. Here the production worker
 * process runs against moto_server instead (test/support/moto.ts): a versioned
 * unprocessed bucket whose ObjectCreated notifications moto itself sends to a
 * fresh inbound queue. Two batches of clean files, each drained from a full queue
 * by a freshly started worker: one uploaded untagged (GetObject, PutObjectTagging)
 * and one uploaded with a tag of its own, which the worker must read first to keep
 * it (GetObjectTagging too), then the untagged kind again with the worker behind a
 * proxy that terminates TLS (harness/aws-proxy.ts with a certificate of
 * bench/tls-proxy.ts), as it reaches AWS over https. Each
 * batch also gives the worker's CPU per clean file (user + system from /proc,
 * status tag on, default CONCURRENCY), plain and with TLS: the small-file CPU
 * figure of docs/benchmarks.md. Last, the untagged batch twice more (plain, then
 * through TLS) drained by bench/naive-worker.py, the naive Python script issue 15
 * measured the worker against: its CPU per file is the yardstick beside the
 * worker's, taken on the same machine in the same run. Then, for `--tagged-runs`
 * rounds in all, those four CPU batches again (worker and script, plain and TLS):
 * one batch's CPU moves by a quarter between rounds on a shared machine, so the
 * report judges the median round by round.
 *
 * moto is slow (Python, one request at a time), so only the counts mean anything:
 * nothing here is timed. The figure must not be measurable with tagging off, so
 * the phase fails unless every record logged its status tag, the counts hold a
 * PutObjectTagging per file, and the tags read back from a sample of the versions
 * are what the worker should have written.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { CreateBucketCommand, GetObjectTaggingCommand, PutBucketVersioningCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PurgeQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { DEFAULT_STATUS_TAG } from '../src/verdict/verdict.ts';
import { startMoto, type Moto } from '../test/support/moto.ts';
import { createQueue, queueDepth, routeNotificationsToNewQueue } from '../test/support/moto-notifications.ts';
import type { BenchClamd } from './clamd.ts';
import { benchKey, inParallel, randomBuffer } from './data.ts';
import { BENCH_RESOURCES } from './emulator.ts';
import { startLatencyProxy } from './network.ts';
import { CpuMeter, round } from './proc.ts';
import { makeCertificate } from './tls-proxy.ts';
import { runNaiveWorker } from './naive-worker.ts';
import { readFileSync } from 'node:fs';
import { concurrencyOf, startWorker, type Stack } from './phases.ts';
import { summarizeRequests } from './prices.ts';
import { cpuRound, type TaggedBatch, type TaggedCpuRound, type TaggedRequestsResult } from './results.ts';

const { region, unprocessedBucket, quarantineBucket, validationQueueName, topicName, maxReceiveCount } = BENCH_RESOURCES;

/** The tag every file of the second batch is uploaded with. */
const UPLOAD_TAGS: Record<string, string> = { team: 'bench' };
/** Versions whose tags are read back per batch (spread over the batch). */
const VERIFY_SAMPLE = 20;
/** Guards against a stuck phase, not speed checks: moto takes tens of milliseconds a request. */
const QUEUE_FILL_TIMEOUT_MS = 120_000;
const DRAIN_TIMEOUT_MS = 600_000;

/** Polls `probe` until it returns a value, or throws naming `what` after `timeoutMs`. */
async function poll<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await delay(100);
  }
}

export interface Moto3 {
  moto: Moto;
  s3: S3Client;
  sqs: SQSClient;
  validationUrl: string;
  topicArn: string;
}

export async function setUp(moto: Moto): Promise<Moto3> {
  const connection = { region, endpoint: moto.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  const s3 = new S3Client({ ...connection, forcePathStyle: true });
  const sqs = new SQSClient(connection);
  const sns = new SNSClient(connection);
  try {
    for (const bucket of [unprocessedBucket, quarantineBucket]) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: unprocessedBucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const validationUrl = await createQueue(sqs, validationQueueName);
    const topicArn = (await sns.send(new CreateTopicCommand({ Name: topicName }))).TopicArn;
    if (!topicArn) throw new Error('moto gave no TopicArn');
    return { moto, s3, sqs, validationUrl, topicArn };
  } catch (error) {
    s3.destroy();
    sqs.destroy();
    throw error;
  } finally {
    sns.destroy();
  }
}

/** Up to `count` indices spread evenly over 0 .. n-1, the first and the last included. */
function spread(n: number, count: number): number[] {
  const k = Math.min(n, count);
  if (k <= 1) return n > 0 ? [0] : [];
  return [...new Set(Array.from({ length: k }, (_, j) => Math.round((j * (n - 1)) / (k - 1))))];
}

/** The tags a version must carry once the worker has scanned it clean. */
function expectedTags(uploadTags: Record<string, string>, statusTag: string): string {
  return JSON.stringify(Object.entries({ ...uploadTags, [statusTag]: 'CLEAN' }).sort());
}

/** What drained a batch: the production worker, or the naive Python script (bench/naive-worker.py). */
interface Drained {
  /** CPU (user + system) from the consumer's start line to the last file, and after its first warmupFiles files. */
  cpuSeconds: number;
  steadySeconds: number | undefined;
  concurrency: number;
  outcomes: Record<string, number>;
  statusTags: Record<string, number>;
  problems: Record<string, number>;
}

interface Consumer {
  files: number;
  warmupFiles: number;
  statusTag: string;
  /** The proxy's endpoint, and the queues' URLs through it (the SDK sends an SQS call to its queue URL's host). */
  endpoint: string;
  inboundUrl: string;
  validationUrl: string;
  /** Whether the inbound queue is empty, asked of moto directly (not counted by the proxy). */
  inboundEmpty: () => Promise<boolean>;
  /** The proxy's certificate, through TLS. */
  caFile: string | undefined;
}

/** The production worker drains the batch; its figures come from its log and /proc. */
async function drainWithWorker(
  stack: Stack,
  clamd: BenchClamd,
  m: Moto3,
  c: Consumer,
  spec: { label: string; extraNodeArgs?: string[]; cli?: string },
): Promise<Drained> {
  const worker = await startWorker(
    stack,
    clamd,
    {
      concurrency: stack.options.smallConcurrency,
      env: {
        UNPROCESSED_BUCKET_NAME: unprocessedBucket,
        QUARANTINE_BUCKET_NAME: quarantineBucket,
        VIRUS_SCANNING_QUEUE_URL: c.inboundUrl,
        VALIDATION_QUEUE_URL: c.validationUrl,
        VIRUS_NOTIFICATION_TOPIC_ARN: m.topicArn,
        AWS_ENDPOINT_URL: c.endpoint,
        ...(c.caFile ? { NODE_EXTRA_CA_CERTS: c.caFile } : {}),
        SCAN_STATUS_TAG: c.statusTag,
      },
      ...(spec.extraNodeArgs ? { extraNodeArgs: spec.extraNodeArgs } : {}),
      ...(spec.cli ? { cli: spec.cli } : {}),
    },
    `requests-tagged-${spec.label}`,
  );
  // The worker's own CPU (user + system, /proc) from its "worker started" line to the drained queue.
  const meter = new CpuMeter({ worker: worker.pid });
  // And once the first files are done: the same without the first use of every code path (compiling it).
  let warm: CpuMeter | undefined;
  void worker.outcomesReached(c.warmupFiles).then(() => {
    warm = new CpuMeter({ worker: worker.pid });
  });
  let drained: Omit<Drained, 'outcomes' | 'statusTags' | 'problems' | 'concurrency'> | undefined;
  try {
    stack.progress(`requests-tagged: the worker drains ${c.files} files from moto at CONCURRENCY=${concurrencyOf(worker)}`);
    const finished = await Promise.race([worker.outcomesReached(c.files).then(() => true), delay(DRAIN_TIMEOUT_MS, false)]);
    if (finished) {
      // Outcomes are logged before their messages' batched delete: wait for the queue too.
      await poll('the inbound queue to be empty', QUEUE_FILL_TIMEOUT_MS, async () => ((await c.inboundEmpty()) ? true : undefined));
      drained = { cpuSeconds: meter.read()['worker'] ?? Number.NaN, steadySeconds: warm?.read()['worker'] };
    }
  } finally {
    const { code } = await worker.stop();
    if (drained && code !== 0) stack.errors.push(`requests-tagged ${spec.label}: worker exited with code ${code}`);
  }
  if (!drained) {
    throw new Error(
      `requests-tagged ${spec.label}: ${c.files} files not handled within ${DRAIN_TIMEOUT_MS / 1000} s; outcomes ${JSON.stringify(worker.outcomes)}, problems ${JSON.stringify(worker.problems)}; logs in ${stack.runDir}`,
    );
  }
  return {
    ...drained,
    concurrency: concurrencyOf(worker),
    outcomes: { ...worker.outcomes },
    statusTags: { ...worker.statusTags },
    problems: { ...worker.problems },
  };
}

/** The naive Python script drains the batch, one file at a time; it reports its own CPU. */
async function drainWithNaiveScript(stack: Stack, clamd: BenchClamd, c: Consumer): Promise<Drained> {
  if (clamd.address.kind !== 'tcp') throw new Error('the benchmark clamd listens on TCP');
  stack.progress(`requests-tagged: the naive Python worker drains ${c.files} files from moto, one at a time`);
  const answer = await runNaiveWorker({
    files: c.files,
    warmupFiles: c.warmupFiles,
    timeoutMs: DRAIN_TIMEOUT_MS,
    env: {
      AWS_ENDPOINT_URL: c.endpoint,
      AWS_DEFAULT_REGION: region,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      ...(c.caFile ? { AWS_CA_BUNDLE: c.caFile } : {}),
      INBOUND_QUEUE_URL: c.inboundUrl,
      VALIDATION_QUEUE_URL: c.validationUrl,
      STATUS_TAG: c.statusTag,
      CLAMD_HOST: clamd.address.host,
      CLAMD_PORT: String(clamd.address.port),
    },
  });
  await poll('the inbound queue to be empty', QUEUE_FILL_TIMEOUT_MS, async () => ((await c.inboundEmpty()) ? true : undefined));
  // The script stops at the first file that is not clean, and tags every one it handles.
  return {
    cpuSeconds: answer.cpuSeconds,
    steadySeconds: answer.warmCpuSeconds ?? undefined,
    concurrency: 1,
    outcomes: { clean: answer.files },
    statusTags: { CLEAN: answer.files },
    problems: {},
  };
}

export async function runBatch(
  stack: Stack,
  clamd: BenchClamd,
  m: Moto3,
  spec: {
    label: string;
    files: number;
    uploadTags: Record<string, string>;
    statusTag: string;
    tls?: boolean;
    /** The naive Python script (bench/naive-worker.py) drains the batch in place of the worker. */
    naive?: boolean;
    /** Node flags after the production command's (the profile phase's --cpu-prof). */
    extraNodeArgs?: string[];
    /** A compiled CLI in place of the run's (the profile phase's source-mapped copy). */
    cli?: string;
  },
): Promise<TaggedBatch> {
  const { options } = stack;
  const { s3, sqs } = m;
  // A queue per batch: a stopped worker's last long poll lives on in moto and
  // could take a message meant for the next worker.
  const inbound = await routeNotificationsToNewQueue(s3, sqs, {
    bucket: unprocessedBucket,
    queueName: `${BENCH_RESOURCES.inboundQueueName}-${spec.label}`,
    maxReceiveCount,
    notificationId: 'bucketscan-bench',
  });
  // moto's s3:TestEvent is not a file: gone before the worker starts, so it is not counted.
  await sqs.send(new PurgeQueueCommand({ QueueUrl: inbound.url }));
  await poll(`the test event to leave ${inbound.name}`, QUEUE_FILL_TIMEOUT_MS, async () =>
    (await queueDepth(sqs, inbound.url)) === 0 ? true : undefined,
  );

  const tagging = new URLSearchParams(spec.uploadTags).toString();
  stack.progress(
    `requests-tagged: uploading ${spec.files} x ${options.networkKiB} KiB to moto${tagging ? `, tagged ${tagging}` : ', untagged'}`,
  );
  const versions: Array<{ key: string; versionId: string }> = new Array(spec.files);
  await inParallel(spec.files, 8, async (i) => {
    const key = benchKey(`tagged-${spec.label}-${i}.bin`);
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: unprocessedBucket,
        Key: key,
        Body: randomBuffer(options.networkKiB * 1024),
        ...(tagging ? { Tagging: tagging } : {}),
      }),
    );
    if (!put.VersionId) throw new Error(`moto returned no VersionId for ${key}: the bucket is not versioned, so the worker would not tag`);
    versions[i] = { key, versionId: put.VersionId };
  });
  await poll(`${spec.files} events on ${inbound.name}`, QUEUE_FILL_TIMEOUT_MS, async () =>
    (await queueDepth(sqs, inbound.url)) >= spec.files ? true : undefined,
  );

  // Requests are counted where they arrive: at a proxy in front of moto; with
  // `tls`, the consumer reaches it through a TLS-terminating relay, as it reaches AWS.
  // The proxy itself terminates TLS (and keeps the consumer's connections alive, as
  // AWS does, though moto closes its own after every answer).
  const certificate = spec.tls ? makeCertificate(stack.runDir) : undefined;
  const proxy = await startLatencyProxy(
    m.moto.endpoint,
    0,
    undefined,
    certificate ? { key: readFileSync(certificate.key), cert: readFileSync(certificate.cert) } : undefined,
    // moto's deletes race each other (harness/aws-proxy.ts, `serialize`), and so do
    // its receives: two at once can hand out the same message (seen here, the
    // worker keeping two receives under way), where SQS hides it from the second.
    ['sqs:DeleteMessageBatch', 'sqs:DeleteMessage', 'sqs:ReceiveMessage'],
  );
  const consumer: Consumer = {
    files: spec.files,
    warmupFiles: Math.min(50, Math.floor(spec.files / 5)),
    statusTag: spec.statusTag,
    endpoint: proxy.endpoint,
    inboundUrl: `${proxy.endpoint}${new URL(inbound.url).pathname}`,
    validationUrl: `${proxy.endpoint}${new URL(m.validationUrl).pathname}`,
    inboundEmpty: async () => (await queueDepth(sqs, inbound.url)) === 0,
    caFile: certificate?.cert,
  };
  let drained: Drained;
  try {
    drained = spec.naive ? await drainWithNaiveScript(stack, clamd, consumer) : await drainWithWorker(stack, clamd, m, consumer, spec);
  } finally {
    await proxy.stop();
  }
  const counts = structuredClone(proxy.counts);
  const label = `requests-tagged ${spec.label}`;
  if ((drained.outcomes['clean'] ?? 0) !== spec.files)
    stack.errors.push(`${label}: expected ${spec.files} "clean" outcomes, got ${JSON.stringify(drained.outcomes)}`);
  if (Object.keys(drained.problems).length > 0) stack.errors.push(`${label}: worker warnings/errors ${JSON.stringify(drained.problems)}`);
  if ((await queueDepth(sqs, inbound.dlqUrl)) !== 0) stack.errors.push(`${label}: messages reached the dead-letter queue`);

  // Tagging must really have happened, or the figure is the untagged one.
  if ((drained.statusTags['CLEAN'] ?? 0) !== spec.files) {
    throw new Error(
      `${label}: the worker logged the status tag CLEAN for ${drained.statusTags['CLEAN'] ?? 0} of ${spec.files} files (${JSON.stringify(drained.statusTags)}); logs in ${stack.runDir}`,
    );
  }
  const puts = counts.attempts['S3.PutObjectTagging'] ?? 0;
  if (puts < spec.files) throw new Error(`${label}: ${puts} PutObjectTagging requests for ${spec.files} files`);
  const reads = counts.attempts['S3.GetObjectTagging'] ?? 0;
  const needsRead = Object.keys(spec.uploadTags).length > 0;
  if (needsRead ? reads < spec.files : reads > 0) {
    throw new Error(
      `${label}: ${reads} GetObjectTagging requests for ${spec.files} files uploaded ${needsRead ? 'with' : 'without'} tags of their own`,
    );
  }
  const sample = spread(spec.files, VERIFY_SAMPLE).map((i) => versions[i]!);
  const expected = expectedTags(spec.uploadTags, spec.statusTag);
  for (const { key, versionId } of sample) {
    const read = await s3.send(new GetObjectTaggingCommand({ Bucket: unprocessedBucket, Key: key, VersionId: versionId }));
    const found = JSON.stringify((read.TagSet ?? []).map((tag) => [tag.Key, tag.Value]).sort());
    if (found !== expected) throw new Error(`${label}: version ${versionId} of ${key} has tags ${found}, expected ${expected}`);
  }
  const forwarded = await queueDepth(sqs, m.validationUrl);
  if (forwarded < spec.files) stack.errors.push(`${label}: ${forwarded} forwards on the validation queue for ${spec.files} files`);
  await sqs.send(new PurgeQueueCommand({ QueueUrl: m.validationUrl }));

  const requests = summarizeRequests(counts, spec.files);
  stack.progress(
    `requests-tagged: ${spec.label}: ${requests.billablePerFile} billable requests per clean file, $${requests.usdPerMillionFiles.total} per million`,
  );
  return {
    files: spec.files,
    uploadTags: spec.uploadTags,
    concurrency: drained.concurrency,
    outcomes: drained.outcomes,
    statusTags: drained.statusTags,
    problems: drained.problems,
    verifiedVersions: sample.length,
    requests,
    tls: spec.tls === true,
    workerCpuSeconds: round(drained.cpuSeconds, 3),
    workerCpuMsPerFile: round((drained.cpuSeconds * 1000) / spec.files, 2),
    warmupFiles: consumer.warmupFiles,
    workerCpuMsPerFileWarm: round(((drained.steadySeconds ?? Number.NaN) * 1000) / (spec.files - consumer.warmupFiles), 2),
  };
}

export async function taggedRequestsPhase(stack: Stack, clamd: BenchClamd): Promise<TaggedRequestsResult> {
  const { options } = stack;
  // The phase is about tagging on: an empty SCAN_STATUS_TAG from --worker-env does not turn it off here.
  const statusTag = options.workerEnv['SCAN_STATUS_TAG'] || DEFAULT_STATUS_TAG;
  stack.progress('requests-tagged: starting moto_server (versioned bucket, its own S3 notifications)');
  const moto = await startMoto();
  let m: Moto3 | undefined;
  try {
    m = await setUp(moto);
    const untagged = await runBatch(stack, clamd, m, { label: 'untagged', files: options.taggedFiles, uploadTags: {}, statusTag });
    const pretagged = await runBatch(stack, clamd, m, {
      label: 'pretagged',
      files: options.taggedFiles,
      uploadTags: UPLOAD_TAGS,
      statusTag,
    });
    const untaggedTls = await runBatch(stack, clamd, m, {
      label: 'untagged-tls',
      files: options.taggedFiles,
      uploadTags: {},
      statusTag,
      tls: true,
    });
    // The yardstick, side by side: the naive Python script on the same kind of batch, plain and through TLS.
    const naive = await runBatch(stack, clamd, m, { label: 'naive', files: options.taggedFiles, uploadTags: {}, statusTag, naive: true });
    const naiveTls = await runBatch(stack, clamd, m, {
      label: 'naive-tls',
      files: options.taggedFiles,
      uploadTags: {},
      statusTag,
      tls: true,
      naive: true,
    });
    // More rounds of the four batches CPU is judged on, each round one after another
    // as the first: the report takes the median, as one round moves by a quarter.
    const cpuRounds: TaggedCpuRound[] = [cpuRound({ untagged, untaggedTls, naive, naiveTls })];
    for (let round = 2; round <= options.taggedRuns; round += 1) {
      stack.progress(`requests-tagged: CPU round ${round} of ${options.taggedRuns}`);
      const batch = (label: string, extra: { tls?: boolean; naive?: boolean }) =>
        runBatch(stack, clamd, m!, { label: `${label}-${round}`, files: options.taggedFiles, uploadTags: {}, statusTag, ...extra });
      cpuRounds.push(
        cpuRound({
          untagged: await batch('untagged', {}),
          untaggedTls: await batch('untagged-tls', { tls: true }),
          naive: await batch('naive', { naive: true }),
          naiveTls: await batch('naive-tls', { tls: true, naive: true }),
        }),
      );
    }
    return { fileKiB: options.networkKiB, statusTag, untagged, pretagged, untaggedTls, naive, naiveTls, cpuRounds };
  } finally {
    m?.s3.destroy();
    m?.sqs.destroy();
    await moto.stop();
  }
}
