import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from '../../src/aws/batcher.ts';

function recorder(fail: (items: string[]) => Map<number, Error> = () => new Map()) {
  const batches: string[][] = [];
  const batcher = new Batcher<string>({
    maxEntries: 3,
    lingerMs: 10,
    sizeOf: (item) => item.length,
    maxBytes: 10,
    send: async (items) => {
      batches.push(items);
      return fail(items);
    },
  });
  return { batches, batcher };
}

test('a full batch goes out at once, in order', async () => {
  const { batches, batcher } = recorder();
  await Promise.all(['a', 'b', 'c', 'd'].map((item) => batcher.add(item)));
  assert.deepEqual(batches, [['a', 'b', 'c'], ['d']]);
});

test('a lone entry goes out after the linger, not never', async () => {
  const { batches, batcher } = recorder();
  await batcher.add('x');
  assert.deepEqual(batches, [['x']]);
});

test('the byte cap starts a new batch before it would be passed', async () => {
  const { batches, batcher } = recorder();
  await Promise.all(['aaaa', 'bbbb', 'cccc'].map((item) => batcher.add(item)));
  assert.deepEqual(batches, [['aaaa', 'bbbb'], ['cccc']]);
});

test('each entry learns its own failure; the others succeed', async () => {
  const { batcher } = recorder(() => new Map([[1, new Error('ReceiptHandleIsInvalid')]]));
  const results = await Promise.allSettled(['a', 'b', 'c'].map((item) => batcher.add(item)));
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.match(String((results[1] as PromiseRejectedResult).reason), /ReceiptHandleIsInvalid/);
});

test('a failed call rejects every entry of its batch', async () => {
  const batcher = new Batcher<string>({
    maxEntries: 10,
    lingerMs: 5,
    send: async () => {
      throw new Error('503');
    },
  });
  const results = await Promise.allSettled([batcher.add('a'), batcher.add('b')]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
});

test('drain sends what is pending and waits for it', async () => {
  const { batches, batcher } = recorder();
  const done = batcher.add('q');
  await batcher.drain();
  assert.deepEqual(batches, [['q']]);
  await done;
});

/** The hour-long batchers of these tests: drained after each, so a wrongly held entry cannot keep the process alive. */
const lingering: Batcher<string>[] = [];
afterEach(() => Promise.all(lingering.splice(0).map((batcher) => batcher.drain())));

/** A batcher whose linger is an hour: an entry goes out early only by filling its batch or by having no company. */
function waiting(company: { others: number }) {
  const batches: string[][] = [];
  const batcher = new Batcher<string>({
    maxEntries: 3,
    lingerMs: 3_600_000,
    expectMore: (pending) => company.others + 1 > pending,
    send: async (items) => {
      batches.push(items);
      return new Map();
    },
  });
  lingering.push(batcher);
  return { batches, batcher };
}

/** A batch the batcher wrongly holds would wait out the hour: fail instead. */
const DEADLINE = { timeout: 30_000 };

/** Lets every callback already due run (no time passes for the hour-long linger). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('with no company on its way, a lone entry goes out at once', DEADLINE, async () => {
  const { batches, batcher } = waiting({ others: 0 });
  await batcher.add('alone');
  assert.deepEqual(batches, [['alone']]);
});

test('while company is on its way an entry waits for it, and goes out with it', DEADLINE, async () => {
  const company = { others: 1 };
  const { batches, batcher } = waiting(company);
  const first = batcher.add('a');
  await settle();
  assert.deepEqual(batches, [], 'the entry must wait for the other on its way');
  await Promise.all([first, batcher.add('b')]);
  assert.deepEqual(batches, [['a', 'b']]);
});

test('a nudge sends what waits once the company it waited for is no longer coming', DEADLINE, async () => {
  const company = { others: 2 };
  const { batches, batcher } = waiting(company);
  const done = batcher.add('x');
  batcher.nudge();
  await settle();
  assert.deepEqual(batches, [], 'still expected: the nudge must not send');
  company.others = 0;
  batcher.nudge();
  await done;
  assert.deepEqual(batches, [['x']]);
});

test('a full batch goes out even while more is expected', DEADLINE, async () => {
  const { batches, batcher } = waiting({ others: 10 });
  await Promise.all(['a', 'b', 'c'].map((item) => batcher.add(item)));
  assert.deepEqual(batches, [['a', 'b', 'c']]);
  await batcher.drain();
});
