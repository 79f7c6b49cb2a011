import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { colorsWanted, prettyDestination, resolveLogFormat, type LogFormatSetting } from './pretty.ts';

export type { Logger };
export type { LogFormatSetting };

// Legal raw inside JSON strings, but line breaks to some readers (U+0085, U+2028,
// U+2029: Python's splitlines, some log viewers), or not UTF-8 at all (a lone
// surrogate would be written as U+FFFD). They can only occur inside string
// values, so writing them as \u escapes keeps every line the same JSON.
const UNSAFE_IN_LINE = /[\u0085\u2028\u2029]|\p{Cs}/gu;
const escapeUnsafe = (line: string) => line.replace(UNSAFE_IN_LINE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);

export interface LoggerOptions {
  /**
   * `json`, `pretty` (readable lines, src/log/pretty.ts) or `auto`: pretty when
   * stdout is a terminal. Default `auto`; commands pass LOG_FORMAT as their
   * settings read it (src/config/log.ts). With an explicit destination only
   * `pretty` given here makes it pretty (tests that parse their logger's JSON
   * stay JSON).
   */
  format?: LogFormatSetting;
}

/**
 * JSON lines on stdout. Keys and filenames come from uploaders; pino writes every
 * value (the message text included) JSON-escaped, so a key holding a newline or a
 * quote cannot forge a log line.
 * The few characters JSON leaves raw that some readers still take as a line
 * break are escaped as well (`escapeUnsafe`).
 * On a terminal (or with LOG_FORMAT=pretty) the same lines are rewritten as
 * readable ones by a synchronous destination, with the same one-event-one-line
 * guarantee (src/log/pretty.ts).
 */
export function createLogger(
  level: LevelWithSilent = 'info',
  name = 'bucketscan',
  destination?: DestinationStream,
  loggerOptions: LoggerOptions = {},
): Logger {
  const options = {
    name,
    level,
    base: { name },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    hooks: { streamWrite: escapeUnsafe },
  };
  if (destination) {
    if (loggerOptions.format !== 'pretty') return pino(options, destination);
    return pino(
      options,
      prettyDestination((text) => destination.write(text), { colors: colorsWanted(process.env, {}) }),
    );
  }
  // Synchronous, JSON or pretty: each line is written (one write(2) on the event
  // loop's thread) before the call returns, so nothing is lost when the process
  // exits or is killed, and no flush is needed. pino's default destination hands
  // each line to libuv's thread pool instead: a wake-up of a pool thread and one
  // more of the event loop per line, over a quarter of the worker's system calls per file
  // (bench/history.md, "Log lines written synchronously"). A full pipe makes the
  // worker wait rather than buffer lines without bound.
  const stdout = pino.destination({ dest: 1, sync: true });
  const setting = loggerOptions.format ?? 'auto';
  if (resolveLogFormat(setting, process.stdout.isTTY === true) === 'json') return pino(options, stdout);
  return pino(
    options,
    prettyDestination((text) => stdout.write(text), { colors: colorsWanted(process.env, process.stdout) }),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
