// SendMessageBatch's partial failures: no emulator fails single entries of a batch
// on demand, so a scripted client stands in for SQS here (the happy path runs
// against the emulator in the command tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SQSClient, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { chunkForBatches, sendMessageBatch } from '../../src/aws/send-batch.ts';

type Entry = { Id: string; MessageBody: string };
type Reply = (entries: Entry[]) => {
  Successful?: Array<{ Id: string; MessageId: string }>;
  Failed?: Array<{ Id: string; Code: string; Message: string; SenderFault: boolean }>;
};

function scriptedSqs(replies: Reply[]) {
  const requests: string[][] = [];
  const client = {
    async send(command: SendMessageBatchCommand) {
      const entries = command.input.Entries as Entry[];
      requests.push(entries.map((entry) => entry.MessageBody));
      const reply = replies[Math.min(requests.length - 1, replies.length - 1)]!;
      return reply(entries);
    },
  } as unknown as SQSClient;
  return { client, requests };
}

const ok = (entries: Entry[]) => ({ Successful: entries.map((entry) => ({ Id: entry.Id, MessageId: `id-${entry.MessageBody}` })) });
const failing =
  (bodies: string[], senderFault = false): Reply =>
  (entries) => ({
    Successful: entries
      .filter((entry) => !bodies.includes(entry.MessageBody))
      .map((entry) => ({ Id: entry.Id, MessageId: `id-${entry.MessageBody}` })),
    Failed: entries
      .filter((entry) => bodies.includes(entry.MessageBody))
      .map((entry) => ({
        Id: entry.Id,
        Code: senderFault ? 'InvalidMessageContents' : 'InternalError',
        Message: 'no',
        SenderFault: senderFault,
      })),
  });
const noSleep = async () => undefined;

test('entries SQS failed on its side are sent again, only those, until they go', async () => {
  const { client, requests } = scriptedSqs([failing(['b', 'c']), failing(['c']), ok]);
  const outcome = await sendMessageBatch(
    client,
    'url',
    ['a', 'b', 'c'].map((body) => ({ body })),
    { sleep: noSleep },
  );
  assert.deepEqual(requests, [['a', 'b', 'c'], ['b', 'c'], ['c']]);
  assert.deepEqual([...outcome.sent].sort(), [
    [0, 'id-a'],
    [1, 'id-b'],
    [2, 'id-c'],
  ]);
  assert.deepEqual(outcome.failed, []);
});

test('what still fails after the last try, or failed through the sender, is returned, never dropped', async () => {
  const { client, requests } = scriptedSqs([
    (entries) => {
      const first = failing(['b'], true)(entries);
      const second = failing(['c'])(entries);
      return { Successful: first.Successful!.filter((s) => s.MessageId !== 'id-c'), Failed: [...first.Failed!, ...second.Failed!] };
    },
    failing(['c']),
  ]);
  const outcome = await sendMessageBatch(
    client,
    'url',
    ['a', 'b', 'c'].map((body) => ({ body })),
    { attempts: 3, sleep: noSleep },
  );
  assert.deepEqual(requests, [['a', 'b', 'c'], ['c'], ['c']], 'the sender-fault entry is not retried');
  assert.deepEqual([...outcome.sent.keys()], [0]);
  assert.deepEqual(
    outcome.failed.map((f) => [f.index, f.code]),
    [
      [1, 'InvalidMessageContents'],
      [2, 'InternalError'],
    ],
  );
});

test('an entry SQS reports neither way counts as failed', async () => {
  const { client } = scriptedSqs([(entries) => ({ Successful: [{ Id: entries[0]!.Id, MessageId: 'x' }] })]);
  const outcome = await sendMessageBatch(client, 'url', [{ body: 'a' }, { body: 'b' }], { sleep: noSleep });
  assert.deepEqual(
    outcome.failed.map((f) => [f.index, f.code]),
    [[1, 'Unreported']],
  );
});

test('batches: at most ten messages and 240 KiB, an oversized message alone, order kept', () => {
  const small = Array.from({ length: 23 }, (_, i) => ({ body: String(i) }));
  assert.deepEqual(
    chunkForBatches(small).map((chunk) => chunk.length),
    [10, 10, 3],
  );
  const big = (n: number) => ({ body: 'x'.repeat(n * 1024) });
  const chunks = chunkForBatches([big(100), big(100), big(100), big(300), big(1)]);
  assert.deepEqual(
    chunks.map((chunk) => chunk.map((m) => m.body.length / 1024)),
    [[100, 100], [100], [300], [1]],
  );
});
