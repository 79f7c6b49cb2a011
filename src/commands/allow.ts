/**
 * `bucketscan allow`: the allow list, ClamAV's own false-positive mechanisms
 * (.sfp file hashes, .ign2 ignored signature names) with a reason for every
 * entry, published through the same checked path as custom signatures.
 */
import { commandSettings } from '../config/config.ts';
import { readEnvironment } from '../config/env-file.ts';
import {
  activeEntry,
  addEntry,
  ignoredName,
  normaliseSha256,
  removeEntry,
  type AllowChange,
  type AllowEntry,
} from '../signatures/allow-list.ts';
import { planPublication } from '../signatures/publish.ts';
import { Stop, stopped, UsageError } from './common.ts';
import { checkFiles, memoryLimits, openTarget, printCheck, publish, readCurrent } from './detection-set.ts';
import { parseCommandLine, parseCount } from './parse-args.ts';

export const summary = 'Add to or remove from the allow list (a file hash clamd must not flag, a signature it must ignore), with a reason.';
export const synopsis = 'allow --sha256 <hash> | --signature <name> --reason <why> [options]';
export const help = `A false positive is stopped where clamd matches, for every clamd at once:

  --sha256 <hash> [--size <bytes>]   clamd never flags a file with this SHA-256
                                     (ClamAV .sfp); --size, when known, makes the
                                     match exact on size too
  --signature <name>                 clamd ignores this signature (ClamAV .ign2),
                                     on every file: use it for a signature that is
                                     wrong, --sha256 for one file. The name as a
                                     report gives it (…UNOFFICIAL, YARA.…) or as
                                     its database writes it

--reason is required: every entry records who added it (the caller's ARN from
sts:GetCallerIdentity for an s3:// location, user@host for a directory), when,
and why. The list is versioned: every version is kept beside it
(history/allow-list.v<N>.json), entries are never deleted, and a removal is
recorded on its entry with its own reason:

  --remove   takes the entry for --sha256 or --signature off the list
  --list     prints the list (active entries; --json: the whole document)

Each change is a new version of the detection set: it is checked like custom
signatures (loaded into a throw-away clamd with the custom signatures already
published, and measured against CLAMD_MEMORY_LIMIT_MB) and published to
CUSTOM_DATABASES (or --to): a directory such as the local stack's, whose clamd
reloads at once, or s3://<definitions mirror>/custom/, which each clamd fetches
at freshclam's next check. --dry-run checks and says what would change.

The engine's "could not scan all of this" names (Heuristics.Limits.Exceeded.*,
Heuristics.Encrypted.*) cannot be ignored: that would pass such files as clean
(UNSCANNABLE_ACTION decides what happens to them). To let one quarantined file
through now, use bucketscan release; allow stops the next detections.

Exit status: 0 done (an entry that is already there changes nothing), 1 refused
by the check, not on the list (--remove), someone else changed it meanwhile (run
again), or an AWS call failed; 2 bad arguments or settings.

IAM (an s3:// location): as bucketscan signatures publish.

Examples:
  bucketscan allow --sha256 9f86d081884c7d65…0f00a08 --reason "INC-1234: customer invoice template, checked by J. Doe"
  bucketscan allow --signature Custom.Acme.Invoice-1.UNOFFICIAL --reason "matches every invoice since 2026-06, rule being fixed"
  bucketscan allow --remove --signature Custom.Acme.Invoice-1 --reason "rule fixed in version 12"
  bucketscan allow --list`;

const OPTIONS = {
  sha256: { type: 'string' },
  size: { type: 'string' },
  signature: { type: 'string' },
  reason: { type: 'string' },
  remove: { type: 'boolean' },
  list: { type: 'boolean' },
  json: { type: 'boolean' },
  to: { type: 'string' },
  'dry-run': { type: 'boolean' },
  official: { type: 'string' },
} as const;

const MAX_REASON = 1000;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandLine('allow', argv, OPTIONS);
  if (values.list) {
    const extra = (['sha256', 'signature', 'reason', 'remove', 'size', 'dry-run', 'official'] as const).find(
      (name) => values[name] !== undefined,
    );
    if (extra) throw new UsageError(`allow: --list cannot be combined with --${extra}`);
  } else if (values.json) {
    throw new UsageError('allow: --json goes with --list');
  }
  const settings = commandSettings(readEnvironment());
  if (values.list) return list(settings, values.to, values.json === true);

  const change = parseChange(values);
  const reason = (values.reason ?? '').trim();
  if (reason === '') throw new UsageError('allow: --reason is required: say why (an entry without a why cannot be reviewed later)');
  if (reason.length > MAX_REASON) throw new UsageError(`allow: --reason is longer than ${MAX_REASON} characters`);

  const { memoryLimitMiB, scanReserveMiB } = settings.detection();
  const opened = openTarget('allow', settings, values.to);
  try {
    const current = await readCurrent(opened);
    const existing = activeEntry(current.allowList, change);
    if (!values.remove && existing) {
      process.stdout.write(`already on the allow list: ${describeEntry(existing)}; nothing changed\n`);
      return 0;
    }
    const publisher = await opened.publisher();
    const actor = { by: publisher, at: new Date().toISOString(), reason };
    const changed = values.remove ? removeEntry(current.allowList, change, actor) : addEntry(current.allowList, change, actor);
    if (!changed) throw new Stop(`${change.kind} ${change.value} is not on the allow list at ${opened.target.location}`, 1);
    const publication = planPublication(current, { kind: 'allow-list', list: changed.list }, publisher, new Date());
    const report = await checkFiles(publication.files, {
      officialDatabaseDir: values.official ?? null,
      ...memoryLimits({ memoryLimitMiB, scanReserveMiB }, current),
    });
    printCheck(report);
    if (report.problems.length > 0)
      throw new Stop(`refused: ${report.problems.length} problem(s) (above); the allow list was not changed`, 1);
    const what = `${values.remove ? 'remove' : 'add'} entry ${changed.entry.id}: ${change.kind} ${change.value}`;
    if (values['dry-run']) {
      process.stdout.write(`dry run: would ${what} (allow list version ${changed.list.version}); nothing was published\n`);
      return 0;
    }
    await publish(opened, current, publication, report.memory?.figures);
    process.stdout.write(
      `${values.remove ? 'removed' : 'added'} entry ${changed.entry.id}: ${change.kind} ${change.value} (allow list version ${changed.list.version})\n`,
    );
    return 0;
  } catch (error) {
    return stopped('allow', error);
  } finally {
    opened.close();
  }
}

function parseChange(values: { sha256?: string | undefined; signature?: string | undefined; size?: string | undefined }): AllowChange {
  if (values.sha256 !== undefined && values.signature !== undefined) throw new UsageError('allow: give --sha256 or --signature, not both');
  if (values.sha256 !== undefined) {
    const hash = normaliseSha256(values.sha256);
    if (!hash) throw new UsageError(`allow: --sha256 must be 64 hex digits, got ${JSON.stringify(values.sha256.slice(0, 80))}`);
    const size = values.size === undefined ? undefined : parseCount('allow', '--size', values.size, 0, Number.MAX_SAFE_INTEGER);
    return size === undefined ? { kind: 'sha256', value: hash } : { kind: 'sha256', value: hash, size };
  }
  if (values.size !== undefined) throw new UsageError('allow: --size goes with --sha256');
  if (values.signature !== undefined) {
    const name = ignoredName(values.signature);
    if (!name.ok) throw new UsageError(`allow: --signature: ${name.problem}`);
    return { kind: 'signature', value: name.name };
  }
  throw new UsageError('allow: give --sha256 <hash> or --signature <name> (or --list)');
}

function describeEntry(entry: AllowEntry): string {
  const size = entry.size === undefined ? '' : ` (${entry.size} bytes)`;
  return `entry ${entry.id}, ${entry.kind} ${entry.value}${size}, added ${entry.added.at} by ${entry.added.by}: ${entry.added.reason}`;
}

async function list(settings: ReturnType<typeof commandSettings>, to: string | undefined, json: boolean): Promise<number> {
  const opened = openTarget('allow', settings, to);
  try {
    const { allowList } = await readCurrent(opened);
    if (json) {
      process.stdout.write(`${JSON.stringify(allowList)}\n`);
      return 0;
    }
    const active = allowList.entries.filter((entry) => !entry.removed);
    process.stdout.write(`allow list at ${opened.target.location}, version ${allowList.version}: ${active.length} active entries\n`);
    for (const entry of active) process.stdout.write(`  ${describeEntry(entry)}\n`);
    return 0;
  } catch (error) {
    return stopped('allow', error);
  } finally {
    opened.close();
  }
}
