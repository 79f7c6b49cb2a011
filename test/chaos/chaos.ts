/**
 * One chaos run on the real local components: the emulator over HTTP behind a
 * fault-injecting proxy, a real clamd, and `bucketscan worker` as a separate
 * process. Files are uploaded while the worker is SIGKILLed and restarted, clamd
 * is killed and restarted, and S3/SQS/SNS fail in the ways the proxy knows; once
 * the inbound queue has nothing left, the end state is checked exactly.
 *
 * Nothing here sleeps to synchronise: the run waits for observable state (the
 * recording of what the emulator did, the queue's own contents) with deadlines.
 * The chaos moments are tied to progress (the share of files whose outcome is
 * complete), drawn from the seed, so every run has its kills spread over the work
 * whatever the machine's speed.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, hostname, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_RESOURCES, startEmulator, type Emulator, type LocalResources } from '../../src/local/emulator.ts';
import { startClamd, type ClamdProcess } from '../../src/local/clamd-process.ts';
import { createLogger } from '../../src/log/logger.ts';
import { buildCorpus, type CorpusFile } from './corpus.ts';
import { DEFAULT_POLICY, startFaultProxy, type FaultProxy, type ProxyStats, type Service } from '../../harness/aws-proxy.ts';
import { Random } from '../../harness/random.ts';
import { startFakeClamd } from '../support/fake-clamd.ts';
import { startRecorder, type Recording } from './recorder.ts';
import { verify, type EndState, type StoredObject, type Verdict } from './verify.ts';
import { superviseWorker, type Exit, type Supervisor, type WorkerStats } from './worker-process.ts';
import { freePort } from '../../src/local/free-port.ts';

export interface ChaosOptions {
  files: number;
  /** Worker SIGKILLs. */
  kills: number;
  /** clamd SIGKILLs (each followed by a restart on the same port). */
  clamdKills: number;
  /** Windows in which every request to one service fails. */
  outages: number;
  /** How long an outage window lasts, drawn from [min, max] milliseconds. */
  outageMs: [number, number];
  /** How long clamd stays down after each kill, drawn from [min, max] milliseconds. */
  clamdDownMs: [number, number];
  seed: number;
  /** Share of requests that get a fault, outside outage windows. */
  faultRate: number;
  /** Share of requests that are slowed down. */
  delayRate: number;
  concurrency: number;
  /** VISIBILITY_TIMEOUT for the worker, seconds (10 at least). */
  visibilityTimeout: number;
  maxFileSizeMb: number;
  /** The inbound queue's redrive maxReceiveCount. */
  maxReceiveCount: number;
  /** Guard against hanging: the whole run, uploads to final check. */
  deadlineMs: number;
  /**
   * 'clamd' (the default): a real clamd. 'lying': a fake that calls every stream
   * clean, to check that the checker catches a worker that forwards infected files.
   */
  scanner?: 'clamd' | 'lying';
  /** Where logs go; a fresh temporary directory when absent. */
  runDir?: string;
  /** Progress lines (stderr in the CLI). */
  say?: (line: string) => void;
}

export const DEFAULTS: Omit<ChaosOptions, 'seed'> = {
  files: 400,
  kills: 8,
  clamdKills: 1,
  outages: 4,
  outageMs: [1_500, 4_000],
  clamdDownMs: [2_000, 5_000],
  faultRate: DEFAULT_POLICY.rate,
  delayRate: DEFAULT_POLICY.delayRate,
  concurrency: 4,
  visibilityTimeout: 10,
  maxFileSizeMb: 5,
  maxReceiveCount: 50,
  deadlineMs: 9 * 60_000,
};

export interface TimelineEntry {
  atMs: number;
  progress: number;
  event: string;
}

export interface ChaosResult {
  options: ChaosOptions;
  startedAt: Date;
  durationMs: number;
  /** The inbound queue drained (and every file's event was queued) before the deadline. */
  settled: boolean;
  corpus: { files: number; bytes: number; byVariant: Record<string, number> };
  verdict: Verdict;
  proxy: ProxyStats;
  worker: WorkerStats;
  /** How the last worker ended on the final SIGTERM. */
  finalExit: Exit;
  clamd: { kills: number; restarts: number; downtimeMs: number[] };
  outagesDone: number;
  timeline: TimelineEntry[];
  machine: Record<string, string>;
  runDir: string;
  /** Why the run fails; empty when every guarantee held. */
  failures: string[];
  workerTail: string[];
  exampleProblems: string[];
}

const QUARANTINE_PREFIX = 'infected/';

function resourcesFor(options: ChaosOptions): LocalResources {
  return { ...DEFAULT_RESOURCES, maxReceiveCount: options.maxReceiveCount };
}

/** Runs `work` over `items` with at most `limit` at once. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** Files whose expected outcome is complete in the recording: the progress the chaos is tied to. */
function completed(corpus: readonly CorpusFile[], recording: Recording): number {
  const forwarded = new Set(recording.forwards.map((f) => f.key));
  const notified = new Set(recording.notifications.map((n) => n.key));
  let done = 0;
  for (const file of corpus) {
    if (file.expect === 'clean') {
      if (forwarded.has(file.key)) done++;
    } else if (file.expect === 'infected' || file.expect === 'too-large') {
      const objectKey = `${QUARANTINE_PREFIX}${file.key}`;
      if (
        notified.has(file.key) &&
        (recording.unprocessedDeletes.get(file.key) ?? 0) > 0 &&
        recording.quarantineWrites.has(objectKey) &&
        recording.quarantineWrites.has(`${objectKey}.report.json`)
      ) {
        done++;
      }
    }
  }
  return done;
}

function machine(): Record<string, string> {
  const cpu = cpus();
  return {
    host: hostname(),
    os: `${platform()} ${release()}`,
    cpus: `${cpu.length} x ${cpu[0]?.model ?? 'unknown'}`,
    memory: `${Math.round(totalmem() / 1024 ** 3)} GiB`,
    node: process.version,
    clamd: clamdVersion(),
    code: codeVersion(),
  };
}

/** The commit the worker ran from, and whether src/ had uncommitted changes. */
function codeVersion(): string {
  const cwd = fileURLToPath(new URL('../..', import.meta.url));
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8' });
  if (head.status !== 0) return 'unknown';
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src'], { cwd, encoding: 'utf8' });
  return `commit ${head.stdout.trim()}${dirty.stdout.trim() ? ' with uncommitted changes in src/' : ''}`;
}

function clamdVersion(): string {
  for (const candidate of ['/usr/sbin/clamd', '/usr/local/sbin/clamd', 'clamd']) {
    const result = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (result.status === 0) return `${result.stdout.trim()} (test signatures only)`;
  }
  return 'unknown';
}

async function listBucket(s3: S3Client, bucket: string): Promise<Map<string, StoredObject>> {
  const objects = new Map<string, StoredObject>();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const object of page.Contents ?? []) {
      if (object.Key) objects.set(object.Key, { key: object.Key, eTag: object.ETag ?? '', size: object.Size ?? 0 });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects;
}

function queueDepth(emulator: Emulator, name: string): { ready: number; delayed: number; inflight: number } {
  const state = emulator.server.inspectQueue(name);
  if (!state) return { ready: 0, delayed: 0, inflight: 0 };
  return { ready: state.messages.ready.length, delayed: state.messages.delayed.length, inflight: state.messages.inflight.length };
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const say = options.say ?? (() => undefined);
  const startedAt = new Date();
  const t0 = performance.now();
  const elapsed = () => Math.round(performance.now() - t0);
  const deadline = t0 + options.deadlineMs;
  const runDir = options.runDir ?? mkdtempSync(join(tmpdir(), `bucketscan-chaos-${options.seed}-`));
  mkdirSync(runDir, { recursive: true });
  const resources = resourcesFor(options);
  // The emulator's and clamd's warnings go to stderr with the progress lines; stdout carries the figures.
  const quiet = createLogger('warn', 'chaos', process.stderr);
  const maxFileSizeBytes = Math.floor(options.maxFileSizeMb * 1024 * 1024);

  // Independent random streams, so that e.g. a change to the corpus leaves the fault sequence alone.
  const corpusRandom = new Random(options.seed, 1);
  const faultRandom = new Random(options.seed, 2);
  const scheduleRandom = new Random(options.seed, 3);

  const corpus = buildCorpus({ files: options.files, maxFileSizeBytes, random: corpusRandom });
  const validCount = corpus.filter((file) => file.expect !== 'invalid').length;
  const byVariant: Record<string, number> = {};
  for (const file of corpus) byVariant[file.variant] = (byVariant[file.variant] ?? 0) + 1;
  const bytes = corpus.reduce((sum, file) => sum + file.size, 0);
  say(`seed ${options.seed}: ${corpus.length} files (${(bytes / 1024 / 1024).toFixed(1)} MiB), run directory ${runDir}`);

  // The schedule, drawn up front: progress thresholds at which each chaos action fires.
  const thresholds = (count: number, low: number, high: number) =>
    Array.from({ length: count }, () => scheduleRandom.between(low, high)).sort((a, b) => a - b);
  const killPlan = thresholds(options.kills, 0.02, 0.95).map((at) => ({ at, jitterMs: scheduleRandom.int(0, 1500) }));
  const clamdPlan = thresholds(options.scanner === 'lying' ? 0 : options.clamdKills, 0.2, 0.7).map((at) => ({
    at,
    downMs: scheduleRandom.int(...options.clamdDownMs),
  }));
  const services: Service[] = ['s3', 'sqs', 'sns'];
  const outagePlan = thresholds(options.outages, 0.05, 0.9).map((at) => ({
    at,
    service: scheduleRandom.pick(services),
    durationMs: scheduleRandom.int(...options.outageMs),
    style: scheduleRandom.pick(['unavailable', 'throttle'] as const),
  }));

  const timeline: TimelineEntry[] = [];
  let progress = 0;
  const note = (event: string) => {
    timeline.push({ atMs: elapsed(), progress, event });
    say(`[${(elapsed() / 1000).toFixed(1)}s ${(progress * 100).toFixed(0)}%] ${event}`);
  };

  const emulator = await startEmulator({ port: 0, resources, logger: quiet });
  const recorder = startRecorder(emulator.server, {
    unprocessedBucket: resources.unprocessedBucket,
    quarantineBucket: resources.quarantineBucket,
    inboundQueue: resources.inboundQueueName,
    validationQueue: resources.validationQueueName,
    notificationQueue: resources.notificationQueueName,
    topicName: resources.topicName,
  });
  const { recording } = recorder;
  const direct = new S3Client({
    region: resources.region,
    endpoint: emulator.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  let proxy: FaultProxy | undefined;
  let supervisor: Supervisor | undefined;
  let clamd: ClamdProcess | undefined;
  let lying: Awaited<ReturnType<typeof startFakeClamd>> | undefined;
  const clamdDir = join(runDir, 'clamd');
  const emptyOfficial = join(runDir, 'no-official-db');
  mkdirSync(emptyOfficial, { recursive: true });
  const clamdStats = { kills: 0, restarts: 0, downtimeMs: [] as number[] };
  let finished = false;
  let closeFaultLog = async () => {};

  try {
    const faultLog = createWriteStream(join(runDir, 'faults.log'));
    closeFaultLog = () => new Promise<void>((resolve) => faultLog.end(resolve));
    proxy = await startFaultProxy({
      target: emulator.endpoint,
      random: faultRandom,
      onFault: (event) => faultLog.write(`${new Date().toISOString()} ${JSON.stringify(event)}\n`),
      policy: { ...DEFAULT_POLICY, rate: options.faultRate, delayRate: options.delayRate },
    });
    // A fixed port, so that clamd can come back where the worker expects it.
    if (options.scanner === 'lying') {
      lying = await startFakeClamd('lie');
      note(`a LYING clamd on port ${lying.port}: every stream is "clean"`);
    }
    const clamdPort = lying?.port ?? (await freePort());
    const launchClamd = () =>
      startClamd({
        workDir: clamdDir,
        port: clamdPort,
        streamMaxBytes: maxFileSizeBytes,
        maxThreads: Math.max(10, options.concurrency * 2),
        // Test signatures only: a restart takes a second instead of loading the official database.
        officialDatabaseDir: emptyOfficial,
        logger: quiet,
        readyTimeoutMs: 60_000,
      });
    if (!lying) {
      clamd = await launchClamd();
      note(`clamd up on 127.0.0.1:${clamdPort} (pid ${clamd.pid})`);
    }
    note(`proxy ${proxy.endpoint} -> emulator ${emulator.endpoint}`);

    supervisor = superviseWorker({
      runDir,
      env: {
        UNPROCESSED_BUCKET_NAME: resources.unprocessedBucket,
        QUARANTINE_BUCKET_NAME: resources.quarantineBucket,
        QUARANTINE_PREFIX,
        VIRUS_SCANNING_QUEUE_NAME: resources.inboundQueueName,
        VALIDATION_QUEUE_NAME: resources.validationQueueName,
        VIRUS_NOTIFICATION_TOPIC_ARN: emulator.topicArn,
        AWS_REGION: resources.region,
        AWS_ENDPOINT_URL: proxy.endpoint,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        CLAMD_HOST: '127.0.0.1',
        CLAMD_PORT: String(clamdPort),
        CLAMD_TIMEOUT: '30',
        CONCURRENCY: String(options.concurrency),
        VISIBILITY_TIMEOUT: String(options.visibilityTimeout),
        RECEIVE_WAIT_TIME: '1',
        SHUTDOWN_TIMEOUT: '10',
        MAX_FILE_SIZE: String(options.maxFileSizeMb),
        LOG_LEVEL: 'info',
      },
    });
    const worker = supervisor;

    // Uploads go straight to the emulator: the chaos is for the worker.
    let uploaded = 0;
    const uploads = pool(corpus, 8, async (file) => {
      await direct.send(new PutObjectCommand({ Bucket: resources.unprocessedBucket, Key: file.key, Body: file.content() }));
      uploaded++;
    }).then(async () => {
      await emulator.bridge.idle();
      note(`all ${uploaded} files uploaded`);
    });
    let uploadsDone = false;
    let uploadError: unknown;
    uploads.then(
      () => {
        uploadsDone = true;
      },
      (error: unknown) => {
        uploadError = error;
      },
    );

    // Each chaos task says which progress point it waits for next and whether it is
    // in the middle of an action, so the run cannot end with an action due but not done.
    interface Task {
      nextAt: number;
      busy: boolean;
    }
    const tasks: Task[] = [];
    const task = (): Task => {
      const created = { nextAt: Infinity, busy: false };
      tasks.push(created);
      return created;
    };
    const untilProgress = async (state: Task, at: number): Promise<boolean> => {
      state.nextAt = at;
      state.busy = false;
      while (!finished && progress < at) await delay(50);
      state.busy = true;
      return !finished;
    };
    const actionDue = () => tasks.some((t) => t.busy || t.nextAt <= progress);

    const killerTask = task();
    const killer = (async () => {
      for (const step of killPlan) {
        if (!(await untilProgress(killerTask, step.at))) return;
        await delay(step.jitterMs);
        while (!finished && !worker.alive()) await delay(50);
        if (finished) return;
        note(
          `SIGKILL worker #${worker.stats.started} (kill ${worker.stats.kills + 1}/${options.kills}, planned at ${(step.at * 100).toFixed(0)}%)`,
        );
        await worker.kill();
      }
    })().finally(() => {
      killerTask.nextAt = Infinity;
      killerTask.busy = false;
    });

    const clamdTask = task();
    const clamdKiller = (async () => {
      for (const step of clamdPlan) {
        if (!(await untilProgress(clamdTask, step.at))) return;
        const running = clamd!;
        note(`SIGKILL clamd (pid ${running.pid}); back in ${step.downMs} ms`);
        const downAt = performance.now();
        process.kill(running.pid, 'SIGKILL');
        await running.exited;
        clamdStats.kills++;
        await delay(step.downMs);
        for (let attempt = 1; ; attempt++) {
          try {
            clamd = await launchClamd();
            break;
          } catch (error) {
            // The old socket may linger a moment; anything else after a few tries is a real failure.
            if (attempt >= 5) throw error;
            await delay(500);
          }
        }
        clamdStats.restarts++;
        clamdStats.downtimeMs.push(Math.round(performance.now() - downAt));
        note(`clamd back (pid ${clamd.pid}) after ${clamdStats.downtimeMs.at(-1)} ms`);
      }
    })().finally(() => {
      clamdTask.nextAt = Infinity;
      clamdTask.busy = false;
    });

    let outagesDone = 0;
    const outageTask = task();
    const outages = (async () => {
      for (const step of outagePlan) {
        if (!(await untilProgress(outageTask, step.at))) return;
        note(`${step.service.toUpperCase()} outage (${step.style}) for ${step.durationMs} ms`);
        proxy!.startOutage(step.service, step.durationMs, step.style);
        outagesDone++;
      }
    })().finally(() => {
      outageTask.nextAt = Infinity;
      outageTask.busy = false;
    });

    // Wait for the end: every file's event queued, nothing left on the inbound
    // queue (ready, delayed or in flight), clamd up, a worker running.
    let settled = false;
    let lastReport = 0;
    let clamdError: unknown;
    clamdKiller.catch((error: unknown) => {
      clamdError = error;
    });
    for (;;) {
      if (uploadError) throw uploadError;
      if (clamdError) throw clamdError;
      progress = validCount === 0 ? 1 : completed(corpus, recording) / validCount;
      const depth = queueDepth(emulator, resources.inboundQueueName);
      const queued = [...recording.inboundEvents.values()].reduce((a, b) => a + b, 0);
      const empty = depth.ready + depth.delayed + depth.inflight === 0;
      if (uploadsDone && queued >= corpus.length && empty && !actionDue() && worker.ready()) {
        settled = true;
        break;
      }
      if (performance.now() > deadline) break;
      if (elapsed() - lastReport >= 5_000) {
        lastReport = elapsed();
        const faults = Object.values(proxy.stats.faults).reduce((a, b) => a + b, 0);
        say(
          `[${(elapsed() / 1000).toFixed(1)}s] progress ${(progress * 100).toFixed(1)}% · uploaded ${uploaded}/${corpus.length} · ` +
            `inbound ready ${depth.ready} delayed ${depth.delayed} in flight ${depth.inflight} · kills ${worker.stats.kills}/${options.kills} · ` +
            `faults ${faults} · outcomes ${JSON.stringify(worker.stats.outcomes)}`,
        );
      }
      await delay(100);
    }
    finished = true;
    await Promise.allSettled([killer, outages]);
    await clamdKiller;
    note(settled ? 'inbound queue drained: stopping the worker (SIGTERM)' : 'DEADLINE reached before the queue drained');
    const finalExit = await worker.stop(20_000);
    note(`worker exited: code ${finalExit.code}, signal ${finalExit.signal}`);

    // The end state, read from the emulator directly.
    const unprocessed = await listBucket(direct, resources.unprocessedBucket);
    const quarantine = await listBucket(direct, resources.quarantineBucket);
    const reports = new Map<string, unknown>();
    for (const key of quarantine.keys()) {
      if (!key.endsWith('.report.json')) continue;
      const response = await direct.send(new GetObjectCommand({ Bucket: resources.quarantineBucket, Key: key }));
      const text = await response.Body!.transformToString('utf8');
      try {
        reports.set(key, JSON.parse(text));
      } catch {
        reports.set(key, text);
      }
    }
    const inbound = queueDepth(emulator, resources.inboundQueueName);
    const dlq = queueDepth(emulator, resources.deadLetterQueueName);
    const state: EndState = {
      unprocessed,
      quarantine,
      reports,
      inboundLeft: inbound.ready + inbound.delayed + inbound.inflight,
      deadLetterLeft: dlq.ready + dlq.delayed + dlq.inflight,
    };
    const verdict = verify(corpus, state, recording, QUARANTINE_PREFIX);

    const failures: string[] = [];
    if (!settled) failures.push(`the inbound queue did not drain within ${options.deadlineMs} ms`);
    if (verdict.lost > 0) failures.push(`${verdict.lost} file(s) lost`);
    if (verdict.misplaced > 0) failures.push(`${verdict.misplaced} file(s) misplaced`);
    if (verdict.misreported > 0) failures.push(`${verdict.misreported} file(s) misreported`);
    if (verdict.infectedForwarded > 0) failures.push(`${verdict.infectedForwarded} infected or unscanned file(s) FORWARDED`);
    if (verdict.deadLettered > 0) failures.push(`${verdict.deadLettered} message(s) reached the dead-letter queue`);
    if (verdict.strays.length > 0)
      failures.push(`${verdict.strays.length} stray effect(s) (forwards, notifications or quarantine objects of no file)`);
    if (verdict.inboxDeliveries !== verdict.notifications) {
      failures.push(`${verdict.notifications} notifications published but ${verdict.inboxDeliveries} delivered to the subscribed queue`);
    }
    if (finalExit.code !== 0) failures.push(`the worker did not exit 0 on SIGTERM (code ${finalExit.code}, signal ${finalExit.signal})`);

    const exampleProblems = verdict.problems.slice(0, 40).map((p) => `${p.kind}: ${p.key} [${p.variant}]: ${p.detail}`);
    return {
      options,
      startedAt,
      durationMs: elapsed(),
      settled,
      corpus: { files: corpus.length, bytes, byVariant },
      verdict,
      proxy: proxy.stats,
      worker: worker.stats,
      finalExit,
      clamd: clamdStats,
      outagesDone,
      timeline,
      machine: machine(),
      runDir,
      failures,
      workerTail: worker.tail(),
      exampleProblems,
    };
  } finally {
    finished = true;
    recorder.stop();
    if (supervisor?.alive()) await supervisor.stop(5_000).catch(() => undefined);
    await clamd?.stop().catch(() => undefined);
    await lying?.stop().catch(() => undefined);
    await proxy?.stop().catch(() => undefined);
    await closeFaultLog();
    direct.destroy();
    await emulator.stop().catch(() => undefined);
    rmSync(clamdDir, { recursive: true, force: true });
    rmSync(emptyOfficial, { recursive: true, force: true });
  }
}
