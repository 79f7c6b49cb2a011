import { test } from 'node:test';
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
