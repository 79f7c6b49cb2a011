import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * JSON lines on stdout. Keys and filenames come from uploaders; pino writes every
 * value (the message text included) JSON-escaped, so a key holding a newline or a
 * quote cannot forge a log line.
 */
export function createLogger(level: LevelWithSilent = 'info', name = 'bucketscan', destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    base: { name },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
