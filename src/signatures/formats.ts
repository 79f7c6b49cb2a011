/**
 * The signature formats a custom set may hold, read line by line before clamd
 * ever sees them: which format a file is, the names it defines, and the mistakes
 * that can be named precisely (a missing field, a hash that is not hex, a name
 * that breaks the custom naming rule). Everything else is left to clamd itself,
 * which loads the set in `bucketscan signatures check` (src/local/signature-check.ts).
 *
 * Formats (ClamAV's signature documentation, checked against clamd 1.4.6):
 * - `.hdb` `md5:size:name[:flevel…]`, `.hsb` `sha1|sha256:size:name[:flevel…]`
 *   (size `*` needs a minimum functionality level of 73);
 * - `.ndb` `name:target:offset:hexsig[:flevel…]`;
 * - `.ldb` `name;target description;logical expression;subsig0[;subsig…]`;
 * - `.yar`/`.yara` YARA rules (no modules: ClamAV does not load `import`).
 *
 * Line formats take `#` comment lines starting in the first column; clamd 1.4.6
 * refuses a blank line or an indented comment ("Problem parsing database"), so the
 * published files leave both out.
 */
import { CUSTOM_PREFIX, CUSTOM_YARA_PREFIX } from '../verdict/signature.ts';

export const CUSTOM_FORMATS = ['hdb', 'hsb', 'ndb', 'ldb', 'yar'] as const;
export type CustomFormat = (typeof CUSTOM_FORMATS)[number];

/** What a file's extension makes it in a custom set. */
export type FileKind =
  | { kind: 'signatures'; format: CustomFormat }
  /** A ClamAV format that a custom set does not take, and why. */
  | { kind: 'refused'; why: string }
  /** Not a ClamAV database (a README, a licence): left out of the set. */
  | { kind: 'other' };

const ALLOW_LIST_EXTENSIONS = new Set(['fp', 'sfp', 'ign', 'ign2']);
/** clamd's other database formats (src/local/clamd-config.ts lists what it loads). */
const OTHER_CLAMAV_EXTENSIONS = new Set([
  'hdu',
  'hsu',
  'mdb',
  'msb',
  'mdu',
  'msu',
  'ndu',
  'ldu',
  'cdb',
  'cat',
  'crb',
  'idb',
  'pdb',
  'gdb',
  'wdb',
  'ftm',
  'cbc',
  'info',
  'cvd',
  'cld',
  'cud',
]);

export function fileKind(name: string): FileKind {
  const dot = name.lastIndexOf('.');
  const extension = dot === -1 ? '' : name.slice(dot + 1).toLowerCase();
  if (extension === 'yara' || extension === 'yar') return { kind: 'signatures', format: 'yar' };
  if ((CUSTOM_FORMATS as readonly string[]).includes(extension)) return { kind: 'signatures', format: extension as CustomFormat };
  if (ALLOW_LIST_EXTENSIONS.has(extension)) {
    return {
      kind: 'refused',
      why: 'allow-list files are not part of a custom set: add hashes and ignored signatures with bucketscan allow, which keeps a reason for each',
    };
  }
  if (OTHER_CLAMAV_EXTENSIONS.has(extension)) {
    return {
      kind: 'refused',
      why: `.${extension} is not a custom signature format bucketscan publishes (.hdb, .hsb, .ndb, .ldb, .yar, .yara)`,
    };
  }
  return { kind: 'other' };
}

/** A name defined by a signature, and where. */
export interface DefinedName {
  name: string;
  line: number;
}

/** A mistake found in one line (or the whole file, line undefined). */
export interface LineProblem {
  line: number | undefined;
  message: string;
}

export interface ReadFile {
  names: DefinedName[];
  problems: LineProblem[];
}

/**
 * Printable ASCII without the field separators of the line formats, and without
 * blanks: a name goes into SNS message attributes, log fields and .ign2 files.
 */
const NAME = /^[\x21-\x7e]{1,200}$/;
const HEX = /^[0-9a-fA-F]+$/;

function nameProblem(name: string, format: CustomFormat): string | undefined {
  if (!NAME.test(name) || /[:;]/.test(name)) {
    return `signature name ${JSON.stringify(name.slice(0, 80))} must be 1 to 200 printable ASCII characters without blanks, ":" or ";"`;
  }
  const prefix = format === 'yar' ? CUSTOM_YARA_PREFIX : CUSTOM_PREFIX;
  if (!name.startsWith(prefix) || name.length === prefix.length) {
    return (
      `signature name ${JSON.stringify(name)} must start with "${prefix}" (custom ${format === 'yar' ? 'YARA rules' : 'signatures'} ` +
      "are named so, which is how reports tell them from ClamAV's and third-party signatures; see docs/detection.md)"
    );
  }
  if (name.endsWith('.UNOFFICIAL')) return `signature name ${JSON.stringify(name)} must not end in ".UNOFFICIAL": clamd adds that itself`;
  return undefined;
}

/** The lines of a line-format file: CRLF tolerated, comments and blank lines skipped. */
function* signatureLines(text: string): Generator<{ line: number; text: string }> {
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = (lines[index] ?? '').replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    yield { line: index + 1, text: line };
  }
}

function hashLine(fields: string[], format: 'hdb' | 'hsb'): string | undefined {
  if (fields.length < 3 || fields.length > 5) return `expected hash:size:name[:flevel[:flevel]], found ${fields.length} fields`;
  const [hash = '', size = '', , minLevel] = fields;
  const lengths = format === 'hdb' ? [32] : [40, 64];
  if (!HEX.test(hash) || !lengths.includes(hash.length)) {
    return format === 'hdb'
      ? 'an .hdb hash is an MD5: 32 hex digits (SHA-1 and SHA-256 hashes go in an .hsb file)'
      : 'an .hsb hash is a SHA-1 (40 hex digits) or a SHA-256 (64 hex digits) (MD5 hashes go in an .hdb file)';
  }
  if (size === '*') {
    if (minLevel === undefined || !/^\d+$/.test(minLevel) || Number(minLevel) < 73) {
      return 'a hash with size "*" needs a minimum functionality level of at least 73 as its fourth field (hash:*:name:73)';
    }
  } else if (!/^\d+$/.test(size)) {
    return `the size ${JSON.stringify(size)} must be a whole number of bytes, or "*"`;
  }
  return undefined;
}

function ndbLine(fields: string[]): string | undefined {
  if (fields.length < 4 || fields.length > 6) return `expected name:target:offset:hexsig[:flevel[:flevel]], found ${fields.length} fields`;
  const [, target = ''] = fields;
  if (!/^\d+$/.test(target)) return `the target type ${JSON.stringify(target)} must be a number (0 for any file)`;
  return undefined;
}

function ldbLine(fields: string[]): string | undefined {
  if (fields.length < 4) return `expected name;target description;logical expression;subsig0[;subsig…], found ${fields.length} fields`;
  return undefined;
}

/**
 * YARA rule names: `rule <name>`, after `private`/`global`, at the start of a line.
 * Comments are removed first; strings are not parsed (clamd does that).
 */
const YARA_RULE = /^[ \t]*(?:(?:private|global)[ \t]+)*rule[ \t]+([A-Za-z_][A-Za-z0-9_]*)/gm;
const YARA_IMPORT = /^[ \t]*import[ \t]+"([^"]*)"/m;

function withoutYaraComments(text: string): string {
  // Keeps line breaks, so positions still give line numbers.
  return text.replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, ' ')).replace(/\/\/[^\n]*/g, '');
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let index = text.indexOf('\n'); index !== -1 && index < offset; index = text.indexOf('\n', index + 1)) line++;
  return line;
}

function readYara(text: string): ReadFile {
  const plain = withoutYaraComments(text);
  const names: DefinedName[] = [];
  const problems: LineProblem[] = [];
  const imported = YARA_IMPORT.exec(plain);
  if (imported) {
    problems.push({
      line: lineAt(plain, imported.index),
      message: `import "${imported[1]}": ClamAV's YARA support has no modules, so rules that use one do not load`,
    });
  }
  for (const match of plain.matchAll(YARA_RULE)) {
    const name = match[1] ?? '';
    const line = lineAt(plain, match.index ?? 0);
    names.push({ name, line });
    const problem = nameProblem(name, 'yar');
    if (problem) problems.push({ line, message: problem });
  }
  return { names, problems };
}

/** The names a file defines and the problems found in it, by its format. */
export function readSignatureFile(format: CustomFormat, text: string): ReadFile {
  if (text.includes('\0')) return { names: [], problems: [{ line: undefined, message: 'holds a NUL byte: signature files are text' }] };
  if (format === 'yar') return readYara(text);
  const names: DefinedName[] = [];
  const problems: LineProblem[] = [];
  for (const { line, text: content } of signatureLines(text)) {
    const separator = format === 'ldb' ? ';' : ':';
    const fields = content.split(separator);
    const name = (format === 'hdb' || format === 'hsb' ? fields[2] : fields[0]) ?? '';
    const shape = format === 'hdb' || format === 'hsb' ? hashLine(fields, format) : format === 'ndb' ? ndbLine(fields) : ldbLine(fields);
    if (shape) {
      problems.push({ line, message: shape });
      continue;
    }
    names.push({ name, line });
    const problem = nameProblem(name, format);
    if (problem) problems.push({ line, message: problem });
  }
  return { names, problems };
}

/** The lines of a line-format file as they are published: no blank lines, no CR, comments kept. */
export function publishedLines(text: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = (lines[index] ?? '').replace(/\r$/, '');
    if (line.trim() === '') continue;
    // An indented comment is a parse error for clamd; in the first column it is a comment.
    out.push({ line: index + 1, text: line.trimStart().startsWith('#') ? line.trimStart() : line });
  }
  return out;
}
