// Every step safe to repeat: a message can be delivered twice, and a worker can die
// between any two steps of a quarantine. These tests leave the stores exactly as a
// worker dying at each point would (by a real failure where one can be caused, by
// doing the earlier steps with the same adapters otherwise), then deliver the event
// again and check that the work finishes with one report and one notification.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { buildEventDocument, buildObjectCreatedRecord } from '../../src/events/s3-event.ts';
import { copyObject, putJson, replaceMetadata } from '../../src/aws/objects.ts';
import { NOTIFICATION_ID, SOURCE_ETAG } from '../../src/pipeline/quarantine.ts';
import { eicar, EICAR_SIGNATURE } from '../support/samples.ts';
import { outcomeFor, RESOURCES, startTestClamd, startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

const EICAR_ETAG = '44d88612fea8a8f36de82e1278abb02f';

let clamd: Awaited<ReturnType<typeof startTestClamd>>;
let stack: TestStack;

before(async () => {
  clamd = await startTestClamd();
  stack = await startTestStack({ clamd: clamd.clamd.address, notifications: false, env: { RETRY_DELAY: '2' } });
});
after(async () => {
  if (process.env['DEBUG_LOGS']) for (const l of stack.logs.lines) console.error(JSON.stringify(l).slice(0, 400));
  await stack?.stop();
  await clamd?.stop();
});

function sendEvent(key: string, size: number, eTag: string) {
  const record = buildObjectCreatedRecord({
    bucket: RESOURCES.unprocessedBucket,
    key,
    size,
    eTag,
    eventName: 'ObjectCreated:Put',
    region: RESOURCES.region,
    eventTime: new Date(),
    sequencer: '0000000000000000B1',
  });
  stack.emulator.server.sendMessage(RESOURCES.inboundQueueName, JSON.stringify(buildEventDocument([record])));
}

/** Notifications published for `key`, read without consuming them. */
function notificationsFor(key: string): number {
  const state = stack.emulator.server.inspectQueue(RESOURCES.notificationQueueName)!;
  return [...state.messages.ready, ...state.messages.inflight.map((m) => m.message)].filter((m) => {
    const report = JSON.parse(JSON.parse(m.body).Message) as { key?: string };
    return report.key === key;
  }).length;
}

async function queueIdle() {
  await waitFor('the inbound queue to be empty', () => {
    const state = stack.emulator.server.inspectQueue(RESOURCES.inboundQueueName)!;
    return state.messages.ready.length + state.messages.inflight.length + state.messages.delayed.length === 0 ? true : undefined;
  });
}

async function quarantineListing(prefix: string): Promise<string[]> {
  const listing = await stack.s3.send(new ListObjectsV2Command({ Bucket: RESOURCES.quarantineBucket, Prefix: prefix }));
  return (listing.Contents ?? []).map((o) => o.Key!).sort();
}

/**
 * Uploads EICAR and lets a worker whose SNS endpoint refuses connections get
 * through copy and report, fail at the notification, and stop.
 */
async function quarantineWithNotificationsDown(): Promise<string> {
  const key = `${randomUUID()}/eicar.com`;
  await stack.put(key, eicar());
  const stopBroken = stack.startWorker({
    aws: { ...stack.config.aws, sns: { ...stack.config.aws.sns, endpoint: 'http://127.0.0.1:9' } },
  });
  sendEvent(key, 68, EICAR_ETAG);
  await outcomeFor(stack.logs, key, 'retry');
  await stopBroken();
  return key;
}

describe('quarantine interrupted, then the event is delivered again', () => {
  test('the notification failed after copy and report: the retry publishes once and deletes', async () => {
    const key = await quarantineWithNotificationsDown();
    assert.deepEqual(await quarantineListing(key), [key, `${key}.report.json`], 'copy and report were made');
    assert.equal(await stack.exists(RESOURCES.unprocessedBucket, key), true, 'not deleted before the notification');
    const reportBefore = await stack.getText(RESOURCES.quarantineBucket, `${key}.report.json`);

    const stop = stack.startWorker();
    try {
      await outcomeFor(stack.logs, key, 'infected');
      await queueIdle();
      assert.equal(notificationsFor(key), 1);
      assert.equal(await stack.exists(RESOURCES.unprocessedBucket, key), false);
      assert.equal(
        await stack.getText(RESOURCES.quarantineBucket, `${key}.report.json`),
        reportBefore,
        'the first report stands; no second one',
      );
      const head = await stack.s3.send(new HeadObjectCommand({ Bucket: RESOURCES.quarantineBucket, Key: `${key}.report.json` }));
      assert.ok(head.Metadata?.[NOTIFICATION_ID], 'the report records its notification');
      const published = stack.emulator.server
        .inspectQueue(RESOURCES.notificationQueueName)!
        .messages.ready.find((m) => (JSON.parse(JSON.parse(m.body).Message) as { key: string }).key === key)!;
      assert.deepEqual(JSON.parse(JSON.parse(published.body).Message), JSON.parse(reportBefore), 'the stored report is the one announced');
    } finally {
      await stop();
    }
  });

  test('died after the notification, before the delete: the redelivery only deletes', async () => {
    const key = `${randomUUID()}/eicar.com`;
    await stack.put(key, eicar());
    const source = { bucket: RESOURCES.unprocessedBucket, key, versionId: undefined, eTag: EICAR_ETAG };
    await copyObject(stack.s3, source, { bucket: RESOURCES.quarantineBucket, key }, { size: 68 });
    await putJson(stack.s3, RESOURCES.quarantineBucket, `${key}.report.json`, { key, status: 'INFECTED' }, { [SOURCE_ETAG]: EICAR_ETAG });
    await replaceMetadata(
      stack.s3,
      RESOURCES.quarantineBucket,
      `${key}.report.json`,
      { [SOURCE_ETAG]: EICAR_ETAG, [NOTIFICATION_ID]: 'earlier' },
      'application/json',
    );

    const stop = stack.startWorker();
    try {
      sendEvent(key, 68, EICAR_ETAG);
      const logged = await outcomeFor(stack.logs, key, 'infected');
      assert.equal(logged['signature'], EICAR_SIGNATURE);
      await queueIdle();
      assert.equal(await stack.exists(RESOURCES.unprocessedBucket, key), false, 'the delete was finished');
      assert.equal(notificationsFor(key), 0, 'no second notification');
      assert.deepEqual(
        JSON.parse(await stack.getText(RESOURCES.quarantineBucket, `${key}.report.json`)),
        { key, status: 'INFECTED' },
        'no second report',
      );
    } finally {
      await stop();
    }
  });

  test('died after the copy only: the redelivery makes one report and one notification', async () => {
    const key = `${randomUUID()}/eicar.com`;
    await stack.put(key, eicar());
    await copyObject(
      stack.s3,
      { bucket: RESOURCES.unprocessedBucket, key, versionId: undefined, eTag: EICAR_ETAG },
      { bucket: RESOURCES.quarantineBucket, key },
      { size: 68 },
    );
    const stop = stack.startWorker();
    try {
      sendEvent(key, 68, EICAR_ETAG);
      await outcomeFor(stack.logs, key, 'infected');
      await queueIdle();
      assert.equal(notificationsFor(key), 1);
      assert.deepEqual(await quarantineListing(key), [key, `${key}.report.json`]);
      assert.equal(await stack.exists(RESOURCES.unprocessedBucket, key), false);
    } finally {
      await stop();
    }
  });

  test('all done but the message came back: dropped, nothing repeated', async () => {
    const key = `${randomUUID()}/eicar.com`;
    await stack.put(key, eicar());
    const stop = stack.startWorker();
    try {
      sendEvent(key, 68, EICAR_ETAG);
      await outcomeFor(stack.logs, key, 'infected');
      sendEvent(key, 68, EICAR_ETAG);
      const dropped = await outcomeFor(stack.logs, key, 'dropped');
      assert.equal(dropped['reason'], 'object no longer exists');
      await queueIdle();
      assert.equal(notificationsFor(key), 1);
    } finally {
      await stop();
    }
  });

  test('the notification failed and the key was overwritten before the retry: the notification is still sent', async () => {
    const key = await quarantineWithNotificationsDown();
    await stack.put(key, 'a clean replacement');

    const stop = stack.startWorker();
    try {
      const dropped = await outcomeFor(stack.logs, key, 'dropped');
      assert.match(String(dropped['reason']), /changed since the event/);
      await queueIdle();
      assert.equal(notificationsFor(key), 1, 'the quarantined version is still announced');
      assert.equal(await stack.getText(RESOURCES.unprocessedBucket, key), 'a clean replacement', 'the new upload is untouched');
    } finally {
      await stop();
    }
  });
});

test('a duplicate clean event forwards at most once more', async () => {
  const key = `${randomUUID()}/fine.txt`;
  await stack.put(key, 'fine');
  const head = await stack.s3.send(new HeadObjectCommand({ Bucket: RESOURCES.unprocessedBucket, Key: key }));
  const stop = stack.startWorker();
  try {
    sendEvent(key, 4, head.ETag!.replace(/"/g, ''));
    sendEvent(key, 4, head.ETag!.replace(/"/g, ''));
    await queueIdle();
    await waitFor('both deliveries handled', () =>
      stack.logs.lines.filter((l) => l['key'] === key && l['outcome'] === 'clean').length === 2 ? true : undefined,
    );
    const forwards = (await stack.received('validation')).filter((m) => m.Body!.includes(encodeURIComponent(key.split('/')[0]!)));
    assert.ok(forwards.length >= 1 && forwards.length <= 2, `forwards: ${forwards.length}`);
    assert.equal(await stack.exists(RESOURCES.unprocessedBucket, key), true);
  } finally {
    await stop();
  }
});
