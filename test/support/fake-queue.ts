/**
 * A queue for the poll loop's unit tests (test/unit/worker-loop.test.ts,
 * test/unit/backfill-lane.test.ts), on Node's mock timers: `total` messages named
 * `<prefix><n>`, receives that wait like a long poll (20 s of mock time, or until
 * messages are added, or the abort) while it is empty, and a record of every call.
 */
import type { Message } from '../../src/aws/queue.ts';
import type { WorkerQueue } from '../../src/worker/worker.ts';

export function fakeQueue(total: number, prefix = 'm') {
  let next = 0;
  const receives: number[] = [];
  const returned: Array<{ id: string; seconds: number }> = [];
  const removed: string[] = [];
  let failNext = 0;
  /** The receives waiting like a long poll (the worker may have two under way). */
  const waiting = new Set<() => void>();
  const queue: WorkerQueue = {
    async receive(max, signal) {
      receives.push(max);
      if (failNext > 0) {
        failNext -= 1;
        throw new Error('SQS is down');
      }
      if (next >= total && !signal.aborted) {
        await new Promise<void>((resolve) => {
          waiting.add(resolve);
          setTimeout(resolve, 20_000);
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
      }
      const count = Math.min(max, total - next);
      return Array.from({ length: count }, (): Message => {
        const id = `${prefix}${next++}`;
        return { MessageId: id, ReceiptHandle: id, Body: '{}' };
      });
    },
    async changeVisibility(handle, seconds) {
      returned.push({ id: handle, seconds });
    },
    async remove(handle) {
      removed.push(handle);
    },
  };
  return {
    queue,
    receives,
    returned,
    removed,
    /** Messages not yet received. */
    get left() {
      return total - next;
    },
    add(count: number) {
      total += count;
      for (const wake of waiting) wake();
      waiting.clear();
    },
    failReceives(count: number) {
      failNext = count;
    },
  };
}

/** Lets every promise callback that is ready run (the mock timers do not). */
export const settle = async () => {
  for (let i = 0; i < 20; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
};
