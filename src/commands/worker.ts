import { createLogger } from '../log/logger.ts';
import { runWorker } from '../worker/service.ts';
import { shutdownSignal } from '../shared/shutdown.ts';
import { UsageError, workerConfig } from './common.ts';

export const summary = 'Scan S3 uploads announced on the inbound SQS queue (runs until SIGTERM/SIGINT).';

export async function run(argv: string[]): Promise<number> {
  if (argv.length > 0) throw new UsageError(`worker takes no arguments, got "${argv[0]}"`);
  const config = workerConfig();
  const logger = createLogger(config.log.level, 'bucketscan', undefined, { format: config.log.format });
  await runWorker(config, logger, shutdownSignal(logger));
  return 0;
}
