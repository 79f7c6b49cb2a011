/**
 * Moving messages from the dead-letter queue back to the inbound queue, two ways:
 *
 * - SQS's own message move task (StartMessageMoveTask), watched with
 *   ListMessageMoveTasks until it ends. SQS does the moving; it cannot be limited
 *   to n messages.
 * - By hand, where the endpoint has no move tasks (the emulators) or --max asks
 *   for n: receive, send to the inbound queue (body and message attributes as
 *   they were), and delete from the dead-letter queue only what SQS confirmed as
 *   sent. A message whose send failed stays hidden for the visibility timeout and
 *   then is back in the dead-letter queue; one sent but not deleted is moved again
 *   by the next redrive (a duplicate the worker handles: its work is idempotent).
 */
import type { Message, MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import { deleteMessages, receiveForInspection, type MoveTask } from '../aws/dead-letter.ts';
import { chunkForBatches, sendMessageBatch, type BatchMessage } from '../aws/send-batch.ts';
import { realClock, type Clock } from '../shared/time.ts';

export interface ManualStats {
  moved: number;
  /** Receive → send failed even after retries: still in the dead-letter queue. */
  sendFailed: number;
  /** Sent but not deleted: in both queues until the next redrive or its processing. */
  deleteFailed: number;
}

export interface ManualOptions {
  sqs: SQSClient;
  sourceUrl: string;
  destinationUrl: string;
  /** At most this many messages; undefined: until a receive finds none. */
  max?: number;
  /** How long a received message stays hidden while it is moved (and after a failed send). */
  visibilitySeconds?: number;
  waitSeconds?: number;
  signal: AbortSignal;
  onProgress?: (stats: ManualStats) => void;
  /** One line per problem (failed send or delete), for stderr. */
  onProblem?: (line: string) => void;
}

export type ManualOutcome = { kind: 'done' } | { kind: 'interrupted' } | { kind: 'failed'; error: unknown };

/** SQS message attributes as they can be sent again (list values are not supported by SQS). */
export function resendableAttributes(message: Message): Record<string, MessageAttributeValue> | undefined {
  const attributes = message.MessageAttributes;
  if (!attributes || Object.keys(attributes).length === 0) return undefined;
  const copy: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(attributes)) {
    copy[name] = {
      DataType: value.DataType ?? 'String',
      ...(value.StringValue !== undefined ? { StringValue: value.StringValue } : {}),
      ...(value.BinaryValue !== undefined ? { BinaryValue: value.BinaryValue } : {}),
    };
  }
  return copy;
}

export async function redriveByHand(options: ManualOptions): Promise<{ stats: ManualStats; outcome: ManualOutcome }> {
  const stats: ManualStats = { moved: 0, sendFailed: 0, deleteFailed: 0 };
  const { signal } = options;
  try {
    for (;;) {
      const remaining = options.max === undefined ? 10 : options.max - stats.moved - stats.sendFailed - stats.deleteFailed;
      if (remaining <= 0) return { stats, outcome: { kind: 'done' } };
      if (signal.aborted) return { stats, outcome: { kind: 'interrupted' } };
      let received: Message[];
      try {
        received = await receiveForInspection(options.sqs, options.sourceUrl, {
          max: Math.min(10, remaining),
          visibilitySeconds: options.visibilitySeconds ?? 60,
          waitSeconds: options.waitSeconds ?? 1,
          signal,
        });
      } catch (error) {
        // Interrupted while waiting: nothing is in hand.
        if (signal.aborted) return { stats, outcome: { kind: 'interrupted' } };
        throw error;
      }
      if (received.length === 0) return { stats, outcome: { kind: 'done' } };
      // Once received, a batch is always finished (sent, then deleted), even when
      // interrupted meanwhile: the sends are not given the abort signal.
      const outgoing = received.map((message) => {
        const attributes = resendableAttributes(message);
        return { message, body: message.Body ?? '', ...(attributes ? { attributes } : {}) } satisfies BatchMessage & { message: Message };
      });
      for (const chunk of chunkForBatches(outgoing)) {
        const outcome = await sendMessageBatch(options.sqs, options.destinationUrl, chunk);
        for (const failure of outcome.failed) {
          stats.sendFailed += 1;
          options.onProblem?.(
            `could not send message ${chunk[failure.index]!.message.MessageId} to the inbound queue (${failure.code}: ${failure.message}); it stays in the dead-letter queue`,
          );
        }
        const sentHandles: string[] = [];
        const sentMessages: Message[] = [];
        for (const index of outcome.sent.keys()) {
          sentMessages.push(chunk[index]!.message);
          sentHandles.push(chunk[index]!.message.ReceiptHandle ?? '');
        }
        const deleteFailures = await deleteMessages(options.sqs, options.sourceUrl, sentHandles);
        for (const failure of deleteFailures) {
          stats.deleteFailed += 1;
          options.onProblem?.(
            `message ${sentMessages[Number(failure.id)]?.MessageId} was sent to the inbound queue but not deleted from the dead-letter queue (${failure.code}); a later redrive moves it again`,
          );
        }
        stats.moved += sentHandles.length - deleteFailures.length;
        options.onProgress?.(stats);
      }
    }
  } catch (error) {
    return { stats, outcome: { kind: 'failed', error } };
  }
}

/** The move-task calls, bound to one source and destination (an interface so the watching is unit-tested). */
export interface MoveTaskApi {
  list(): Promise<MoveTask[]>;
  start(): Promise<string>;
  cancel(taskHandle: string): Promise<number>;
}

export type MoveTaskOutcome =
  | { kind: 'done'; task: MoveTask }
  | { kind: 'failed'; task: MoveTask }
  /** Cancelled: by this run on an interrupt, or by someone else. */
  | { kind: 'cancelled'; task: MoveTask; byUs: boolean };

export interface WatchOptions {
  signal: AbortSignal;
  clock?: Clock;
  pollMs?: number;
  onProgress?: (task: MoveTask) => void;
}

const FINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/**
 * Starts a move task and follows it to its end. On an interrupt it cancels the
 * task (messages moved so far stay moved, the rest stay in the dead-letter
 * queue) and waits, bounded, for SQS to confirm.
 */
export async function runMoveTask(api: MoveTaskApi, options: WatchOptions): Promise<MoveTaskOutcome> {
  const clock = options.clock ?? realClock;
  const pollMs = options.pollMs ?? 2_000;
  const handle = await api.start();
  // Only a running task reports its handle; once it ends, the newest task is this one.
  const current = (tasks: MoveTask[]) => tasks.find((task) => task.taskHandle === handle) ?? tasks[0];
  let cancelled = false;
  let last: MoveTask = { taskHandle: handle, status: 'RUNNING', moved: 0, toMove: undefined, failureReason: undefined };
  for (let polls = 0; ; polls++) {
    const task = current(await api.list());
    if (task) last = task;
    options.onProgress?.(last);
    if (FINAL.has(last.status)) {
      if (last.status === 'COMPLETED') return { kind: 'done', task: last };
      if (last.status === 'FAILED') return { kind: 'failed', task: last };
      return { kind: 'cancelled', task: last, byUs: cancelled };
    }
    if (cancelled && polls > 60) return { kind: 'cancelled', task: last, byUs: true };
    try {
      await clock.sleep(pollMs, cancelled ? undefined : options.signal);
    } catch {
      // Interrupted: cancel once, then keep polling until SQS says it stopped.
    }
    if (options.signal.aborted && !cancelled) {
      cancelled = true;
      try {
        await api.cancel(handle);
      } catch {
        // It may have just finished; the next poll tells.
      }
    }
  }
}
