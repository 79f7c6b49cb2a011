/**
 * The local AWS emulator on its own: fauxqs plus the S3 -> SQS notification
 * bridge, with the buckets, queues and topic the worker expects, and nothing
 * else. It is the `emulator` service of compose.yaml (images/emulator/Dockerfile),
 * for trying the worker and clamd containers without an AWS account.
 *
 * Resource names come from the worker's own variables (UNPROCESSED_BUCKET_NAME,
 * VIRUS_SCANNING_QUEUE_NAME, ...) with the committed .env's values as defaults, so
 * the same names work on both sides. Two settings of its own:
 *   EMULATOR_PORT       listening port, default 4566
 *   EMULATOR_BIND_HOST  listening address, default 127.0.0.1. The image sets
 *                       0.0.0.0: a container's loopback is its own, so a port
 *                       mapping (published to the host's 127.0.0.1 by
 *                       compose.yaml) and the other containers reach it only
 *                       through its network interface.
 * Runs until SIGTERM/SIGINT, then stops and exits 0. Everything is in memory.
 */
import { isIP } from 'node:net';
import { readConfig } from '../config/config.ts';
import { SINGLE_SOURCE_VARIABLES } from '../config/source.ts';
import { ConfigError } from '../config/variables.ts';
import { readEnvironment, type Env } from '../config/env-file.ts';
import { shutdownSignal } from '../shared/shutdown.ts';
import { createLogger } from '../log/logger.ts';
import { DEFAULT_RESOURCES, startEmulator } from './emulator.ts';
import { localResources } from './stack.ts';

const DEFAULT_PORT = 4566;

/** The committed .env's names, which a worker pointed at this emulator uses unless told otherwise. */
const DEFAULTS: Env = {
  UNPROCESSED_BUCKET_NAME: DEFAULT_RESOURCES.unprocessedBucket,
  QUARANTINE_BUCKET_NAME: DEFAULT_RESOURCES.quarantineBucket,
  VIRUS_SCANNING_QUEUE_NAME: DEFAULT_RESOURCES.inboundQueueName,
  VALIDATION_QUEUE_NAME: DEFAULT_RESOURCES.validationQueueName,
  VIRUS_NOTIFICATION_TOPIC_ARN: `arn:aws:sns:${DEFAULT_RESOURCES.region}:000000000000:${DEFAULT_RESOURCES.topicName}`,
  AWS_REGION: DEFAULT_RESOURCES.region,
};

interface EmulatorSettings {
  port: number;
  bindHost: string;
}

/** EMULATOR_PORT and EMULATOR_BIND_HOST, checked; a bad value is a ConfigError naming the variable. */
function emulatorSettings(env: Env): EmulatorSettings {
  const portText = env['EMULATOR_PORT']?.trim() || String(DEFAULT_PORT);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new ConfigError('EMULATOR_PORT', `must be a port number from 1 to 65535, got "${portText}"`);
  }
  const bindHost = env['EMULATOR_BIND_HOST']?.trim() || '127.0.0.1';
  if (isIP(bindHost) === 0) {
    throw new ConfigError('EMULATOR_BIND_HOST', `must be an IP address such as 127.0.0.1 or 0.0.0.0, got "${bindHost}"`);
  }
  return { port, bindHost };
}

async function main(): Promise<void> {
  const real = readEnvironment();
  const set = Object.fromEntries(Object.entries(real).filter(([, value]) => value !== undefined && value.trim() !== ''));
  // A sources file names every bucket: the single-bucket defaults step aside.
  const defaults = set['SOURCES_FILE']
    ? Object.fromEntries(Object.entries(DEFAULTS).filter(([name]) => !(SINGLE_SOURCE_VARIABLES as readonly string[]).includes(name)))
    : DEFAULTS;
  const config = await readConfig({ ...defaults, ...set });
  const settings = emulatorSettings(real);
  const logger = createLogger(config.log.level, 'emulator', undefined, { format: config.log.format });
  const signal = shutdownSignal(logger);
  const resources = localResources(config);
  const emulator = await startEmulator({
    port: settings.port,
    bindHost: settings.bindHost,
    resources,
    logger,
    // As the local stack does: S3 sends one when the notification rule is saved.
    sendTestEvent: true,
    notificationPrefix: config.source.prefix,
  });
  logger.info(
    { listening: `${settings.bindHost}:${settings.port}`, buckets: [resources.unprocessedBucket, resources.quarantineBucket] },
    'emulator ready (credentials test/test); everything is kept in memory and lost when it stops',
  );
  if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  await emulator.stop();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`bucketscan-emulator: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      process.stderr.write(`bucketscan-emulator: the port is already in use (${(error as Error).message})\n`);
      process.exit(2);
    }
    process.stderr.write(`bucketscan-emulator: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
