import { createLogger } from '../log/logger.ts';
import { runWorker } from '../worker/service.ts';
import { shutdownSignal } from '../shared/shutdown.ts';
import { UsageError, workerConfig } from './common.ts';

export const summary = 'Scan S3 uploads announced on the inbound SQS queue (runs until SIGTERM/SIGINT).';
export const help = `Scans S3 uploads announced on the inbound SQS queue, in the foreground, until
SIGTERM or SIGINT.

At start it resolves the queues, then waits for clamd to answer PING (logging
"waiting for clamd to answer PING" until it does) before it takes any message.
Each record of a message is streamed from S3 into clamd and then forwarded to the
validation queue (clean), moved to the quarantine bucket with a report published
on the SNS topic (infected, too large, or not fully scanned unless
UNSCANNABLE_ACTION=forward), or logged and left alone (an invalid event or key).
A message is deleted only when every record in it has its outcome; a failure
leaves it on the queue for a retry. Each outcome is one log line (JSON unless
LOG_FORMAT or a terminal says otherwise).

When clamd stops answering, the messages in work are kept for a retry and no new
ones are received until clamd answers again; the worker resumes by itself.
On SIGTERM or SIGINT it stops receiving, lets work in progress finish for up to
SHUTDOWN_TIMEOUT seconds, returns what could not finish to the queue, and exits 0.

Settings come from the environment over a .env file (docs/configuration.md lists
them all). A bad or missing one, or a queue that does not exist, stops it at
start: one line on stderr naming the variable, exit 2.

In production, run the compiled worker as one process, as the image does:
  node --max-semi-space-size=2 --max-old-space-size=64 --v8-pool-size=1 dist/cli.js worker`;

export async function run(argv: string[]): Promise<number> {
  if (argv.length > 0) throw new UsageError(`worker takes no arguments, got "${argv[0]}"`);
  const config = await workerConfig();
  const logger = createLogger(config.log.level, 'bucketscan', undefined, { format: config.log.format });
  await runWorker(config, logger, shutdownSignal(logger));
  return 0;
}
