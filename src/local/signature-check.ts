/**
 * `bucketscan signatures check`'s real test: the set is loaded into a throw-away
 * clamd, the same binary and configuration as the fleet's, and whatever clamd
 * says about it decides. A database clamd cannot parse stops it from starting
 * (ClamAV 1.4.6: "Malformed database", exit 1), so a file that reached a fleet
 * would stop every new task; a YARA rule clamd cannot compile is only logged
 * ("yyerror()", "failed to parse or load") and silently left out, so the check
 * reads the log too. The same clamd is measured for the memory guard
 * (src/signatures/memory.ts): its resident size with the set, and that of a
 * second one with nothing loaded.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Logger } from '../log/logger.ts';
import { errorMessage } from '../shared/errors.ts';
import type { ClamdMemory } from '../signatures/memory.ts';
import { describeProblem, sourceOf, type PublishedFile, type SetProblem } from '../signatures/set.ts';
import { startClamd } from './clamd-process.ts';

export interface SignatureCheckOptions {
  /** The whole set as it would be published. */
  files: readonly PublishedFile[];
  /** Load the official database from here too (measured with the set); null: the set alone. */
  officialDatabaseDir: string | null;
  logger: Logger;
  /** Where a signature name is defined in the sources, for clamd's complaints that name a rule rather than a line. */
  definedAt?: (name: string) => { file: string; line: number } | undefined;
  /** How long clamd may take to load (the official database takes tens of seconds). */
  readyTimeoutMs?: number;
}

export interface SignatureCheckResult {
  /** What clamd refused, mapped back to source files and lines where it names one. */
  problems: SetProblem[];
  /** clamd's warnings about the set, which do not stop a publish. */
  warnings: string[];
  /** Undefined when clamd did not load the set, or this system has no /proc to measure with. */
  memory?: { withSet: ClamdMemory; empty: ClamdMemory };
}

const STREAM_MAX_BYTES = 1024 * 1024;

/** A comment-only file: clamd starts with nothing loaded (checked with 1.4.6). */
const EMPTY_DATABASE = { name: 'bucketscan-empty.hdb', text: '# nothing: the baseline for measuring a set\n' };

export async function checkWithClamd(options: SignatureCheckOptions): Promise<SignatureCheckResult> {
  const workDir = await mkdtemp(join(tmpdir(), 'bucketscan-signatures-'));
  try {
    const loaded = await load(workDir, 'set', options.files, options);
    const result = interpret(loaded.output, options.files, options.definedAt);
    if (loaded.failure) {
      // clamd stops at the first file it cannot load, in directory order: load
      // each file alone to name every problem at once.
      for (const [index, file] of options.files.entries()) {
        const alone = await load(workDir, `file-${index}`, [file], { ...options, officialDatabaseDir: null });
        for (const problem of interpret(alone.output, [file], options.definedAt).problems) {
          if (!result.problems.some((known) => describeProblem(known) === describeProblem(problem))) result.problems.push(problem);
        }
      }
      if (result.problems.length === 0) result.problems.push({ file: 'clamd', message: loaded.failure });
    }
    if (result.problems.length > 0 || !loaded.memory) return result;
    const empty = await load(workDir, 'empty', [EMPTY_DATABASE], { ...options, officialDatabaseDir: null });
    if (!empty.memory) return result;
    return { ...result, memory: { withSet: loaded.memory, empty: empty.memory } };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

interface Loaded {
  output: string[];
  /** Why clamd did not start, when it did not. */
  failure?: string;
  memory?: ClamdMemory;
}

async function load(
  workDir: string,
  name: string,
  files: ReadonlyArray<{ name: string; text: string }>,
  options: SignatureCheckOptions,
): Promise<Loaded> {
  const setDir = join(workDir, `${name}-files`);
  await mkdir(setDir, { recursive: true });
  for (const file of files) await writeFile(join(setDir, file.name), file.text);
  const output: string[] = [];
  let clamd: Awaited<ReturnType<typeof startClamd>>;
  try {
    clamd = await startClamd({
      workDir: join(workDir, name),
      streamMaxBytes: STREAM_MAX_BYTES,
      maxThreads: 1,
      signaturesDir: setDir,
      officialDatabaseDir: options.officialDatabaseDir,
      logger: options.logger,
      onOutput: (line) => output.push(line),
      ...(options.readyTimeoutMs ? { readyTimeoutMs: options.readyTimeoutMs } : {}),
    });
  } catch (error) {
    return { output, failure: `clamd did not start with the set: ${errorMessage(error).split('\n')[0]}` };
  }
  let memory: ClamdMemory | undefined;
  try {
    memory = await readMemory(clamd.pid);
  } finally {
    // Stopped before its output is read: clamd's log may reach the pipe only as it exits.
    await clamd.stop();
  }
  return { output, ...(memory ? { memory } : {}) };
}

/** VmRSS and VmHWM of a process, in bytes; undefined where there is no /proc. */
async function readMemory(pid: number): Promise<ClamdMemory | undefined> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  const resident = kib('VmRSS');
  const peak = kib('VmHWM');
  return resident === undefined || peak === undefined ? undefined : { resident, peak };
}

const PARSE_LINE = /^LibClamAV Error: Problem parsing database at line (\d+)/;
const CANNOT_LOAD = /^LibClamAV Error: Can't load (.+?): (.+)$/;
const YARA_ERROR = /^LibClamAV Error: yyerror\(\): (.+?) line (\d+) (.+)$/;
const YARA_NOT_LOADED = /^LibClamAV Warning: cli_loadyara: failed to parse or load (\d+) yara rules from file (.+?), successfully loaded/;
/** A rule clamd refuses outright, which stops the whole file from loading: its reasons come first ("load_oneyara[verify]: …"). */
const YARA_VERIFY = /^LibClamAV Warning: load_oneyara\[verify\]: (.+)$/;
const YARA_RULE_REFUSED = /^LibClamAV Warning: cli_loadyara: problem parsing yara file (.+?), yara rule (\S+)$/;
/** A rule that compiled but that clamd cannot use, e.g. "string is too short YARA.<rule>"; then "skipping YARA.<rule>". */
const YARA_RULE_PROBLEM = /^LibClamAV Warning: load_oneyara: (.+?) YARA\.(\S+)$/;
/** Said of the comment-only YARA file of a set without rules: expected. */
const YARA_EMPTY = /^LibClamAV Warning: cli_loadyara: empty database file/;
/** Follow-ups of an error already reported. */
const ECHOES = [/^LibClamAV Error: cli_loaddbdir: error loading database/, /^ERROR: .*Malformed database/, /^ERROR: Can't open/];

/**
 * clamd's complaints as problems, each at its source file and line when clamd
 * names a line of the set: "Problem parsing database at line N" followed by the
 * file ("Can't load <file>: Malformed database"), or a YARA error
 * ("yyerror(): <file> line N <what>").
 */
export function interpret(
  output: readonly string[],
  files: readonly PublishedFile[],
  definedAt: (name: string) => { file: string; line: number } | undefined = () => undefined,
): SignatureCheckResult {
  const problems: SetProblem[] = [];
  const warnings: string[] = [];
  const at = (path: string, line: number | undefined, message: string) => {
    const name = basename(path);
    const source = line === undefined ? undefined : sourceOf(files, name, line);
    if (source) problems.push({ file: source.file, line: source.line, message: `clamd: ${message}` });
    else
      problems.push({
        file: files.some((file) => file.name === name) ? name : 'clamd',
        ...(line ? { line } : {}),
        message: `clamd: ${message}`,
      });
  };
  let pendingLine: number | undefined;
  let yaraLines: Array<{ line: number; message: string }> = [];
  const ruleProblems = new Map<string, string[]>();
  let verifyReasons: string[] = [];
  for (const raw of output) {
    const line = raw.trim();
    let match: RegExpExecArray | null;
    if ((match = PARSE_LINE.exec(line))) {
      pendingLine = Number(match[1]);
    } else if ((match = CANNOT_LOAD.exec(line))) {
      at(match[1] ?? '', pendingLine, `cannot load it: ${match[2]}`);
      pendingLine = undefined;
    } else if ((match = YARA_ERROR.exec(line))) {
      const path = match[1] ?? '';
      const message = `YARA: ${match[3]}`;
      // "(file name missing) line 0": the file is named by the warning that follows.
      if (path.startsWith('(')) yaraLines.push({ line: Number(match[2]), message });
      else at(path, Number(match[2]) || undefined, message);
    } else if ((match = YARA_VERIFY.exec(line))) {
      verifyReasons.push(match[1] ?? '');
    } else if ((match = YARA_RULE_REFUSED.exec(line))) {
      const rule = match[2] ?? '';
      const source = definedAt(rule);
      const message = `clamd: YARA rule ${rule} cannot be loaded${verifyReasons.length > 0 ? ` (${verifyReasons.join('; ')})` : ''}`;
      problems.push(source ? { file: source.file, line: source.line, message } : { file: basename(match[1] ?? 'clamd'), message });
      verifyReasons = [];
    } else if ((match = YARA_RULE_PROBLEM.exec(line))) {
      const [, what = '', rule = ''] = match;
      const reasons = ruleProblems.get(rule) ?? [];
      ruleProblems.set(rule, reasons);
      if (what.endsWith('skipping')) {
        const source = definedAt(rule);
        const message = `clamd: YARA rule ${rule} is skipped (${reasons.join('; ') || what})`;
        problems.push(source ? { file: source.file, line: source.line, message } : { file: 'clamd', message });
      } else {
        reasons.push(what);
      }
    } else if ((match = YARA_NOT_LOADED.exec(line))) {
      const path = match[2] ?? '';
      for (const pending of yaraLines) at(path, pending.line || undefined, pending.message);
      yaraLines = [];
      at(path, undefined, `${match[1]} YARA rule(s) could not be loaded and would be left out silently`);
    } else if (YARA_EMPTY.test(line) || ECHOES.some((echo) => echo.test(line))) {
      // expected, or already reported
    } else if (/^(LibClamAV Error|ERROR):/.test(line)) {
      problems.push({ file: 'clamd', message: line });
    } else if (/^(LibClamAV Warning|WARNING):/.test(line)) {
      warnings.push(line);
    }
  }
  for (const pending of yaraLines) problems.push({ file: 'clamd', message: pending.message });
  return { problems, warnings };
}
