/**
 * What `bucketscan signatures` and `bucketscan allow` share: opening the place a
 * detection set is published (CUSTOM_DATABASES, or --to), the check every
 * publication passes (the static rules, then a throw-away clamd and the memory
 * guard), printing its result, writing it, and telling the local stack's clamd
 * to reload.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../aws/clients.ts';
import { callerIdentity } from '../aws/identity.ts';
import type { CommandSettings } from '../config/config.ts';
import { createLogger } from '../log/logger.ts';
import { checkWithClamd } from '../local/signature-check.ts';
import { localPublisher, readLocalStackState } from '../local/stack.ts';
import { ClamdClient } from '../scan/clamd-client.ts';
import { describeAddress } from '../scan/wait-ready.ts';
import { errorMessage } from '../shared/errors.ts';
import { judgeMemory, memoryFigures, type MemoryFigures } from '../signatures/memory.ts';
import {
  PublicationConflict,
  readPublished,
  StoredSetError,
  writePublication,
  type Publication,
  type Published,
} from '../signatures/publish.ts';
import { describeProblem, type SetProblem } from '../signatures/set.ts';
import { directoryTarget, parseTargetLocation, s3Target, type SetTarget, type TargetLocation } from '../signatures/target.ts';
import { describeAwsFailure } from './aws-failure.ts';
import { Stop, UsageError } from './common.ts';

export interface OpenedTarget {
  target: SetTarget;
  location: TargetLocation;
  /** Who is publishing: the caller's ARN (STS) for S3, user@host for a directory. */
  publisher(): Promise<string>;
  close(): void;
}

/** The target named by --to, else CUSTOM_DATABASES. */
export function openTarget(command: string, settings: CommandSettings, to: string | undefined): OpenedTarget {
  let location: TargetLocation;
  if (to !== undefined) {
    const parsed = parseTargetLocation(to);
    if (!parsed.ok) throw new UsageError(`${command}: --to ${parsed.reason}`);
    location = parsed.value;
  } else {
    location = settings.detection().target;
  }
  if (location.kind === 'directory') {
    return { target: directoryTarget(location.path), location, publisher: async () => localPublisher(), close: () => undefined };
  }
  const connection = settings.aws('s3');
  const s3: S3Client = createS3Client(connection);
  return {
    target: s3Target(s3, location.bucket, location.prefix),
    location,
    async publisher() {
      try {
        return (await callerIdentity(connection)).arn;
      } catch (error) {
        const failure = describeAwsFailure('find out who is calling (sts:GetCallerIdentity)', error);
        throw new Stop(failure.line, failure.exitCode);
      }
    },
    close: () => s3.destroy(),
  };
}

/** What is published at the target now; an AWS failure or an unreadable file stops the command. */
export async function readCurrent(opened: OpenedTarget): Promise<Published> {
  try {
    return await readPublished(opened.target);
  } catch (error) {
    if (error instanceof StoredSetError) throw new Stop(error.message, 1);
    throw stopForAws(`read ${opened.target.location}`, error);
  }
}

function stopForAws(what: string, error: unknown): Stop {
  if (error instanceof Stop) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return new Stop(`${what}: ${errorMessage(error)}`, 1);
  const failure = describeAwsFailure(what, error);
  return new Stop(failure.line, failure.exitCode);
}

/**
 * The memory guard's limit: CLAMD_MEMORY_LIMIT_MB (less CLAMD_SCAN_RESERVE_MB) when
 * set, else what the deployment wrote beside the set (bucketscan-limits.json: the
 * database share of each clamd's memory), else none.
 */
export function memoryLimits(
  settings: { memoryLimitMiB: number | undefined; scanReserveMiB: number },
  current: Published,
): { memoryLimitMiB: number | undefined; scanReserveMiB: number } {
  if (settings.memoryLimitMiB !== undefined || !current.limits) return settings;
  return { memoryLimitMiB: current.limits.databaseMemoryMiB, scanReserveMiB: 0 };
}

export interface CheckOptions {
  officialDatabaseDir: string | null;
  definedAt?: (name: string) => { file: string; line: number } | undefined;
  memoryLimitMiB: number | undefined;
  scanReserveMiB: number;
}

export interface CheckReport {
  problems: SetProblem[];
  warnings: string[];
  memory: { figures: MemoryFigures; ok: boolean; summary: string } | undefined;
}

/** The set loaded into a throw-away clamd, and measured. */
export async function checkFiles(files: Publication['files'], options: CheckOptions): Promise<CheckReport> {
  const result = await checkWithClamd({
    files,
    officialDatabaseDir: options.officialDatabaseDir,
    logger: createLogger('silent'),
    ...(options.definedAt ? { definedAt: options.definedAt } : {}),
  });
  if (result.problems.length > 0) return { problems: result.problems, warnings: result.warnings, memory: undefined };
  if (!result.memory) {
    const problems: SetProblem[] =
      options.memoryLimitMiB === undefined
        ? []
        : [{ file: 'memory', message: 'clamd could not be measured on this system (no /proc), so the memory limit cannot be checked' }];
    return { problems, warnings: result.warnings, memory: undefined };
  }
  const figures = memoryFigures(result.memory.withSet, result.memory.empty, options.officialDatabaseDir !== null);
  const verdict = judgeMemory(figures, options.memoryLimitMiB, options.scanReserveMiB);
  return {
    problems: verdict.ok ? [] : [{ file: 'memory', message: verdict.summary }],
    warnings: result.warnings,
    memory: { figures, ...verdict },
  };
}

/** Problems and warnings on stderr, one a line; the memory line on stdout. */
export function printCheck(report: CheckReport): void {
  for (const warning of report.warnings) process.stderr.write(`warning: ${warning}\n`);
  for (const problem of report.problems) process.stderr.write(`${describeProblem(problem)}\n`);
  if (report.memory?.ok) process.stdout.write(`memory: ${report.memory.summary}\n`);
}

/** Writes a checked publication; says where it went and, for the local stack, reloads its clamd. */
export async function publish(
  opened: OpenedTarget,
  current: Published,
  publication: Publication,
  memory: MemoryFigures | undefined,
): Promise<void> {
  try {
    await writePublication(opened.target, current, publication, memory);
  } catch (error) {
    if (error instanceof PublicationConflict) throw new Stop(error.message, 1);
    throw stopForAws(`publish to ${opened.target.location}`, error);
  }
  process.stdout.write(`published version ${publication.version} to ${opened.target.location} (${publication.writes.join(', ')})\n`);
  if (opened.location.kind === 'directory') {
    process.stdout.write(`${await reloadLocalStack(opened.location.path)}\n`);
  } else {
    process.stdout.write(
      "every clamd that reads it (FRESHCLAM_CUSTOM_DATABASES_URL) loads it at freshclam's next check; " +
        'to load it at once, restart the scanning tasks (docs/detection.md)\n',
    );
  }
}

/** Asks the running local stack's clamd to reload, when the stack loads this directory. */
async function reloadLocalStack(directory: string): Promise<string> {
  const state = readLocalStackState();
  if (!state || state.customDatabases !== directory) return 'no local stack loads this directory now: the next make run loads it';
  const client = new ClamdClient({ address: state.clamd, connectTimeoutMs: 2_000, idleTimeoutMs: 10_000 });
  try {
    await client.reload();
    return `the local stack's clamd at ${describeAddress(state.clamd)} is reloading its database`;
  } catch (error) {
    return `the local stack's clamd at ${describeAddress(state.clamd)} did not take RELOAD (${errorMessage(error)}): it reloads within 10 minutes by itself (SelfCheck)`;
  }
}
