import { createLogger } from '../log/logger.ts';
import { shutdownSignal } from '../shared/shutdown.ts';
import { UsageError, workerConfig } from './common.ts';

export const summary = `Start the local stack (S3/SQS/SNS emulator, clamd, worker) in the foreground;
                 --demo also uploads a clean file and the EICAR test file and shows where each went.`;
export const synopsis = 'local [--demo]';

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
