import type { SQSClient } from '@aws-sdk/client-sqs';
import { createSqsClient } from '../aws/clients.ts';
import {
  cancelMoveTask,
  describeQueue,
  isUnsupportedOperation,
  listMoveTasks,
  parseQueueArn,
  queueUrlFromArn,
  startMoveTask,
  type MoveTask,
  type QueueDescription,
} from '../aws/dead-letter.ts';
import { awsErrorInfo } from '../aws/errors.ts';
import { QUEUE_NAME, queueNameOf, resolveQueueUrl, type QueueRef } from '../aws/queue.ts';
import { commandSettings, type CommandSettings } from '../config/config.ts';
import { ConfigError } from '../config/variables.ts';
import type { RecordRules } from '../events/record.ts';
import { describeMessage, formatTable, toJson } from '../dlq/describe.ts';
import { peekMessages } from '../dlq/peek.ts';
import { redriveByHand, runMoveTask, type ManualStats } from '../dlq/redrive.ts';
import { describeAwsFailure, isMissingQueue } from './aws-failure.ts';
import { realClock } from '../shared/time.ts';
import { readEnvironment } from '../config/env-file.ts';
import { shutdownSignal } from '../shared/shutdown.ts';
import { UsageError } from './common.ts';
import { parseCommandLine, parseCount } from './parse-args.ts';
import { formatCount, formatDuration } from '../shared/format.ts';
import { Progress } from './progress.ts';

export const summary = "List the inbound queue's dead-letter queue, or move its messages back (redrive).";
export const synopsis = 'dlq list|redrive [options]';
export const help = `A message that fails on every receive (maxReceiveCount in the inbound queue's
redrive policy) is moved by SQS to the dead-letter queue. Nothing there is
scanned, so it needs a look.

bucketscan dlq list [--json] [--max <n>] [--queue <name|url>]
  Shows what sits in the dead-letter queue: per message its MessageId, receive
  count, age (since it was first sent) and first receive, and the objects it names
  (read with the worker's own parser). --json prints one JSON object per line.
  --max bounds the listing (default 100, at most 10000).
  SQS has no peek: messages are received (hidden for 30 s at most) and made
  visible again at the end of the listing, and each listing adds one to their
  receive count. With many messages the listing is a sample: SQS returns what
  it can reach, at most --max messages.

  MESSAGE ID                            RECEIVES  AGE     FIRST RECEIVED        OBJECTS
  5d848893-7d8c-4fc2-b569-0ee2d7f4b5da         6  2h 13m  2026-06-15T10:00:01Z  s3://unprocessed/0b6f2c1e-…/report.pdf
  8a0e8ce4-2fbc-48de-923d-e8196a7b1112         6  3d 02h  2026-06-12T08:14:40Z  (unreadable: message body is not valid JSON)

  OBJECTS are read from the body as the worker reads it (raw S3 events, SNS
  envelopes, test events; for junk, why it is junk); [rescan] marks a rescan
  event. RECEIVES is SQS's ApproximateReceiveCount: the receives on the inbound
  queue and in the dead-letter queue, this listing's included. AGE counts from
  SentTimestamp, the time the message was first sent (SQS keeps it when it
  dead-letters a message). --json fields: messageId, receiveCount, sentAt,
  ageSeconds, firstReceivedAt, origin, kind, and objects or reason.
  Each message is shown once (by MessageId); all are made visible again with
  ChangeMessageVisibilityBatch at the end, after Ctrl-C or an error too. A
  warning says so when the dead-letter queue has a redrive policy of its own,
  where the listing's receives could move messages on. Messages another client
  is receiving at that moment are not shown. An empty queue prints
  'dead-letter queue "…" is empty' on stderr and exits 0: the healthy state.

bucketscan dlq redrive [--dry-run] [--max <n>] [--queue <name|url>]
  Moves the messages back to the inbound queue. Uses SQS's message move task
  (StartMessageMoveTask) where the endpoint has it; otherwise, and always with
  --max (a move task cannot be limited), it receives, sends to the inbound queue
  with the same body and attributes, and deletes only what was sent.
  --dry-run says how many messages would move, and how; it moves none.
  Progress goes to stderr, a summary line to stdout.
  By hand (the local emulators have no move task: the read-only
  ListMessageMoveTasks finds that out before anything moves), messages are
  received hidden for 60 s; one whose send failed is back in the dead-letter
  queue after that, and one sent but not deleted stays in both queues (a later
  redrive moves it again: a duplicate the worker handles). Either is reported,
  with exit 1. Ctrl-C cancels a move task (what moved stays moved) or finishes
  the batch in hand, and exits 130. An empty dead-letter queue: one line, exit 0.
  A redriven message is a new message with a new MessageId.

Matching a message to its cause: the worker logs every failure with the
message's messageId, and on the receive after which SQS will dead-letter it the
line "about to be dead-lettered" with the error. SQS keeps the MessageId when it
dead-letters a message, so MESSAGE ID finds it in the worker's logs, e.g.
  grep 5d848893-7d8c-4fc2-b569-0ee2d7f4b5da worker.log
or in CloudWatch Logs Insights:
  fields @timestamp, msg, error | filter messageId = "5d848893-…" | sort @timestamp
After a redrive, its failures are logged under its new MessageId.

The dead-letter queue is the one named in the inbound queue's redrive policy
(VIRUS_SCANNING_QUEUE_NAME or _URL), or --queue.

Exit codes: 0 done (an empty queue included), 1 an AWS call failed or some
messages could not be moved, 2 bad arguments or settings, a queue that does not
exist or has no redrive policy (queue "…" has no redrive policy, so it has no
dead-letter queue), 130 interrupted.

IAM: sqs:GetQueueUrl and sqs:GetQueueAttributes on both queues;
sqs:ReceiveMessage and sqs:ChangeMessageVisibility on the dead-letter queue for
list; for redrive, sqs:ListMessageMoveTasks, sqs:StartMessageMoveTask,
sqs:CancelMessageMoveTask, sqs:ReceiveMessage and sqs:DeleteMessage on the
dead-letter queue and sqs:SendMessage on the inbound queue.

Examples:
  bucketscan dlq list                   what is in it, one line per message
  bucketscan dlq list --json --max 500  JSON lines
  bucketscan dlq redrive --dry-run      how many would move, and how
  bucketscan dlq redrive                move them all back to the inbound queue
  bucketscan dlq redrive --max 10       only ten`;

const LIST_OPTIONS = {
  json: { type: 'boolean' },
  max: { type: 'string' },
  queue: { type: 'string' },
} as const;

const REDRIVE_OPTIONS = {
  'dry-run': { type: 'boolean' },
  max: { type: 'string' },
  queue: { type: 'string' },
} as const;

/** A failure that ends the command with one line and an exit code. */
class Stop extends Error {
  readonly exitCode: number;
  constructor(line: string, exitCode: number) {
    super(line);
    this.exitCode = exitCode;
  }
}

const queueName = (url: string) => queueNameOf({ url });

function parseQueueOption(value: string): QueueRef {
  const trimmed = value.trim();
  if (/^https?:\/\/[^\s/]+\/\S+$/.test(trimmed)) return { url: trimmed };
  if (QUEUE_NAME.test(trimmed)) return { name: trimmed };
  throw new UsageError(`dlq: --queue ${JSON.stringify(value)} is neither an SQS queue name nor a queue URL`);
}

async function lookUp(sqs: SQSClient, ref: QueueRef, label: string, signal: AbortSignal): Promise<QueueDescription> {
  try {
    return await describeQueue(sqs, await resolveQueueUrl(sqs, ref, signal), signal);
  } catch (error) {
    if (isMissingQueue(error)) throw new Stop(`${label} does not exist`, 2);
    if (signal.aborted) throw new Stop('interrupted', 130);
    const failure = describeAwsFailure(`look up ${label}`, error);
    throw new Stop(failure.line, failure.exitCode);
  }
}

function inboundLabel(ref: QueueRef): string {
  return 'url' in ref
    ? `the inbound queue ${ref.url} (VIRUS_SCANNING_QUEUE_URL)`
    : `the inbound queue "${ref.name}" (VIRUS_SCANNING_QUEUE_NAME)`;
}

/** The dead-letter queue: named with --queue, or from the inbound queue's redrive policy. */
async function findDeadLetterQueue(
  sqs: SQSClient,
  named: QueueRef | undefined,
  inbound: { ref: QueueRef; description: QueueDescription } | undefined,
  signal: AbortSignal,
): Promise<QueueDescription> {
  if (named) {
    const label = 'url' in named ? `queue ${named.url} (--queue)` : `queue "${named.name}" (--queue)`;
    return lookUp(sqs, named, label, signal);
  }
  const { ref, description } = inbound!;
  const policy = description.redrivePolicy;
  const name = queueName(description.url);
  if (!policy) {
    throw new Stop(`queue "${name}" has no redrive policy, so it has no dead-letter queue (name one with --queue)`, 2);
  }
  const arn = parseQueueArn(policy.deadLetterTargetArn);
  if (!arn)
    throw new Stop(`the redrive policy of queue "${name}" names ${JSON.stringify(policy.deadLetterTargetArn)}, not an SQS queue ARN`, 2);
  try {
    return await describeQueue(sqs, await queueUrlFromArn(sqs, arn, signal), signal);
  } catch (error) {
    if (isMissingQueue(error)) {
      throw new Stop(`dead-letter queue "${arn.name}" (in the redrive policy of ${inboundLabel(ref)}) does not exist`, 2);
    }
    if (signal.aborted) throw new Stop('interrupted', 130);
    const failure = describeAwsFailure(`look up dead-letter queue "${arn.name}"`, error);
    throw new Stop(failure.line, failure.exitCode);
  }
}

function recordRules(settings: CommandSettings): RecordRules | undefined {
  try {
    return settings.unprocessed();
  } catch (error) {
    // Without the bucket setting the keys are still shown, read against their own bucket.
    if (error instanceof ConfigError) return undefined;
    throw error;
  }
}

function counts(queue: QueueDescription): string {
  const parts = [`~${formatCount(queue.visible)} message${queue.visible === 1 ? '' : 's'}`];
  if (queue.inFlight > 0) parts.push(`${formatCount(queue.inFlight)} in flight`);
  if (queue.delayed > 0) parts.push(`${formatCount(queue.delayed)} delayed`);
  return parts.join(', ');
}

const isEmpty = (queue: QueueDescription) => queue.visible === 0 && queue.inFlight === 0 && queue.delayed === 0;

interface Request {
  max: number | undefined;
  named: QueueRef | undefined;
  json: boolean;
  dryRun: boolean;
}

async function list(sqs: SQSClient, settings: CommandSettings, request: Request, signal: AbortSignal): Promise<number> {
  const max = request.max ?? 100;
  const { named } = request;
  let inbound: { ref: QueueRef; description: QueueDescription } | undefined;
  if (!named) {
    const ref = settings.inboundQueue();
    inbound = { ref, description: await lookUp(sqs, ref, inboundLabel(ref), signal) };
  }
  const dlq = await findDeadLetterQueue(sqs, named, inbound, signal);
  const name = queueName(dlq.url);
  const stderr = process.stderr;
  if (dlq.redrivePolicy) {
    stderr.write(
      `warning: "${name}" has a redrive policy of its own (maxReceiveCount ${dlq.redrivePolicy.maxReceiveCount}); every listing counts as a receive and may move messages on\n`,
    );
  }
  const peek = await peekMessages({ sqs, url: dlq.url, max, signal });
  const now = new Date();
  const rules = recordRules(settings);
  const entries = peek.messages.map((message) => describeMessage(message, rules));
  if (request.json) {
    for (const entry of entries) process.stdout.write(`${JSON.stringify(toJson(entry, now))}\n`);
  } else if (entries.length > 0) {
    process.stdout.write(`${formatTable(entries, now).join('\n')}\n`);
  }
  for (const failure of peek.releaseFailures.slice(0, 5)) {
    stderr.write(`warning: could not make a message visible again (${failure.code}); it will be after its 30 s timeout\n`);
  }
  if (peek.error !== undefined) {
    const failure = describeAwsFailure(`receive from "${name}"`, peek.error);
    stderr.write(`bucketscan: dlq list: ${failure.line}\n`);
    return failure.exitCode;
  }
  if (entries.length === 0) {
    stderr.write(
      isEmpty(dlq)
        ? `dead-letter queue "${name}" is empty\n`
        : `dead-letter queue "${name}": no message could be received (${counts(dlq)}); messages in flight are being received by another client\n`,
    );
    return peek.end === 'interrupted' ? 130 : 0;
  }
  const shown = `${formatCount(entries.length)} message${entries.length === 1 ? '' : 's'}`;
  const note = peek.end === 'max' && dlq.visible > entries.length ? ` (the first ${formatCount(max)}: --max)` : '';
  stderr.write(`dead-letter queue "${name}": listed ${shown}${note} of ${counts(dlq)}; all are visible again\n`);
  return peek.end === 'interrupted' ? 130 : 0;
}

function manualProgressLine(stats: ManualStats, total: number, elapsedMs: number): string {
  const failed = stats.sendFailed + stats.deleteFailed;
  return `redrive: moved ${formatCount(stats.moved)} of ~${formatCount(total)}${failed ? `, ${formatCount(failed)} failed` : ''}, ${formatDuration(elapsedMs)}`;
}

function moveTaskLine(task: MoveTask, elapsedMs: number): string {
  const of = task.toMove !== undefined ? ` of ~${formatCount(task.toMove)}` : '';
  return `redrive (SQS move task, ${task.status.toLowerCase()}): moved ${formatCount(task.moved)}${of}, ${formatDuration(elapsedMs)}`;
}

async function redrive(sqs: SQSClient, settings: CommandSettings, request: Request, signal: AbortSignal): Promise<number> {
  const { max, named } = request;
  const ref = settings.inboundQueue();
  const inbound = { ref, description: await lookUp(sqs, ref, inboundLabel(ref), signal) };
  const dlq = await findDeadLetterQueue(sqs, named, inbound, signal);
  const from = queueName(dlq.url);
  const to = queueName(inbound.description.url);
  const stderr = process.stderr;
  if (dlq.arn === inbound.description.arn) throw new Stop(`"${from}" is the inbound queue itself, not its dead-letter queue`, 2);
  if (isEmpty(dlq)) {
    process.stdout.write(`dead-letter queue "${from}" is empty: nothing to redrive\n`);
    return 0;
  }

  // Which way: a move task unless --max asks for a number, or the endpoint has none
  // (ListMessageMoveTasks answers that without side effects).
  let method: 'move-task' | 'by-hand' = 'move-task';
  let running: MoveTask | undefined;
  if (max !== undefined) method = 'by-hand';
  else {
    try {
      running = (await listMoveTasks(sqs, dlq.arn, signal)).find((task) => task.status === 'RUNNING');
    } catch (error) {
      if (!isUnsupportedOperation(error)) {
        if (signal.aborted) return 130;
        const failure = describeAwsFailure(`list the message move tasks of "${from}"`, error);
        throw new Stop(failure.line, failure.exitCode);
      }
      method = 'by-hand';
      stderr.write(
        `this endpoint has no SQS message move tasks (${awsErrorInfo(error).code ?? 'unsupported'}): moving messages by receive, send, delete\n`,
      );
    }
  }
  if (running) {
    throw new Stop(
      `a message move task is already running on "${from}" (moved ${running.moved}${running.toMove !== undefined ? ` of ~${running.toMove}` : ''}); wait for it, or cancel it`,
      1,
    );
  }
  const howMany = max !== undefined ? `up to ${formatCount(Math.min(max, dlq.visible))}` : `~${formatCount(dlq.visible)}`;
  const how = method === 'move-task' ? 'an SQS message move task' : 'receive, send, delete';
  if (request.dryRun) {
    process.stdout.write(
      `dry run: would move ${howMany} message${dlq.visible === 1 ? '' : 's'} from "${from}" to "${to}" with ${how}${dlq.inFlight + dlq.delayed > 0 ? ` (the queue holds ${counts(dlq)})` : ''}\n`,
    );
    return 0;
  }

  const startedAt = realClock.now();
  if (method === 'move-task') {
    let latest: MoveTask = { taskHandle: undefined, status: 'RUNNING', moved: 0, toMove: dlq.visible, failureReason: undefined };
    const progress = new Progress({
      stream: stderr,
      tty: stderr.isTTY === true,
      clock: realClock,
      render: (ms) => moveTaskLine(latest, ms),
    });
    let outcome: Awaited<ReturnType<typeof runMoveTask>>;
    try {
      outcome = await runMoveTask(
        {
          list: () => listMoveTasks(sqs, dlq.arn),
          start: () => startMoveTask(sqs, dlq.arn, inbound.description.arn),
          cancel: (handle) => cancelMoveTask(sqs, handle),
        },
        {
          signal,
          onProgress: (task) => {
            latest = task;
            progress.update();
          },
        },
      );
    } catch (error) {
      progress.stop();
      const failure = describeAwsFailure(`run a message move task from "${from}" to "${to}"`, error);
      throw new Stop(failure.line, failure.exitCode);
    }
    progress.stop();
    const elapsed = formatDuration(realClock.now() - startedAt);
    const moved = `${formatCount(outcome.task.moved)} message${outcome.task.moved === 1 ? '' : 's'}`;
    if (outcome.kind === 'done') {
      process.stdout.write(`moved ${moved} from "${from}" to "${to}" (SQS move task) in ${elapsed}\n`);
      return 0;
    }
    if (outcome.kind === 'failed') {
      process.stdout.write(`move task failed after moving ${moved} from "${from}" to "${to}"\n`);
      stderr.write(`bucketscan: dlq redrive: the move task failed: ${outcome.task.failureReason ?? 'no reason given'}\n`);
      return 1;
    }
    process.stdout.write(
      `move task cancelled${outcome.byUs ? '' : ' (not by this command)'} after moving ${moved} from "${from}" to "${to}"; the rest stay in "${from}"\n`,
    );
    return outcome.byUs ? 130 : 1;
  }

  let latest: ManualStats = { moved: 0, sendFailed: 0, deleteFailed: 0 };
  const total = max !== undefined ? Math.min(max, dlq.visible) : dlq.visible;
  const progress = new Progress({
    stream: stderr,
    tty: stderr.isTTY === true,
    clock: realClock,
    render: (ms) => manualProgressLine(latest, total, ms),
  });
  const result = await redriveByHand({
    sqs,
    sourceUrl: dlq.url,
    destinationUrl: inbound.description.url,
    ...(max !== undefined ? { max } : {}),
    signal,
    onProgress: (stats) => {
      latest = stats;
      progress.update();
    },
    onProblem: (line) => progress.line(`warning: ${line}`),
  });
  progress.stop();
  const { stats, outcome } = result;
  const elapsed = formatDuration(realClock.now() - startedAt);
  const failed = stats.sendFailed + stats.deleteFailed;
  const prefix = outcome.kind === 'interrupted' ? 'interrupted: ' : '';
  process.stdout.write(
    `${prefix}moved ${formatCount(stats.moved)} message${stats.moved === 1 ? '' : 's'} from "${from}" to "${to}" (receive, send, delete) in ${elapsed}${failed ? `; ${formatCount(failed)} not moved` : ''}\n`,
  );
  if (outcome.kind === 'failed') {
    const failure = describeAwsFailure(`redrive from "${from}" to "${to}"`, outcome.error);
    stderr.write(`bucketscan: dlq redrive: ${failure.line}\n`);
    return failure.exitCode;
  }
  if (stats.sendFailed > 0)
    stderr.write(`bucketscan: dlq redrive: ${stats.sendFailed} message(s) could not be sent and stay in "${from}"\n`);
  if (stats.deleteFailed > 0)
    stderr.write(
      `bucketscan: dlq redrive: ${stats.deleteFailed} message(s) were sent but are still in "${from}": a later redrive moves them again\n`,
    );
  if (outcome.kind === 'interrupted') return 130;
  return failed > 0 ? 1 : 0;
}

export async function run(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined) throw new UsageError('dlq: name an action: dlq list or dlq redrive (bucketscan dlq --help)');
  if (action !== 'list' && action !== 'redrive') throw new UsageError(`dlq: unknown action ${JSON.stringify(action)} (list or redrive)`);
  const values: { json?: boolean; 'dry-run'?: boolean; max?: string; queue?: string } =
    action === 'list'
      ? parseCommandLine('dlq list', rest, LIST_OPTIONS).values
      : parseCommandLine('dlq redrive', rest, REDRIVE_OPTIONS).values;
  const request: Request = {
    max: values.max === undefined ? undefined : parseCount(`dlq ${action}`, '--max', values.max, 1, action === 'list' ? 10_000 : 1_000_000),
    named: values.queue === undefined ? undefined : parseQueueOption(values.queue),
    json: values.json === true,
    dryRun: values['dry-run'] === true,
  };
  const settings = commandSettings(readEnvironment());
  const sqs = createSqsClient(settings.aws('sqs'));
  const signal = shutdownSignal();
  try {
    return action === 'list' ? await list(sqs, settings, request, signal) : await redrive(sqs, settings, request, signal);
  } catch (error) {
    if (error instanceof Stop) {
      if (error.exitCode !== 130) process.stderr.write(`bucketscan: dlq ${action}: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  } finally {
    sqs.destroy();
  }
}
