/**
 * The clamd image has no Node, so its entrypoint (bash) cannot call
 * renderClamdConfig. This writes the part of images/clamd/entrypoint.sh that
 * writes clamd.conf, from the same source: the constants and `clamdConfigText` of
 * src/local/clamd-config.ts, with the entrypoint's shell variables in place of the
 * values. Everything between the two marker lines is generated.
 *
 *   node scripts/clamd-config.ts     rewrite that block (npm run clamd-config)
 *
 * test/unit/clamd-config.test.ts fails when the checked-in block differs from what
 * this renders, and runs the entrypoint's print-config against renderClamdConfig.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  clamdConfigText,
  DEFAULT_MAX_FILES,
  DEFAULT_MAX_RECURSION,
  DEFAULT_MAX_SCAN_TIME_MS,
  DEFAULT_MAX_THREADS,
  FILE_SIZE_MARGIN,
  LIBCLAMAV_MAX_FILE_SIZE,
  MAX_SIZE_OPTION,
  MAX_STREAM_BYTES,
  MIN_READ_TIMEOUT_S,
  READ_TIMEOUT_MARGIN_S,
  SCAN_SIZE_FACTOR,
  SIGNATURE_EXTENSIONS,
  type ClamdConfigValues,
} from '../src/local/clamd-config.ts';
import { PUBLISHED_DATABASES } from '../src/signatures/set.ts';

export const ENTRYPOINT = fileURLToPath(new URL('../images/clamd/entrypoint.sh', import.meta.url));
const BEGIN = '# >>> Generated from src/local/clamd-config.ts by scripts/clamd-config.ts (npm run clamd-config): do not edit by hand.';
const END = '# <<< End of the generated part.';

/** Constants the entrypoint's settings_from_environment derives and checks the limits with. */
const CONSTANTS: Array<[name: string, value: number | string, why: string]> = [
  [
    'LIBCLAMAV_MAX_FILE_SIZE',
    LIBCLAMAV_MAX_FILE_SIZE,
    'libclamav cannot scan a single file of 2 GB or more; clamd clamps MaxFileSize to this.',
  ],
  [
    'FILE_SIZE_MARGIN',
    FILE_SIZE_MARGIN,
    'MaxFileSize stays this far above MaxScanSize (docs/clamd.md, "Why MaxFileSize is above MaxScanSize"):\n' +
      'clamd cuts a zip member down to MaxFileSize without an alert, and only MaxScanSize then reports it.',
  ],
  ['MAX_STREAM_BYTES', MAX_STREAM_BYTES, 'The largest StreamMaxLength the derived limits cover in full.'],
  ['SCAN_SIZE_FACTOR', SCAN_SIZE_FACTOR, 'Extracted content counts toward MaxScanSize, so an archive needs room beyond its own size.'],
  ['MAX_SIZE_OPTION', MAX_SIZE_OPTION, "clamd's size options top out at 4 GB."],
  [
    'DEFAULT_MAX_THREADS',
    DEFAULT_MAX_THREADS,
    "Defaults: clamd's own MaxThreads, MaxRecursion and MaxFiles, and a MaxScanTime below CLAMD_TIMEOUT.",
  ],
  ['DEFAULT_MAX_RECURSION', DEFAULT_MAX_RECURSION, ''],
  ['DEFAULT_MAX_FILES', DEFAULT_MAX_FILES, ''],
  ['DEFAULT_MAX_SCAN_TIME_MS', DEFAULT_MAX_SCAN_TIME_MS, ''],
  [
    'MIN_READ_TIMEOUT_S',
    MIN_READ_TIMEOUT_S,
    "ReadTimeout: clamd's default, or MaxScanTime and READ_TIMEOUT_MARGIN_S if longer (src/local/clamd-config.ts, readTimeoutFor).",
  ],
  ['READ_TIMEOUT_MARGIN_S', READ_TIMEOUT_MARGIN_S, ''],
  [
    'CUSTOM_DATABASE_FILES',
    ` ${PUBLISHED_DATABASES.join(' ')} `,
    'The files of a detection set (src/signatures/set.ts), each fetched from FRESHCLAM_CUSTOM_DATABASES_URL.',
  ],
  [
    'SIGNATURE_EXTENSIONS',
    ` ${[...SIGNATURE_EXTENSIONS].map((extension) => extension.slice(1)).join(' ')} `,
    'Plain-text signature formats clamd loads from its database directory.',
  ],
];

/** A stand-in for a shell variable, replaced after the text is escaped for the here-document. */
const slot = (variable: string) => `\u0001${variable}\u0002`;

/** The entrypoint's variables, set by settings_from_environment and its readonly paths. */
const SHELL_VALUES: ClamdConfigValues = {
  supervisor: 'container',
  listen: { kind: 'tcp', host: slot('tcp_addr'), port: slot('tcp_port') },
  databaseDir: slot('DATABASE_DIR'),
  temporaryDir: slot('TEMPORARY_DIR'),
  streamMaxLength: slot('stream_max'),
  maxThreads: slot('max_threads'),
  maxQueue: slot('max_queue'),
  maxScanSize: slot('max_scan_size'),
  maxFileSize: slot('max_file_size'),
  maxRecursion: slot('max_recursion'),
  maxFiles: slot('max_files'),
  maxScanTimeMs: slot('max_scan_time'),
  readTimeout: slot('read_timeout'),
};

function shellWord(value: number | string): string {
  if (typeof value === 'number') return String(value);
  if (/['\n]/.test(value)) throw new Error(`cannot single-quote ${JSON.stringify(value)}`);
  return `'${value}'`;
}

/** clamd.conf as a here-document body: literal text escaped, the slots as ${variable}. */
function hereDocument(text: string): string {
  if (/^EOF$/m.test(text)) throw new Error('the configuration text contains the here-document terminator');
  return text.replace(/[\\$`]/g, (char) => `\\${char}`).replace(/\u0001(\w+)\u0002/g, (_slot, variable: string) => `\${${variable}}`);
}

/** The generated block, marker lines included. */
export function renderEntrypointBlock(): string {
  const constants = CONSTANTS.flatMap(([name, value, why]) => [
    ...(why ? why.split('\n').map((line) => `# ${line}`) : []),
    `readonly ${name}=${shellWord(value)}`,
  ]);
  return [
    BEGIN,
    ...constants,
    '',
    '# render_clamd_config: the clamd.conf for the settings settings_from_environment read.',
    'render_clamd_config() {',
    '  cat <<EOF',
    `${hereDocument(clamdConfigText(SHELL_VALUES))}EOF`,
    '}',
    END,
  ].join('\n');
}

/** The entrypoint with its generated block replaced by a fresh one. */
export function withFreshBlock(script: string): string {
  const begin = script.indexOf(`${BEGIN}\n`);
  const end = script.indexOf(`${END}\n`);
  if (begin === -1 || end < begin) throw new Error(`${ENTRYPOINT} has lost its generated block's marker lines:\n${BEGIN}\n${END}`);
  return script.slice(0, begin) + renderEntrypointBlock() + script.slice(end + END.length);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const before = readFileSync(ENTRYPOINT, 'utf8');
  const after = withFreshBlock(before);
  writeFileSync(ENTRYPOINT, after);
  process.stderr.write(`images/clamd/entrypoint.sh ${before === after ? 'unchanged' : 'rewritten'}\n`);
}
