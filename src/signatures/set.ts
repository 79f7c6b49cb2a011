/**
 * A detection set: what `bucketscan signatures publish` and `bucketscan allow`
 * put where every clamd reads it. It is a fixed list of database files, so that
 * each clamd can name them in advance (freshclam's `DatabaseCustomURL` takes one
 * URL per file and cannot list a folder; the clamd image writes one line per name
 * below). The custom signatures of a team's source directory are merged, format
 * by format, into the `bucketscan-custom.*` files; the allow list becomes the
 * `bucketscan-allow.*` files. A format with nothing in it is still published, as
 * a file holding only a comment: clamd refuses an empty database file (ClamAV
 * 1.4.6: "Empty database file", and it does not start), and freshclam fails its
 * whole update when one of its URLs is missing.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CUSTOM_FORMATS, fileKind, publishedLines, readSignatureFile, type CustomFormat } from './formats.ts';

/** The custom signature files, one per format. */
export const CUSTOM_DATABASES: Readonly<Record<CustomFormat, string>> = {
  hdb: 'bucketscan-custom.hdb',
  hsb: 'bucketscan-custom.hsb',
  ndb: 'bucketscan-custom.ndb',
  ldb: 'bucketscan-custom.ldb',
  yar: 'bucketscan-custom.yar',
};

/** The allow list as clamd reads it: SHA-256 hashes of files (.sfp), and signature names to ignore (.ign2). */
export const ALLOW_DATABASES = { sfp: 'bucketscan-allow.sfp', ign2: 'bucketscan-allow.ign2' } as const;

/** Every file of a set that clamd loads, in a fixed order: what each clamd fetches. */
export const PUBLISHED_DATABASES: readonly string[] = [
  ...CUSTOM_FORMATS.map((format) => CUSTOM_DATABASES[format]),
  ...Object.values(ALLOW_DATABASES),
];

/** What a file of the set holds, for people and for the next publish; clamd ignores both (not database extensions). */
export const MANIFEST_FILE = 'bucketscan-manifest.json';
export const ALLOW_LIST_FILE = 'bucketscan-allow-list.json';
/** Written by a deployment beside the set: the memory each clamd has for its databases (the memory guard's limit). */
export const LIMITS_FILE = 'bucketscan-limits.json';
/** Earlier versions of the allow list, one file each: `history/allow-list.v<version>.json`. */
export const HISTORY_FOLDER = 'history/';

/** A source file of a custom set: its name in the source directory and its text. */
export interface SourceFile {
  name: string;
  text: string;
}

/** A mistake in a set, named by file and line where it has one. */
export interface SetProblem {
  file: string;
  line?: number;
  message: string;
}

export interface DefinedSignature {
  name: string;
  file: string;
  line: number;
  format: CustomFormat;
}

export interface SetCheck {
  signatures: DefinedSignature[];
  problems: SetProblem[];
  /** Things worth saying that do not stop a publish (a file with no signature in it). */
  notes: string[];
}

/** Where a problem is, as people write it: `acme.ndb:3`. */
export function describeProblem(problem: SetProblem): string {
  return `${problem.file}${problem.line === undefined ? '' : `:${problem.line}`}: ${problem.message}`;
}

/**
 * The files of a source directory (not its subdirectories), sorted by name:
 * signature files read, other ClamAV formats refused, anything else (a README)
 * left out and named in `ignored`.
 */
export async function readSourceDirectory(dir: string): Promise<{ files: SourceFile[]; ignored: string[]; problems: SetProblem[] }> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: SourceFile[] = [];
  const ignored: string[] = [];
  const problems: SetProblem[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    if (!entry.isFile()) {
      ignored.push(entry.isDirectory() ? `${entry.name}/` : entry.name);
      continue;
    }
    const kind = fileKind(entry.name);
    if (kind.kind === 'other') ignored.push(entry.name);
    else if (kind.kind === 'refused') problems.push({ file: entry.name, message: kind.why });
    else files.push({ name: entry.name, text: await readUtf8(join(dir, entry.name), entry.name, problems) });
  }
  return { files, ignored, problems };
}

async function readUtf8(path: string, name: string, problems: SetProblem[]): Promise<string> {
  const bytes = await readFile(path);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    problems.push({ file: name, message: 'is not UTF-8 text' });
    return '';
  }
}

/** Reads every file's names and shape, and finds names defined twice anywhere in the set. */
export function checkSourceFiles(files: readonly SourceFile[]): SetCheck {
  const signatures: DefinedSignature[] = [];
  const problems: SetProblem[] = [];
  const notes: string[] = [];
  const seen = new Map<string, DefinedSignature>();
  for (const file of files) {
    const kind = fileKind(file.name);
    if (kind.kind !== 'signatures') {
      problems.push({
        file: file.name,
        message: kind.kind === 'refused' ? kind.why : 'is not a signature file (.hdb, .hsb, .ndb, .ldb, .yar, .yara)',
      });
      continue;
    }
    const read = readSignatureFile(kind.format, file.text);
    for (const problem of read.problems)
      problems.push({ file: file.name, ...(problem.line === undefined ? {} : { line: problem.line }), message: problem.message });
    if (read.names.length === 0 && read.problems.length === 0) notes.push(`${file.name} defines no signature`);
    for (const { name, line } of read.names) {
      const signature = { name, file: file.name, line, format: kind.format };
      const earlier = seen.get(name);
      if (earlier) {
        problems.push({
          file: file.name,
          line,
          message: `signature name ${JSON.stringify(name)} is already defined at ${earlier.file}:${earlier.line}`,
        });
      } else {
        seen.set(name, signature);
      }
      signatures.push(signature);
    }
  }
  return { signatures, problems, notes };
}

/** One file of a published set: its text, and for each of its lines the source line it came from (null: generated). */
export interface PublishedFile {
  name: string;
  text: string;
  origins: Array<{ file: string; line: number } | null>;
}

/** A comment in a file's own syntax. */
function comment(format: CustomFormat | 'sfp' | 'ign2', text: string): string {
  return format === 'yar' ? `// ${text}` : `# ${text}`;
}

/**
 * A published file built from parts: a header, then each source with a comment
 * naming it. YARA text is kept as written (its comments and blank lines are
 * YARA's own); line formats lose blank lines and CRs, which clamd refuses.
 */
export function buildFile(
  name: string,
  format: CustomFormat | 'sfp' | 'ign2',
  header: readonly string[],
  parts: ReadonlyArray<{ file: string; text: string }>,
): PublishedFile {
  const lines: string[] = [];
  const origins: PublishedFile['origins'] = [];
  const add = (text: string, origin: { file: string; line: number } | null) => {
    lines.push(text);
    origins.push(origin);
  };
  for (const text of header) add(comment(format, text), null);
  if (parts.length === 0) add(comment(format, 'nothing in this file: clamd refuses an empty database file, hence this line'), null);
  for (const part of parts) {
    add(comment(format, `from ${part.file}`), null);
    if (format === 'yar') {
      const source = part.text.split('\n');
      if (source.at(-1) === '') source.pop();
      for (const [index, text] of source.entries()) add(text.replace(/\r$/, ''), { file: part.file, line: index + 1 });
    } else {
      for (const line of publishedLines(part.text)) add(line.text, { file: part.file, line: line.line });
    }
  }
  return { name, text: `${lines.join('\n')}\n`, origins };
}

/** The custom databases of a set: one file per format, every format present. */
export function renderCustomDatabases(files: readonly SourceFile[], header: readonly string[]): PublishedFile[] {
  return CUSTOM_FORMATS.map((format) => {
    const parts = files
      .filter((file) => {
        const kind = fileKind(file.name);
        return kind.kind === 'signatures' && kind.format === format;
      })
      .map((file) => ({ file: file.name, text: file.text }));
    return buildFile(
      CUSTOM_DATABASES[format],
      format,
      [...header, `custom ${format === 'yar' ? 'YARA rules' : `.${format} signatures`}`],
      parts,
    );
  });
}

/** The source line behind a line of a published file, for clamd's complaints about it. */
export function sourceOf(files: readonly PublishedFile[], name: string, line: number): { file: string; line: number } | undefined {
  return files.find((file) => file.name === name)?.origins[line - 1] ?? undefined;
}
