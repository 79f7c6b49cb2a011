import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * JSON lines on stdout. Keys and filenames come from uploaders, so they are only
 * ever logged as JSON string values (never spliced into the message text), which
 * keeps a crafted key from forging a log line.
 */
export function createLogger(level: LevelWithSilent = 'info', name = 'bucketscan'): Logger {
  return pino({
    name,
    level,
    base: { name },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
