import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, loadConfig, type Config } from './config/config.ts';
import { environmentWithDotenv } from './config/env-file.ts';
import { createLogger, type Logger } from './log/logger.ts';
import { runWorker } from './worker/service.ts';

const USAGE = `Usage: bucketscan <command>

Commands:
  worker         Scan S3 uploads announced on the inbound SQS queue (runs until SIGTERM/SIGINT).
  local [--demo] Start the local stack (S3/SQS/SNS emulator, clamd, worker) in the foreground;
                 --demo also uploads a clean file and the EICAR test file and shows where each went.
  help           Show this text.
  version        Print the version.

Settings come from the environment, over a .env file in the current directory
(BUCKETSCAN_ENV_FILE names another file; BUCKETSCAN_ENV_FILE=none reads none).`;

function readEnvironment(): Record<string, string | undefined> {
  const choice = process.env['BUCKETSCAN_ENV_FILE'];
  const path = choice === 'none' ? undefined : resolve(choice || '.env');
  return environmentWithDotenv(path, process.env);
}

/**
 * Turns SIGTERM/SIGINT into an abort. Repeats change nothing: Ctrl-C under
 * `npm start` reaches the worker twice (from the terminal and from npm), and the
 * shutdown is bounded by SHUTDOWN_TIMEOUT anyway.
 */
function shutdownSignal(logger: Logger): AbortSignal {
  const controller = new AbortController();
  for (const name of ['SIGTERM', 'SIGINT'] as const) {
    process.on(name, () => {
      if (controller.signal.aborted) {
        logger.debug({ signal: name }, 'already shutting down');
        return;
      }
      logger.info({ signal: name }, 'shutdown requested');
      controller.abort();
    });
  }
  return controller.signal;
}

function configOrExit(env: Record<string, string | undefined>): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`bucketscan: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...rest] = argv;
  switch (command) {
    case 'worker': {
      const config = configOrExit(readEnvironment());
      const logger = createLogger(config.logLevel);
      await runWorker(config, logger, shutdownSignal(logger));
      return 0;
    }
    case 'local': {
      const env = readEnvironment();
      const config = configOrExit(env);
      const logger = createLogger(config.logLevel);
      const { runLocalStack } = await import('./local/stack.ts');
      await runLocalStack(config, logger, shutdownSignal(logger), { demo: rest.includes('--demo') });
      return 0;
    }
    case 'version':
    case '--version': {
      const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
      process.stdout.write(`bucketscan ${pkg.version}\n`);
      return 0;
    }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      process.stderr.write(`bucketscan: unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`bucketscan: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`bucketscan: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
