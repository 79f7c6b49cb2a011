import { Server } from 'node:net';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../log/logger.ts';
import { startNotificationBridge, type NotificationBridge } from './notification-bridge.ts';
import { buildTestEvent } from '../events/s3-event.ts';

/**
 * The AWS side of the local stack: an in-process S3/SQS/SNS emulator holding the
 * same buckets, queues and topic the worker uses in AWS, wired the way the
 * infrastructure wires them (inbound queue with a redrive policy, topic fanned out
 * to a queue, bucket notifications on the unprocessed bucket).
 */

export interface LocalResources {
  region: string;
  unprocessedBucket: string;
  quarantineBucket: string;
  inboundQueueName: string;
  /** Conventionally `${inboundQueueName}-dlq`. */
  deadLetterQueueName: string;
  validationQueueName: string;
  topicName: string;
  /** Subscribed to the topic so published notifications can be read, e.g. `${topicName}-inbox`. */
  notificationQueueName: string;
  /** Receives of one message before the inbound queue hands it to the dead-letter queue. */
  maxReceiveCount: number;
  /**
   * More sources (a sources file's, beyond the first, which is unprocessedBucket):
   * each bucket is created with its quarantine bucket and validation queue, and
   * its uploads raise events on the inbound queue like the first one's.
   */
  moreSources?: LocalSource[];
  /** A rescan queue (RESCAN_QUEUE) to create, with its own dead-letter queue. */
  rescanQueueName?: string;
}

/** One more source of the local stack. */
export interface LocalSource {
  bucket: string;
  /** Only keys under it raise events, as with a notification rule's prefix filter. */
  prefix: string;
  quarantineBucket: string;
  validationQueueName?: string;
}

/** The names the committed .env uses; tests and benchmarks start from these. */
export const DEFAULT_RESOURCES: LocalResources = {
  region: 'us-east-1',
  unprocessedBucket: 'unprocessed',
  quarantineBucket: 'quarantine',
  inboundQueueName: 'virus-scanning',
  deadLetterQueueName: 'virus-scanning-dlq',
  validationQueueName: 'validation',
  topicName: 'virus-notification',
  notificationQueueName: 'virus-notification-inbox',
  maxReceiveCount: 5,
};

export interface StartEmulatorOptions {
  /** The address clients are told to use (endpoint and queue URLs). Default 127.0.0.1. */
  host?: string;
  /**
   * The address the server listens on. Default 127.0.0.1: the emulator accepts
   * well-known credentials, so nothing off this machine should reach it. A
   * container that publishes it through a port mapping needs 0.0.0.0.
   */
  bindHost?: string;
  /** 0 picks a free port, which is what tests want. */
  port: number;
  resources: LocalResources;
  logger: Logger;
  /**
   * Queue the s3:TestEvent S3 sends when a notification configuration is saved, so
   * the consumer meets it locally as it would after a deployment.
   */
  sendTestEvent?: boolean;
  /** Mirrors a prefix filter on the bucket's notification rule (UNPROCESSED_PREFIX). */
  notificationPrefix?: string;
  /**
   * false: no bucket notifications at all, as for a bucket whose events reach the
   * queue some other way (tests that hand-build messages). Default true.
   */
  notifications?: boolean;
}

export type QueueRole = 'inbound' | 'deadLetter' | 'validation' | 'notification';

export interface Emulator {
  server: FauxqsServer;
  /** e.g. http://127.0.0.1:4566; S3 clients need path-style addressing against it. */
  endpoint: string;
  topicArn: string;
  queueUrls: Record<QueueRole, string>;
  /** The queues of moreSources and the rescan queue, by name. */
  moreQueueUrls: Map<string, string>;
  bridge: NotificationBridge;
  stop(): Promise<void>;
}

const DEFAULT_HOST = '127.0.0.1';

export async function startEmulator(options: StartEmulatorOptions): Promise<Emulator> {
  const { resources, logger } = options;
  const server = await listeningOn(options.bindHost ?? DEFAULT_HOST, () =>
    startFauxqs({
      port: options.port,
      logger: false,
      // Resources created through the server object land in this region, so their ARNs
      // match what SDK clients configured with the same region look up.
      defaultRegion: resources.region,
      // The bridge only listens to the spy; the buffer is for ad-hoc inspection.
      messageSpies: { bufferSize: 100 },
      // An explicit (empty) init keeps a FAUXQS_INIT in the environment from adding
      // resources behind our back.
      init: {},
    }),
  );

  let s3: S3Client | undefined;
  try {
    const endpoint = `http://${formatHost(options.host ?? DEFAULT_HOST)}:${server.port}`;
    const queueUrls = createResources(server, resources, endpoint);
    const moreQueueUrls = createMoreResources(server, resources, endpoint);
    const { topicArn } = server.createTopic(resources.topicName);
    // Raw delivery stays off: the inbox receives the SNS envelope, as an SQS
    // subscriber in AWS would.
    server.subscribe({ topic: resources.topicName, queue: resources.notificationQueueName });

    s3 = new S3Client({
      endpoint,
      region: resources.region,
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    if (options.sendTestEvent === true) {
      server.sendMessage(resources.inboundQueueName, JSON.stringify(buildTestEvent(resources.unprocessedBucket)));
    }
    const bridgeClient = s3;
    const bridges: NotificationBridge[] =
      options.notifications === false
        ? []
        : [
            { bucket: resources.unprocessedBucket, prefix: options.notificationPrefix },
            ...(resources.moreSources ?? []).map(({ bucket, prefix }) => ({ bucket, prefix })),
          ].map(({ bucket, prefix }) =>
            startNotificationBridge({
              server,
              s3: bridgeClient,
              bucket,
              queueName: resources.inboundQueueName,
              region: resources.region,
              prefix,
              logger,
            }),
          );
    const bridge: NotificationBridge = {
      stop: () => {
        for (const one of bridges) one.stop();
      },
      idle: async () => {
        await Promise.all(bridges.map((one) => one.idle()));
      },
    };

    logger.info({ endpoint, queueUrls, topicArn }, 'local AWS emulator started');
    let stopping: Promise<void> | undefined;
    return {
      server,
      endpoint,
      topicArn,
      queueUrls,
      moreQueueUrls,
      bridge,
      stop() {
        stopping ??= (async () => {
          bridge.stop();
          // Let observed uploads reach the queue; their HEADs need the server up.
          await bridge.idle();
          bridgeClient.destroy();
          await server.stop();
        })();
        return stopping;
      },
    };
  } catch (error) {
    s3?.destroy();
    await server.stop();
    throw error;
  }
}

/**
 * fauxqs 2.4.1 passes host "0.0.0.0" to its HTTP server's listen() and has no
 * option for another address. While it starts, listen() calls that ask for every
 * interface are pointed at `host` instead; the tests read the listening socket's
 * address (not this code's intent) to show that it worked.
 */
async function listeningOn<T>(host: string, start: () => Promise<T>): Promise<T> {
  if (host === '0.0.0.0') return start();
  const original = Server.prototype.listen;
  const rewrite = (value: unknown) => (value === '0.0.0.0' || value === '::' ? host : value);
  Server.prototype.listen = function listen(this: Server, ...args: unknown[]) {
    const [first] = args;
    if (first !== null && typeof first === 'object' && 'port' in first) {
      args[0] = { ...first, host: rewrite((first as { host?: unknown }).host) };
    } else if (typeof first === 'number' && typeof args[1] === 'string') {
      args[1] = rewrite(args[1]);
    }
    return (original as (...a: unknown[]) => Server).apply(this, args);
  } as typeof Server.prototype.listen;
  try {
    return await start();
  } finally {
    Server.prototype.listen = original;
  }
}

function createResources(server: FauxqsServer, resources: LocalResources, endpoint: string): Record<QueueRole, string> {
  server.createBucket(resources.unprocessedBucket);
  server.createBucket(resources.quarantineBucket);

  const deadLetter = server.createQueue(resources.deadLetterQueueName);
  const inbound = server.createQueue(resources.inboundQueueName, {
    attributes: {
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: deadLetter.queueArn,
        maxReceiveCount: resources.maxReceiveCount,
      }),
    },
  });
  const validation = server.createQueue(resources.validationQueueName);
  const notification = server.createQueue(resources.notificationQueueName);

  return {
    inbound: reachableQueueUrl(inbound.queueUrl, endpoint),
    deadLetter: reachableQueueUrl(deadLetter.queueUrl, endpoint),
    validation: reachableQueueUrl(validation.queueUrl, endpoint),
    notification: reachableQueueUrl(notification.queueUrl, endpoint),
  };
}

/** The buckets and queues of moreSources and the rescan queue; each bucket and queue once. */
function createMoreResources(server: FauxqsServer, resources: LocalResources, endpoint: string): Map<string, string> {
  const buckets = new Set([resources.unprocessedBucket, resources.quarantineBucket]);
  const queues = new Map<string, string>();
  const createQueue = (name: string, attributes?: Record<string, string>) => {
    if (queues.has(name) || name === resources.validationQueueName || name === resources.inboundQueueName) return;
    const created = server.createQueue(name, attributes ? { attributes } : undefined);
    queues.set(name, reachableQueueUrl(created.queueUrl, endpoint));
    return created;
  };
  for (const source of resources.moreSources ?? []) {
    for (const bucket of [source.bucket, source.quarantineBucket]) {
      if (!buckets.has(bucket)) server.createBucket(bucket);
      buckets.add(bucket);
    }
    if (source.validationQueueName) createQueue(source.validationQueueName);
  }
  if (resources.rescanQueueName) {
    const deadLetter = createQueue(`${resources.rescanQueueName}-dlq`);
    createQueue(resources.rescanQueueName, {
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetter?.queueArn, maxReceiveCount: resources.maxReceiveCount }),
    });
  }
  return queues;
}

/**
 * fauxqs names queues http://sqs.<region>.localhost:<port>/<account>/<name>, and
 * *.localhost does not resolve everywhere (plain glibc without systemd-resolved, for
 * one). It finds a queue by the URL's path alone, so the same path under the
 * endpoint works for any client, including SDK clients that have no endpoint set
 * and send to the queue URL's host.
 */
function reachableQueueUrl(emulatorUrl: string, endpoint: string): string {
  return `${endpoint}${new URL(emulatorUrl).pathname}`;
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
