/**
 * Readable log lines for a terminal, e.g.
 * `12:01:02.345 INFO  clean: forwarded  key=0b6f…/a.txt outcome=clean durationMs=12`.
 *
 * A synchronous pino destination rather than pino-pretty or a pino transport:
 * those run in a worker thread, which costs the worker more memory than its whole
 * idle budget. Each JSON line pino writes is parsed and written again as one line.
 *
 * Keys, filenames and reasons come from uploaders, so the terminal gets the same
 * guarantee as the JSON log: one event, one line. Every control character (C0,
 * DEL, C1: ESC and CSI start terminal escape sequences), line and paragraph
 * separator, lone surrogate and format character (bidi overrides that reorder
 * what the terminal shows, zero-width characters that hide a look-alike key) is
 * written as a \u escape, in the message text as in the fields.
 */
import type { DestinationStream } from 'pino';

/** How LOG_FORMAT is set: `auto` (the default) picks pretty on a terminal, JSON otherwise. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormatSetting = (typeof LOG_FORMATS)[number];
export type LogFormat = Exclude<LogFormatSetting, 'auto'>;

/** `auto` means pretty exactly when stdout is a terminal: a pipe or a file keeps getting JSON. */
export function resolveLogFormat(setting: LogFormatSetting, isTTY: boolean): LogFormat {
  if (setting === 'auto') return isTTY ? 'pretty' : 'json';
  return setting;
}

export interface ColorTarget {
  isTTY?: boolean;
  /** tty.WriteStream's own check (TERM, NO_COLOR, NODE_DISABLE_COLORS, CI…). */
  hasColors?: (count?: number, env?: object) => boolean;
}

/**
 * Whether to colour: FORCE_COLOR wins when set (with Node's values: "", 1, 2, 3
 * and "true" turn colour on, anything else off), then NO_COLOR (no-color.org:
 * set and not empty), then only a terminal that says it has colours.
 */
export function colorsWanted(env: Record<string, string | undefined>, target: ColorTarget): boolean {
  const force = env['FORCE_COLOR'];
  if (force !== undefined) return ['', '1', '2', '3', 'true'].includes(force);
  if (env['NO_COLOR']) return false;
  if (target.isTTY !== true) return false;
  return target.hasColors ? target.hasColors(16, env) : false;
}

// Everything a terminal may act on or a reader may take for a line break; see the
// comment at the top. With the u flag a lone surrogate matches \p{Cs} on its own,
// while a valid pair is one code point and is not matched.
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const SHORT_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Writes every unsafe character of `text` as an escape; everything else stays as is. */
export function escapeForTerminal(text: string): string {
  return text.replace(UNSAFE, (char) => {
    const short = SHORT_ESCAPES[char];
    if (short) return short;
    // Astral format characters (language tags, U+E0001…) as their surrogate pair,
    // so that a quoted value stays a valid JSON string.
    let escaped = '';
    for (let i = 0; i < char.length; i++) escaped += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return escaped;
  });
}

// A value is written bare only when nothing in it could be mistaken for the
// separators around it (blanks, `=`, quotes) or for an escape (backslash).
const BARE = /^[^\s"'\\=\p{C}\p{Z}]+$/u;

/**
 * One field value: bare when unambiguous, otherwise as JSON (a string quoted),
 * with unsafe characters escaped; a quoted value is still valid JSON for the same
 * value, so it can be copied out of a terminal exactly.
 */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') return BARE.test(value) ? value : escapeForTerminal(JSON.stringify(value));
  if (value === undefined) return 'undefined';
  // Numbers, booleans, null, objects and arrays: compact JSON, which already
  // escapes C0 controls, quotes and lone surrogates in the strings inside.
  return escapeForTerminal(JSON.stringify(value) ?? String(value));
}

const STYLE = {
  reset: '\u001b[0m',
  dim: '\u001b[2m',
  gray: '\u001b[90m',
  red: '\u001b[31m',
  yellow: '\u001b[33m',
  green: '\u001b[32m',
  magenta: '\u001b[35m',
  boldRed: '\u001b[1;31m',
} as const;

const LEVEL_STYLES: Readonly<Record<string, string>> = {
  trace: STYLE.gray,
  debug: STYLE.gray,
  info: STYLE.green,
  warn: STYLE.yellow,
  error: STYLE.red,
  fatal: STYLE.boldRed,
};

/** pino's numeric levels, for a logger configured without the label formatter. */
const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** Shown by its value alone, not as a field. */
const HEADER_FIELDS = new Set(['time', 'level', 'msg', 'name']);
/** The logger's own name: every line has it, so it is not repeated. */
const DEFAULT_NAME = 'bucketscan';

export interface PrettyOptions {
  colors: boolean;
}

function clock(time: unknown): string {
  const date = new Date(typeof time === 'string' || typeof time === 'number' ? time : Number.NaN);
  if (Number.isNaN(date.getTime())) return '--:--:--.---';
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

function levelName(level: unknown): string {
  if (typeof level === 'number') return LEVEL_NAMES[level] ?? String(level);
  return typeof level === 'string' ? level : 'info';
}

/**
 * One pino JSON line (a trailing newline allowed) as one readable line ending in
 * a newline. Anything that is not a JSON object is written escaped, as it came.
 */
export function formatLogLine(line: string, options: PrettyOptions): string {
  const text = line.endsWith('\n') ? line.slice(0, -1) : line;
  let entry: unknown;
  try {
    entry = JSON.parse(text);
  } catch {
    entry = undefined;
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return `${escapeForTerminal(text)}\n`;
  const record = entry as Record<string, unknown>;
  const paint = (style: string, value: string) => (options.colors ? `${style}${value}${STYLE.reset}` : value);

  const level = levelName(record['level']);
  let out = `${paint(STYLE.dim, clock(record['time']))} ${paint((Object.hasOwn(LEVEL_STYLES, level) && LEVEL_STYLES[level]) || STYLE.magenta, escapeForTerminal(level.toUpperCase()).padEnd(5))}`;
  const name = record['name'];
  if (name !== undefined && name !== DEFAULT_NAME)
    out += ` ${paint(STYLE.dim, `[${typeof name === 'string' ? escapeForTerminal(name) : formatValue(name)}]`)}`;
  const msg = record['msg'];
  if (msg !== undefined) out += ` ${typeof msg === 'string' ? escapeForTerminal(msg) : formatValue(msg)}`;

  const fields: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (HEADER_FIELDS.has(key)) continue;
    fields.push(`${paint(STYLE.gray, `${formatValue(key)}=`)}${formatValue(value)}`);
  }
  if (fields.length > 0) out += `  ${fields.join(' ')}`;
  return `${out}\n`;
}

/**
 * A pino destination that writes each line formatted by formatLogLine to
 * `write`, synchronously (no worker thread, no buffer of its own).
 */
export function prettyDestination(write: (text: string) => void, options: PrettyOptions): DestinationStream {
  return {
    write(chunk: string) {
      // pino writes one line per call; split anyway so that no chunk can turn
      // into one line holding two events.
      const lines = chunk.split('\n');
      for (const [index, line] of lines.entries()) {
        if (line === '' && index === lines.length - 1) continue;
        write(formatLogLine(line, options));
      }
    },
  };
}
