import { createLogger } from '../log/logger.ts';
import { shutdownSignal } from '../shared/shutdown.ts';
import { UsageError, workerConfig } from './common.ts';

export const summary = `Start the local stack (S3/SQS/SNS emulator, clamd, worker) in the foreground;
                 --demo also uploads a clean file and the EICAR test file and shows where each went.`;
export const synopsis = 'local [--demo]';
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
  - the worker, logging to stdout; the banner goes to stderr with the endpoint and
    a copy-paste aws upload command.

Options:
  --demo    also upload a clean file and the EICAR test file, and show where each
            one ended up

Ctrl-C stops the worker (finishing work in progress), clamd and the emulator.
make run starts it (make demo with --demo).`;

export async function run(argv: string[]): Promise<number> {
  const unknown = argv.find((arg) => arg !== '--demo');
  if (unknown !== undefined) throw new UsageError(`local: unknown option "${unknown}" (only --demo)`);
  const config = workerConfig();
  const logger = createLogger(config.log.level, 'bucketscan', undefined, { format: config.log.format });
  // The emulator is a development dependency: loaded only for this command.
  const { runLocalStack } = await import('../local/stack.ts');
  await runLocalStack(config, logger, shutdownSignal(logger), { demo: argv.includes('--demo') });
  return 0;
}
