/**
 * `bucketscan scan`: a read-only, one-off check of local files, S3 objects or
 * stdin with the configured clamd. No queue, no quarantine, nothing written
 * anywhere: one result line per target on stdout, and an exit code.
 *
 * Everything is streamed into clamd through the worker's own ClamdClient (same
 * MAX_FILE_SIZE stream limit) and judged by the worker's own rules (see
 * scan-report.ts), so `scan` and the worker cannot disagree about what is clean.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { commandSettings } from '../config/config.ts';
import { createS3Client } from '../aws/clients.ts';
import { awsErrorInfo } from '../aws/errors.ts';
import { errorMessage } from '../shared/errors.ts';
import type { Body } from '../shared/lending.ts';
import { openObject } from '../aws/objects.ts';
import { ClamdClient, ClamdError, type ClamdAddress } from '../scan/clamd-client.ts';
import { describeAddress } from '../scan/wait-ready.ts';
import { readEnvironment } from '../config/env-file.ts';
import { UsageError } from './common.ts';
import { parseCommandArgs } from './parse-args.ts';
import { tooLarge } from '../pipeline/decide.ts';
import {
  exitCode,
  jsonLine,
  parseTargets,
  streamTooLong,
  textLine,
  type ScanOutcome,
  type ScanTargetSpec,
  type TargetReport,
} from './scan-report.ts';

export const summary = 'Scan local files, S3 objects or stdin once with the configured clamd; reads only, writes nothing.';
export const synopsis = 'scan [--json] <file | s3://bucket/key | ->…';
export const help = `Streams each target into clamd (CLAMD_HOST/CLAMD_PORT or CLAMD_SOCKET) and prints one
line per target, in the order given, the way clamdscan does:

  <target>: OK                          clean
  <target>: <signature> FOUND           infected
  <target>: <detail> (<heuristic>) UNSCANNABLE
                                        not fully scanned: a clamd limit (zip bomb,
                                        nesting, too many files, scan time),
                                        encryption, clamd's StreamMaxLength, or larger
                                        than MAX_FILE_SIZE (these two name no heuristic)
  <target>: ERROR <why>                 could not be checked (missing, unreadable,
                                        S3 or clamd failure)

Targets: a local file, s3://bucket/key (the key taken literally, as the AWS CLI
does: no percent-decoding), or - for stdin (shown as "stdin"). S3 objects are read with GetObject using
the worker's AWS settings (AWS_REGION, AWS_ENDPOINT_URL, credentials…), streamed,
never downloaded whole. Nothing is tagged, moved, queued or deleted.

Options:
  --json    one JSON object per line instead: target, kind (file|s3|stdin), status
            (CLEAN|INFECTED|UNSCANNABLE|ERROR), signature, signatureOrigin
            (clamav|custom|third-party), reason (UNSCANNABLE only:
            too-large|limit-exceeded|encrypted|stream-limit), detail, bytes, bucket,
            key, versionId, eTag (null where they do not apply). signature: the
            signature (INFECTED) or the heuristic clamd named (UNSCANNABLE);
            signatureOrigin: where it comes from (docs/detection.md); detail:
            what was not scanned (UNSCANNABLE) or why (ERROR); bytes: the target's
            length when it was read to the end, or its size when refused as too
            large; bucket, key, versionId, eTag: the S3 version that was scanned
            (versionId null in an unversioned bucket)

Exit status: 2 if any target is ERROR (even when others were found), else 1 if any
is INFECTED or UNSCANNABLE, else 0 (clamdscan's order). Bad arguments or settings:
one line on stderr, exit 2, nothing scanned.

For example:
  $ bucketscan scan clean.txt eicar.com bomb.zip missing.txt
  clean.txt: OK
  eicar.com: Win.Test.EICAR_HDB-1 FOUND
  bomb.zip: it unpacks to more data than clamd's MaxScanSize (Heuristics.Limits.Exceeded.MaxScanSize) UNSCANNABLE
  missing.txt: ERROR no such file
  $ echo $?
  2
  $ curl -s https://example.com/file.bin | bucketscan scan -

The same verdicts as the worker: scan uses the worker's clamd client (same
timeouts, same MAX_FILE_SIZE stream limit) and its decision rules, so the two
cannot disagree about what is clean. What the worker would quarantine as
TOO_LARGE (larger than MAX_FILE_SIZE) is UNSCANNABLE with reason too-large here,
and is not sent to clamd; stdin and pipes, whose size is unknown, are cut off
once they pass MAX_FILE_SIZE. UNSCANNABLE_ACTION plays no part: nothing that was
not fully scanned is ever OK.

Errors: bad arguments (no target, a malformed s3:// URL such as s3://, s3://bucket,
s3://bucket/ or an invalid bucket name, - twice, an unknown option) stop the
command before anything is scanned. A problem with one target is its ERROR line
(no such file, a directory, unreadable, no such key (NoSuchKey), no such bucket
(NoSuchBucket), access denied, an S3 or clamd failure); the others are still
scanned. clamd is asked for its VERSION once before the first target: when it is
down, every target gets the same line, e.g.
  eicar.com: ERROR could not connect to clamd at 127.0.0.1:3310: ECONNREFUSED
When clamd has no official database (only custom signatures, as in the local
stack without freshclam), a warning on stderr says so. Control characters in a
name are escaped (\\x0a), so a file name cannot forge a line.

Settings: CLAMD_HOST/CLAMD_PORT or CLAMD_SOCKET, CLAMD_CONNECT_TIMEOUT,
CLAMD_TIMEOUT and MAX_FILE_SIZE, as the worker reads them; for s3:// targets also
the region, endpoint and credentials (IAM: s3:GetObject; the current version is
read). Local files need no AWS settings. In a checkout whose .env points at the
local emulator, BUCKETSCAN_ENV_FILE=none scans objects in AWS. Against make run,
take clamd's port from its banner:
  CLAMD_PORT=<port> bucketscan scan s3://unprocessed/<key>`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('scan', argv, { json: { type: 'boolean' } }, true);
  const parsed = parseTargets(positionals);
  if (!parsed.ok) throw new UsageError(`scan: ${parsed.reason}`);
  const { targets } = parsed;
  if (targets.some((t) => t.kind === 'stdin') && process.stdin.isTTY) {
    throw new UsageError('scan: - reads stdin, which is a terminal here: pipe or redirect a file into it');
  }

  // Settings are checked before anything is scanned: a bad one stops the command
  // with its one-line error instead of failing every target.
  const settings = commandSettings(readEnvironment());
  const clamdSettings = settings.clamd();
  const { maxFileSizeBytes } = clamdSettings;
  const s3 = targets.some((t) => t.kind === 's3') ? createS3Client(settings.aws('s3')) : undefined;

  const output = new Output(values.json === true);
  try {
    // The same client, limits and timeouts as the worker's (src/worker/service.ts).
    const clamd = new ClamdClient({
      address: clamdSettings.address,
      connectTimeoutMs: clamdSettings.connectTimeoutMs,
      idleTimeoutMs: clamdSettings.idleTimeoutMs,
      maxStreamBytes: maxFileSizeBytes,
    });
    // One VERSION up front: when clamd is down every target says so at once, without
    // being opened, instead of each waiting out its own connection attempt.
    const down = await clamdProblem(clamd, clamdSettings.address);
    const context: Context = { clamd, s3, maxFileSizeBytes, address: clamdSettings.address };
    const reports: TargetReport[] = [];
    for (const target of targets) {
      const report = down ? failed(target, down) : await scanTarget(target, context);
      reports.push(report);
      if (!(await output.write(report))) return 2; // stdout went away: nothing more can be reported
    }
    return exitCode(reports);
  } finally {
    s3?.destroy();
  }
}

interface Context {
  clamd: ClamdClient;
  s3: S3Client | undefined;
  maxFileSizeBytes: number;
  address: ClamdAddress;
}

/** Why no target can be scanned (clamd unreachable), or undefined; warns when clamd has only custom signatures. */
async function clamdProblem(clamd: ClamdClient, address: ClamdAddress): Promise<string | undefined> {
  try {
    const engine = await clamd.version();
    if (engine.databaseVersion === null) {
      process.stderr.write(
        `bucketscan: warning: clamd at ${describeAddress(address)} (${engine.raw}) has no official ClamAV database, ` +
          'only custom signatures: OK means none of those matched\n',
      );
    }
    return undefined;
  } catch (error) {
    return clamdFailure(error, address);
  }
}

function clamdFailure(error: unknown, address: ClamdAddress): string {
  const message = firstLine(error);
  if (error instanceof ClamdError && error.kind === 'connect') {
    return message.replace(/^could not connect to clamd/, `could not connect to clamd at ${describeAddress(address)}`);
  }
  return `clamd at ${describeAddress(address)}: ${message}`;
}

async function scanTarget(target: ScanTargetSpec, context: Context): Promise<TargetReport> {
  switch (target.kind) {
    case 'file':
      return scanFile(target, context);
    case 's3':
      return scanObject(target, context);
    case 'stdin':
      return scanStream(target, process.stdin, context, null);
  }
}

async function scanFile(target: Extract<ScanTargetSpec, { kind: 'file' }>, context: Context): Promise<TargetReport> {
  let handle: FileHandle;
  try {
    handle = await open(target.path, 'r');
  } catch (error) {
    return failed(target, fileProblem(error, 'open'));
  }
  try {
    const info = await handle.stat();
    if (info.isDirectory()) return failed(target, 'is a directory (scan takes files; name the files in it)');
    // Pipes and devices have no size up front; MAX_FILE_SIZE then stops them as they stream.
    if (info.isFile()) {
      const refused = tooLarge(info.size, context.maxFileSizeBytes);
      if (refused) return reportOf(target, refused, info.size);
    }
    return await scanStream(target, handle.createReadStream({ autoClose: false }), context, null);
  } catch (error) {
    return failed(target, fileProblem(error, 'read'));
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function scanObject(target: Extract<ScanTargetSpec, { kind: 's3' }>, context: Context): Promise<TargetReport> {
  if (!context.s3) return failed(target, 'no S3 client'); // created whenever an s3:// target is given
  let opened: Awaited<ReturnType<typeof openObject>>;
  try {
    // The worker's reader: GetObject with the body left as a stream.
    opened = await openObject(context.s3, { bucket: target.bucket, key: target.key, versionId: undefined, eTag: undefined });
  } catch (error) {
    return failed(target, s3Problem(error));
  }
  if (opened.kind === 'gone') return failed(target, 'no such key (NoSuchKey)');
  if (opened.kind === 'precondition-failed') return failed(target, 'the object changed while it was being opened');
  const version = { versionId: opened.versionId ?? null, eTag: opened.eTag ?? null };
  const refused = tooLarge(opened.size, context.maxFileSizeBytes);
  if (refused) {
    opened.body.destroy(); // an unread body holds its connection
    return { ...reportOf(target, refused, opened.size), ...version };
  }
  return scanStream(target, opened.body, context, version);
}

/**
 * Streams `source` into clamd through a byte counter. The pipeline ties the two
 * together: when the client gives up on the counter (a verdict before the end, a
 * failure), the pipeline destroys the source too, which releases an S3 body's
 * connection or a file's read.
 */
async function scanStream(
  target: ScanTargetSpec,
  source: Readable | Body,
  context: Context,
  version: { versionId: string | null; eTag: string | null } | null,
): Promise<TargetReport> {
  let bytes = 0;
  let wholeRead = false;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
    flush(done) {
      wholeRead = true;
      done();
    },
  });
  const piped = pipeline(source, counter).catch(() => undefined);
  let outcome: ScanOutcome;
  try {
    outcome = await context.clamd.scan(counter);
  } catch (error) {
    if (error instanceof ClamdError && error.kind === 'limit') outcome = streamTooLong(context.maxFileSizeBytes);
    else if (error instanceof ClamdError) outcome = { status: 'error', detail: clamdFailure(error, context.address) };
    else outcome = { status: 'error', detail: readProblem(target, error) };
  }
  counter.destroy();
  await piped;
  return { target, outcome, bytes: wholeRead ? bytes : null, versionId: version?.versionId ?? null, eTag: version?.eTag ?? null };
}

function reportOf(target: ScanTargetSpec, outcome: ScanOutcome, bytes: number | null): TargetReport {
  return { target, outcome, bytes, versionId: null, eTag: null };
}

function failed(target: ScanTargetSpec, detail: string): TargetReport {
  return reportOf(target, { status: 'error', detail }, null);
}

/** A file system failure in words, by its code; the path is already the target. */
function fileProblem(error: unknown, step: 'open' | 'read'): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory (scan takes files; name the files in it)';
    case 'ENOTDIR':
      return 'no such file (a part of the path is not a directory)';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    default:
      return `could not ${step} the file: ${code ?? firstLine(error)}`;
  }
}

function readProblem(target: ScanTargetSpec, error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (target.kind === 'file') return fileProblem(error, 'read');
  if (target.kind === 'stdin') return `could not read stdin: ${code ?? firstLine(error)}`;
  return `the object's download broke off: ${code ?? firstLine(error)}`;
}

function s3Problem(error: unknown): string {
  const { status, code } = awsErrorInfo(error);
  if (code === 'NoSuchBucket') return 'no such bucket (NoSuchBucket)';
  if (code === 'AccessDenied' || status === 403) return `access denied (${code ?? 'HTTP 403'})`;
  if (code === 'InvalidObjectState') return 'the object is archived (InvalidObjectState): restore it first';
  if (status !== undefined) return `S3 answered HTTP ${status}${code ? ` ${code}` : ''}: ${firstLine(error)}`;
  return `S3 request failed: ${firstLine(error)}`;
}

/** The first line of an error's message: result lines are one line each. */
function firstLine(error: unknown): string {
  return (errorMessage(error).split('\n')[0] ?? '').trim() || (error instanceof Error ? error.name : 'unknown error');
}

/** Writes each result as soon as it is known; false once stdout cannot take more (a closed pipe). */
class Output {
  readonly #json: boolean;
  #broken = false;

  constructor(json: boolean) {
    this.#json = json;
    // Without a listener, EPIPE from a reader that went away (`| head -1`) would
    // be thrown as an unhandled 'error' event.
    process.stdout.on('error', () => {
      this.#broken = true;
    });
  }

  async write(report: TargetReport): Promise<boolean> {
    if (this.#broken) return false;
    const line = `${this.#json ? jsonLine(report) : textLine(report)}\n`;
    await new Promise<void>((resolve) => process.stdout.write(line, () => resolve()));
    return !this.#broken;
  }
}
