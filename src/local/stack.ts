import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Config } from '../config/config.ts';
import type { Source } from '../pipeline/deps.ts';
import { ConfigError } from '../config/variables.ts';
import { queueNameOf, type QueueRef } from '../aws/queue.ts';
import type { Logger } from '../log/logger.ts';
import { runWorker } from '../worker/service.ts';
import { describeAddress } from '../scan/wait-ready.ts';
import { startClamd, type ClamdProcess } from './clamd-process.ts';
import { startEmulator, type Emulator, type LocalResources } from './emulator.ts';
import { runDemo } from './demo.ts';
import { errorMessage } from '../shared/errors.ts';
import type { ClamdAddress } from '../scan/clamd-client.ts';
import { initialiseSet } from '../signatures/publish.ts';
import { directoryTarget } from '../signatures/target.ts';

const DEFAULT_ENDPOINT = 'http://127.0.0.1:4566';

/** The emulator serves one endpoint for all three services; it must be on this machine. */
function localEndpoint(config: Config): URL {
  const endpoint = config.aws.sqs.endpoint ?? config.aws.s3.endpoint ?? DEFAULT_ENDPOINT;
  const url = new URL(endpoint);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new ConfigError(
      'AWS_ENDPOINT_URL',
      `the local stack serves AWS on this machine; expected http://127.0.0.1:<port>, got ${endpoint}`,
    );
  }
  return url;
}

/**
 * What the emulator creates: the first source's buckets and queues as the
 * single-bucket stack has them, and those of every further source of a sources
 * file (each bucket, its quarantine bucket, its validation queue).
 */
export function localResources(config: Config): LocalResources {
  const inbound = queueNameOf(config.queues.inbound);
  const topicName = config.queues.topicArn?.split(':').pop() ?? 'virus-notification';
  const [first, ...more] = config.sources;
  return {
    region: config.aws.sqs.region,
    unprocessedBucket: config.source.bucket,
    quarantineBucket: config.source.quarantine.bucket,
    inboundQueueName: inbound,
    deadLetterQueueName: `${inbound}-dlq`,
    validationQueueName: first?.validationQueue ? queueNameOf(first.validationQueue) : 'validation',
    topicName,
    notificationQueueName: `${topicName}-inbox`,
    maxReceiveCount: 5,
    ...(more.length > 0
      ? {
          moreSources: more.map((source) => ({
            bucket: source.bucket,
            prefix: source.prefix,
            quarantineBucket: source.quarantine.bucket,
            ...(source.validationQueue ? { validationQueueName: queueNameOf(source.validationQueue) } : {}),
          })),
        }
      : {}),
    ...(config.queues.rescan ? { rescanQueueName: queueNameOf(config.queues.rescan) } : {}),
  };
}

/** Points every service at the emulator, with the names it actually created. */
function localConfig(config: Config, emulator: Emulator, clamdAddress: Config['clamd']['address']): Config {
  const connection = (region: string) => ({
    region,
    endpoint: emulator.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const local = (queue: QueueRef): QueueRef => {
    const name = queueNameOf(queue);
    return { url: emulator.moreQueueUrls.get(name) ?? emulator.queueUrls.validation };
  };
  // Every source reports on the one local topic; its validation queue is the one the emulator made of that name.
  const sources = config.sources.map((source, index) => ({
    ...source,
    validationQueue: source.validationQueue && (index === 0 ? { url: emulator.queueUrls.validation } : local(source.validationQueue)),
    notificationTopicArn: undefined,
  }));
  const rescan = config.queues.rescan && emulator.moreQueueUrls.get(queueNameOf(config.queues.rescan));
  return {
    ...config,
    sources,
    source: sources[0]!,
    queues: {
      inbound: { url: emulator.queueUrls.inbound },
      rescan: rescan ? { url: rescan } : undefined,
      topicArn: emulator.topicArn,
    },
    aws: { s3: connection(config.aws.s3.region), sqs: connection(config.aws.sqs.region), sns: connection(config.aws.sqs.region) },
    clamd: { ...config.clamd, address: clamdAddress },
  };
}

/** A source's lines of the banner: where uploads go, where bad files go, where clean files' events go. */
function sourceLines(source: Source, index: number, count: number): string[] {
  const layout = source.keyLayout === 'submission' ? '<submission_guid>/<filename>' : '<any key>';
  const name = count === 1 ? '' : ` ${index + 1}`;
  return [
    `  unprocessed bucket${name}:${' '.repeat(Math.max(1, 2 - name.length))}s3://${source.bucket}/${source.prefix}${layout}`,
    `    quarantine:        s3://${source.quarantine.bucket}/${source.quarantine.prefix}`,
    `    validation queue:  ${source.validationQueue && 'url' in source.validationQueue ? source.validationQueue.url : '(none: clean files are only tagged)'}`,
  ];
}

function banner(config: Config, emulator: Emulator, resources: LocalResources, clamd: string): string {
  const e = emulator.endpoint;
  const env = `AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=${resources.region}`;
  const guid = '0b6f2c1e-4d2a-4c1b-9e7f-3a5d8c2b1f00';
  const uploadKey = (source: Source) => `${source.prefix}${source.keyLayout === 'submission' ? `${guid}/` : ''}hello.txt`;
  return [
    '',
    'bucketscan local stack is up',
    `  AWS endpoint (S3, SQS, SNS): ${e}   credentials test/test, region ${resources.region}`,
    ...config.sources.flatMap((source, index) => sourceLines(source, index, config.sources.length)),
    `  inbound queue:       ${emulator.queueUrls.inbound}  (dead letters: ${emulator.queueUrls.deadLetter})`,
    ...(config.queues.rescan && 'url' in config.queues.rescan ? [`  rescan queue:        ${config.queues.rescan.url}`] : []),
    `  notifications:       ${emulator.topicArn} -> ${emulator.queueUrls.notification}`,
    `  clamd:               ${clamd}`,
    '',
    'Upload a file (in another terminal):',
    `  echo hello > hello.txt && ${env} aws --endpoint-url ${e} s3 cp hello.txt s3://${config.source.bucket}/${uploadKey(config.source)}`,
    ...config.sources
      .slice(1)
      .map((source) => `  ${env} aws --endpoint-url ${e} s3 cp hello.txt s3://${source.bucket}/${uploadKey(source)}`),
    'Then see where it went:',
    `  ${env} aws --endpoint-url ${e} sqs receive-message --queue-url ${emulator.queueUrls.validation} --message-attribute-names All`,
    `  ${env} aws --endpoint-url ${e} s3 ls --recursive s3://${config.source.quarantine.bucket}/`,
    `  ${env} aws --endpoint-url ${e} sqs receive-message --queue-url ${emulator.queueUrls.notification}`,
    '',
    'Ctrl-C stops the worker (finishing work in progress), clamd and the emulator.',
    '',
  ].join('\n');
}

export interface LocalStackOptions {
  demo: boolean;
  /**
   * CUSTOM_DATABASES when it is a directory: the detection set its clamd loads
   * (an empty one is published there first if there is none), and that
   * `bucketscan signatures publish` and `bucketscan allow` reload it with.
   */
  customDatabasesDir?: string;
}

/**
 * Written while a local stack runs, so that a publish to its detection set can
 * ask its clamd to reload. Relative to the working directory, like .env.
 */
export const LOCAL_STACK_STATE = '.local/local-stack.json';

export interface LocalStackState {
  pid: number;
  clamd: ClamdAddress;
  customDatabases: string;
}

/** The running local stack's state, if one runs from this directory. */
export function readLocalStackState(path: string = LOCAL_STACK_STATE): LocalStackState | undefined {
  let state: LocalStackState;
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as LocalStackState;
  } catch {
    return undefined;
  }
  if (typeof state?.pid !== 'number' || typeof state.customDatabases !== 'string' || typeof state.clamd !== 'object') return undefined;
  try {
    process.kill(state.pid, 0);
  } catch {
    return undefined; // a stack that died without cleaning up
  }
  return state;
}

/** Who publishes to a directory: the local user. */
export function localPublisher(): string {
  return `${userInfo().username}@${hostname()}`;
}

/**
 * Everything on one machine, in the foreground: the emulator, a clamd child
 * (unless CLAMD_* names one), and the worker. Returns after `signal` aborts and
 * every child has stopped.
 */
export async function runLocalStack(config: Config, logger: Logger, signal: AbortSignal, options: LocalStackOptions): Promise<void> {
  if (config.resultBus) {
    throw new ConfigError('RESULT_EVENT_BUS', 'the local stack has no EventBridge (its emulator is fauxqs); unset it for make run');
  }
  const endpoint = localEndpoint(config);
  const resources = localResources(config);
  const port = Number(endpoint.port || 80);
  let emulator: Emulator;
  try {
    emulator = await startEmulator({
      host: endpoint.hostname === 'localhost' ? '127.0.0.1' : endpoint.hostname,
      port,
      resources,
      logger: logger.child({ component: 'emulator' }),
      sendTestEvent: true,
      notificationPrefix: config.source.prefix,
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ConfigError('AWS_ENDPOINT_URL', `port ${port} is already in use (another local stack, LocalStack or moto?)`);
    }
    throw error;
  }

  let clamd: ClamdProcess | undefined;
  let workDir: string | undefined;
  let stateWritten = false;
  try {
    if (config.queues.topicArn !== emulator.topicArn) {
      logger.warn(
        { configured: config.queues.topicArn, local: emulator.topicArn },
        'the local topic ARN differs from VIRUS_NOTIFICATION_TOPIC_ARN; using the local one',
      );
    }
    let address = config.clamd.address;
    if (!config.clamd.explicit) {
      workDir = mkdtempSync(join(tmpdir(), 'bucketscan-local-'));
      const customDatabasesDir = options.customDatabasesDir === undefined ? undefined : resolve(options.customDatabasesDir);
      if (customDatabasesDir !== undefined) await initialiseSet(directoryTarget(customDatabasesDir), localPublisher(), new Date());
      clamd = await startClamd({
        workDir,
        streamMaxBytes: config.clamd.maxFileSizeBytes,
        maxThreads: Math.max(config.tuning.concurrency, 2),
        // startClamd names its lines component=clamd itself (a second binding would repeat the key).
        logger,
        ...(customDatabasesDir === undefined ? {} : { customDatabasesDir }),
      });
      if (customDatabasesDir !== undefined) {
        const state: LocalStackState = { pid: process.pid, clamd: clamd.address, customDatabases: customDatabasesDir };
        mkdirSync(dirname(LOCAL_STACK_STATE), { recursive: true });
        writeFileSync(LOCAL_STACK_STATE, `${JSON.stringify(state)}\n`);
        stateWritten = true;
        logger.info(
          { customDatabases: customDatabasesDir },
          'clamd loads the detection set published there (bucketscan signatures publish, bucketscan allow)',
        );
      }
      address = clamd.address;
      if (clamd.testSignaturesOnly) {
        logger.warn(
          { databaseDir: clamd.databaseDir },
          'clamd has ONLY the project test signatures (EICAR and a test marker): it will NOT detect real malware. ' +
            'Install the official database (freshclam) to scan for real.',
        );
      }
    }
    const local = localConfig(config, emulator, address);
    process.stderr.write(banner(local, emulator, resources, `${describeAddress(address)}${clamd ? ' (started by bucketscan)' : ''}`));

    const worker = runWorker(local, logger, signal);
    if (options.demo) {
      void runDemo(local, emulator, signal).then(
        (lines) => process.stderr.write(`${lines.join('\n')}\n\n`),
        (error: unknown) => logger.error({ error: errorMessage(error) }, 'demo failed'),
      );
    }
    await worker;
  } finally {
    if (stateWritten) rmSync(LOCAL_STACK_STATE, { force: true });
    await clamd?.stop();
    await emulator.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  }
}
