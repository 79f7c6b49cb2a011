/**
 * `bucketscan signatures check|publish|status`: a team's own ClamAV signatures,
 * checked by a throw-away clamd before any clamd of theirs sees them, and
 * published where every clamd loads them (docs/detection.md).
 */
import { commandSettings } from '../config/config.ts';
import { readEnvironment } from '../config/env-file.ts';
import { formatCount } from '../shared/format.ts';
import { planPublication } from '../signatures/publish.ts';
import {
  checkSourceFiles,
  describeProblem,
  readSourceDirectory,
  renderCustomDatabases,
  type SetCheck,
  type SourceFile,
} from '../signatures/set.ts';
import { stopped, UsageError } from './common.ts';
import { checkFiles, memoryLimits, openTarget, printCheck, publish, readCurrent, type CheckReport } from './detection-set.ts';
import { parseCommandLine } from './parse-args.ts';

export const summary = 'Check custom ClamAV signatures with a throw-away clamd, and publish them to every clamd.';
export const synopsis = 'signatures check|publish|status [options]';
export const help = `Custom signatures are ClamAV's own formats, matched by clamd itself: .ndb (body
patterns), .ldb (logical signatures), .hdb (MD5 hashes), .hsb (SHA-1/SHA-256
hashes) and .yar/.yara (YARA rules). Keep them in a directory (in version
control); bucketscan checks them and publishes them as one set with the allow
list (bucketscan allow) to CUSTOM_DATABASES, which every clamd loads.

Naming rule: every custom signature's name starts with "Custom." and every YARA
rule's with "Custom_" (YARA names cannot hold dots). Reports and notifications
then say signatureOrigin "custom" for them, "clamav" for ClamAV's own
signatures and "third-party" for other unsigned databases (docs/detection.md).

bucketscan signatures check <dir> [--official <dir>]
  Checks the signature files in <dir> (not its subdirectories; other files such
  as a README are left out and named). First the rules above, and each line's
  shape (fields, hex hashes, duplicate names), with file and line; then the set
  is loaded into a throw-away clamd, the same binary and settings as the fleet's:
  a file clamd cannot load (which would stop every clamd it reached from
  starting) and a YARA rule clamd skips (which it would only log) are refused,
  named by file and line. The same clamd is measured: how much memory the set
  adds, and whether a clamd would still fit in CLAMD_MEMORY_LIMIT_MB while it
  reloads (about twice the loaded database: the old one stays until the new one
  is ready), with CLAMD_SCAN_RESERVE_MB (default 512) kept for scans. Without
  --official the official database is not loaded and counted as 1229 MiB (its
  size loaded, ClamAV 1.4); --official /var/lib/clamav measures it too (slower).
  .fp, .sfp, .ign2 files are refused: the allow list is bucketscan allow's.

bucketscan signatures publish <dir> [--to <location>] [--dry-run] [--official <dir>]
  Checks as above, then publishes the set as the next version: the files of each
  format merged into bucketscan-custom.{hdb,hsb,ndb,ldb,yar}, each line from its
  source (a comment names the source file), a format with nothing in it as a
  file holding a comment (clamd refuses an empty file), plus
  bucketscan-manifest.json (sources, hashes, names, memory). Nothing is written
  when the check fails. --dry-run checks and says what would be written.
  --to overrides CUSTOM_DATABASES: s3://<definitions mirror>/custom/ in a fleet,
  where each clamd's freshclam fetches it (FRESHCLAM_CUSTOM_DATABASES_URL) at its
  next check and tests it once more before clamd loads it; or a directory, such
  as the local stack's, whose clamd is told to reload at once.

bucketscan signatures status [--to <location>]
  What is published there: the version, when and by whom, the source files and
  their signatures, the allow list's size.

Exit status: 0 done (or the check passed); 1 the set was refused (the lines on
stderr say why), someone else published meanwhile (run again), or an AWS call
failed; 2 bad arguments or settings.

IAM (an s3:// location): s3:GetObject and s3:PutObject on <location>*,
s3:ListBucket on its bucket (so a missing file reads as missing), and
sts:GetCallerIdentity, which needs no grant (the publisher's ARN is recorded).

Examples:
  bucketscan signatures check detection/signatures
  bucketscan signatures publish detection/signatures --dry-run
  bucketscan signatures publish detection/signatures --to s3://bucketscan-mirror-1a2b/custom/
  bucketscan signatures status`;

const CHECK_OPTIONS = { official: { type: 'string' } } as const;
const PUBLISH_OPTIONS = { to: { type: 'string' }, 'dry-run': { type: 'boolean' }, official: { type: 'string' } } as const;
const STATUS_OPTIONS = { to: { type: 'string' } } as const;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'check':
        return await check(rest);
      case 'publish':
        return await publishCommand(rest);
      case 'status':
        return await status(rest);
      case undefined:
        throw new UsageError('signatures: say check, publish or status (bucketscan signatures --help)');
      default:
        throw new UsageError(`signatures: unknown subcommand ${JSON.stringify(sub)} (check, publish or status)`);
    }
  } catch (error) {
    return stopped('signatures', error);
  }
}

/** The source directory, read and checked by the static rules. */
async function readSources(command: string, dir: string | undefined): Promise<{ files: SourceFile[]; check: SetCheck; ignored: string[] }> {
  if (dir === undefined) throw new UsageError(`signatures ${command}: name the directory holding the signature files`);
  let read: Awaited<ReturnType<typeof readSourceDirectory>>;
  try {
    read = await readSourceDirectory(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`signatures ${command}: ${JSON.stringify(dir)} does not exist`);
    if (code === 'ENOTDIR') throw new UsageError(`signatures ${command}: ${JSON.stringify(dir)} is not a directory`);
    throw error;
  }
  const check = checkSourceFiles(read.files);
  return { files: read.files, check: { ...check, problems: [...read.problems, ...check.problems] }, ignored: read.ignored };
}

function describeSources(sources: { files: SourceFile[]; check: SetCheck; ignored: string[] }): void {
  for (const file of sources.files) {
    const count = sources.check.signatures.filter((signature) => signature.file === file.name).length;
    process.stdout.write(`${file.name}: ${formatCount(count)} signature${count === 1 ? '' : 's'}\n`);
  }
  if (sources.ignored.length > 0) process.stdout.write(`left out (not signature files): ${sources.ignored.join(', ')}\n`);
  for (const note of sources.check.notes) process.stdout.write(`note: ${note}\n`);
}

function refused(problems: number): number {
  process.stderr.write(`bucketscan: signatures: refused: ${problems} problem${problems === 1 ? '' : 's'} (above); nothing was published\n`);
  return 1;
}

async function clamdCheck(
  files: Parameters<typeof checkFiles>[0],
  sources: { check: SetCheck },
  official: string | undefined,
  limits: { memoryLimitMiB: number | undefined; scanReserveMiB: number },
): Promise<CheckReport> {
  const signatures = sources.check.signatures;
  return checkFiles(files, {
    officialDatabaseDir: official ?? null,
    definedAt: (name) => signatures.find((signature) => signature.name === name),
    ...limits,
  });
}

async function check(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('signatures check', argv, CHECK_OPTIONS, 1);
  const settings = commandSettings(readEnvironment());
  const { memoryLimitMiB, scanReserveMiB } = settings.detection();
  const sources = await readSources('check', positionals[0]);
  describeSources(sources);
  if (sources.check.problems.length > 0) {
    for (const problem of sources.check.problems) process.stderr.write(`${describeProblem(problem)}\n`);
    return refused(sources.check.problems.length);
  }
  const files = renderCustomDatabases(sources.files, ['bucketscan signatures check']);
  const report = await clamdCheck(files, sources, values.official, { memoryLimitMiB, scanReserveMiB });
  printCheck(report);
  if (report.problems.length > 0) {
    process.stderr.write(`bucketscan: signatures: ${report.problems.length} problem(s): this set would be refused\n`);
    return 1;
  }
  process.stdout.write(`OK: clamd loads the set (${formatCount(sources.check.signatures.length)} signatures)\n`);
  return 0;
}

async function publishCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('signatures publish', argv, PUBLISH_OPTIONS, 1);
  const settings = commandSettings(readEnvironment());
  const { memoryLimitMiB, scanReserveMiB } = settings.detection();
  const opened = openTarget('signatures publish', settings, values.to);
  try {
    const sources = await readSources('publish', positionals[0]);
    describeSources(sources);
    if (sources.check.problems.length > 0) {
      for (const problem of sources.check.problems) process.stderr.write(`${describeProblem(problem)}\n`);
      return refused(sources.check.problems.length);
    }
    const current = await readCurrent(opened);
    const publisher = await opened.publisher();
    const publication = planPublication(
      current,
      { kind: 'signatures', sources: sources.files, signatures: sources.check.signatures },
      publisher,
      new Date(),
    );
    const report = await clamdCheck(publication.files, sources, values.official, memoryLimits({ memoryLimitMiB, scanReserveMiB }, current));
    printCheck(report);
    if (report.problems.length > 0) return refused(report.problems.length);
    if (values['dry-run']) {
      process.stdout.write(
        `dry run: version ${publication.version} would write ${publication.writes.join(', ')} to ${opened.target.location}; nothing was published\n`,
      );
      return 0;
    }
    await publish(opened, current, publication, report.memory?.figures);
    return 0;
  } finally {
    opened.close();
  }
}

async function status(argv: string[]): Promise<number> {
  const { values } = parseCommandLine('signatures status', argv, STATUS_OPTIONS);
  const opened = openTarget('signatures status', commandSettings(readEnvironment()), values.to);
  try {
    const current = await readCurrent(opened);
    const { manifest, allowList } = current;
    if (!manifest) {
      process.stdout.write(`nothing is published at ${opened.target.location}\n`);
      return 0;
    }
    const active = allowList.entries.filter((entry) => !entry.removed);
    const lines = [
      `${opened.target.location}: version ${manifest.version}, published ${manifest.publishedAt} by ${manifest.publishedBy} (${manifest.change})`,
      ...manifest.sources.map(
        (source) => `  ${source.file}: ${source.signatures.length} signatures (sha256 ${source.sha256.slice(0, 12)}…)`,
      ),
      `  allow list version ${allowList.version}: ${active.filter((e) => e.kind === 'sha256').length} hashes, ${active.filter((e) => e.kind === 'signature').length} ignored signatures (bucketscan allow --list)`,
    ];
    const missing = manifest.files.filter((file) => !current.databases.has(file.name)).map((file) => file.name);
    if (missing.length > 0) lines.push(`  MISSING: ${missing.join(', ')}: every clamd that reads this set fails its update; publish again`);
    if (manifest.memory) {
      lines.push(`  memory when published: the set added ${(manifest.memory.setBytes / 1048576).toFixed(1)} MiB to clamd`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    return missing.length > 0 ? 1 : 0;
  } finally {
    opened.close();
  }
}
