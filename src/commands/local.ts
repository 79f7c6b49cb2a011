import { commandSettings } from '../config/config.ts';
import { readEnvironment } from '../config/env-file.ts';
import { SINGLE_SOURCE_VARIABLES } from '../config/source.ts';
import { createLogger } from '../log/logger.ts';
import { shutdownSignal } from '../shared/shutdown.ts';
import { workerConfig } from './common.ts';
import { parseCommandLine } from './parse-args.ts';

export const summary = `Start the local stack (S3/SQS/SNS emulator, clamd, worker) in the foreground;
                 --demo also uploads a clean file and the EICAR test file and shows where each went.`;
export const synopsis = 'local [--demo] [--sources FILE]';
export const help = `Starts the local stack in the foreground, with no Docker and no AWS account:

  - an S3/SQS/SNS emulator (fauxqs) on AWS_ENDPOINT_URL (http://127.0.0.1:4566 by
    default; it must be on this machine) with the buckets, queues and topic the
    settings name: the inbound queue with a dead-letter queue
    (<inbound>-dlq, maxReceiveCount 5), the validation queue, the topic, and a
    queue subscribed to it (<topic>-inbox) so notifications can be read;
  - S3 -> SQS notifications for every object created in the unprocessed bucket;
  - clamd as a child process with a generated configuration, unless a CLAMD_*
    variable is set; it loads the official database from /var/lib/clamav when
    one is installed (freshclam), and the project's test signatures. With only
    the test signatures, a loud warning says real malware will not be detected;
    it also loads the detection set in CUSTOM_DATABASES (.local/custom-databases
    by default; an empty one is published there at the first start): custom
    signatures and the allow list, which bucketscan signatures publish and
    bucketscan allow change while it runs (clamd reloads);
  - the worker, logging to stdout; the banner goes to stderr with the endpoint and
    a copy-paste aws upload command.

Options:
  --demo            also upload a clean file and the EICAR test file, and show
                    where each one ended up
  --sources FILE    scan the buckets of a sources file (docs/sources.md) instead
                    of UNPROCESSED_BUCKET_NAME: every bucket, quarantine bucket and
                    validation queue it names is created, and every bucket's
                    uploads reach the inbound queue. The single-bucket variables
                    of the .env file are set aside. docs/examples/two-buckets.json
                    shows two buckets (make run SOURCES=docs/examples/two-buckets.json)

Ctrl-C stops the worker (finishing work in progress), clamd and the emulator.
make run starts it (make demo with --demo).`;

export async function run(argv: string[]): Promise<number> {
  const { values: options } = parseCommandLine('local', argv, { demo: { type: 'boolean' }, sources: { type: 'string' } });
  const env = readEnvironment();
  if (options.sources) {
    // The sources file names every bucket: the .env's single-bucket defaults step aside.
    for (const name of SINGLE_SOURCE_VARIABLES) delete env[name];
    env['SOURCES_FILE'] = options.sources;
  }
  const config = await workerConfig(env);
  const { target } = commandSettings(env).detection();
  const logger = createLogger(config.log.level, 'bucketscan', undefined, { format: config.log.format });
  // The emulator is a development dependency: loaded only for this command.
  const { runLocalStack } = await import('../local/stack.ts');
  await runLocalStack(config, logger, shutdownSignal(logger), {
    demo: options.demo === true,
    ...(target.kind === 'directory' ? { customDatabasesDir: target.path } : {}),
  });
  return 0;
}
