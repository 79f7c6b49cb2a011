/**
 * Logs a few lines through createLogger with the default destination (stdout),
 * some of them carrying hostile values, for the test that runs it under a real
 * terminal and through a pipe (test/integration/pretty-logs.test.ts).
 */
import { loadLogSettings } from '../../src/config/log.ts';
import { createLogger } from '../../src/log/logger.ts';

// LOG_FORMAT as the commands read it.
const logger = createLogger('debug', 'bucketscan', undefined, { format: loadLogSettings(process.env).format });
logger.info({ key: '0b6f2c1e-4d2a-4c1b-9e7f-3a5d8c2b1f00/hello.txt', outcome: 'clean', durationMs: 12 }, 'clean: forwarded');
logger.warn(
  { key: 'a/b\nINFO forged line', reason: 'red \u001b[31malert\u001b[0m', sep: 'x\u2028y' },
  'record dropped: %s',
  'evil\r\nline',
);
logger.child({ component: 'clamd' }).error({ error: 'boom', nested: { k: 'v\u0085w' } }, 'failed');
