import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

// Legal raw inside JSON strings, but line breaks to some readers (U+0085, U+2028,
// U+2029: Python's splitlines, some log viewers), or not UTF-8 at all (a lone
// surrogate would be written as U+FFFD). They can only occur inside string
// values, so writing them as \u escapes keeps every line the same JSON.
const UNSAFE_IN_LINE = /[\u0085\u2028\u2029]|\p{Cs}/gu;
const escapeUnsafe = (line: string) =>
  line.replace(UNSAFE_IN_LINE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * JSON lines on stdout. Keys and filenames come from uploaders; pino writes every
 * value (the message text included) JSON-escaped, so a key holding a newline or a
 * quote cannot forge a log line.
 * The few characters JSON leaves raw that some readers still take as a line
 * break are escaped as well (`escapeUnsafe`).
 */
export function createLogger(level: LevelWithSilent = 'info', name = 'bucketscan', destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    base: { name },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    hooks: { streamWrite: escapeUnsafe },
  };
  return destination ? pino(options, destination) : pino(options);
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
