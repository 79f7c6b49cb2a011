// The worker end to end on real components: the fauxqs emulator over HTTP (with
// the local stack's S3 -> SQS notification bridge) and a real clamd loaded with the
// project's test signatures.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, HeadObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import type { Message } from '@aws-sdk/client-sqs';
import { buildEventDocument, buildObjectCreatedRecord, encodeEventKey } from '../../src/events/s3-event.ts';
import { eicar, EICAR_SIGNATURE, MARKER, MARKER_SIGNATURE, zipStored } from '../support/samples.ts';
import { outcomeFor, RESOURCES, startTestClamd, startTestStack, type TestStack } from '../support/stack.ts';
import { startFakeClamd } from '../support/fake-clamd.ts';
import { waitFor } from '../support/wait.ts';

const MB = 1024 * 1024;
const key = (filename: string) => `${randomUUID()}/${filename}`;
const forwardedKey = (message: Message) =>
  decodeURIComponent((JSON.parse(message.Body!).Records[0].s3.object.key as string).replace(/\+/g, ' '));
const notifiedReport = (message: Message) => JSON.parse(JSON.parse(message.Body!).Message) as Record<string, unknown>;

let clamd: Awaited<ReturnType<typeof startTestClamd>>;
before(async () => {
  clamd = await startTestClamd({ maxFileSizeMb: 64 });
});
after(async () => {
  await clamd?.stop();
});

async function expectQuarantined(stack: TestStack, objectKey: string, status: string, signature: string | null) {
  const quarantineKey = `${stack.config.source.quarantine.prefix}${objectKey}`;
  const notification = await stack.message('notification', (m) => notifiedReport(m)['key'] === objectKey);
  const report = JSON.parse(await stack.getText(RESOURCES.quarantineBucket, `${quarantineKey}.report.json`)) as Record<string, any>;
  assert.deepEqual(notifiedReport(notification), report, 'the notification carries the stored report');
  assert.equal(report['status'], status);
  assert.equal(report['signature'], signature);
  assert.equal(report['reason'], status === 'INFECTED' ? 'virus detected' : 'file too large');
  assert.equal(report['key'], objectKey);
  assert.equal(report['bucket'], RESOURCES.unprocessedBucket);
  assert.deepEqual(report['quarantine'], {
    bucket: RESOURCES.quarantineBucket,
    key: quarantineKey,
    reportKey: `${quarantineKey}.report.json`,
  });
  assert.equal(typeof report['eTag'], 'string');
  assert.equal(typeof report['size'], 'number');
  assert.match(String(report['scannedAt']), /^\d{4}-\d\d-\d\dT/);
  assert.match(String(report['engine']?.clamav), /^\d+\.\d+/);
  const attributes = JSON.parse(notification.Body!).MessageAttributes as Record<string, { Value: string }>;
  assert.equal(attributes['status']?.Value, status);
  assert.equal(attributes['bucket']?.Value, RESOURCES.unprocessedBucket);
  assert.equal(attributes['signature']?.Value, signature ?? undefined);
  assert.equal(await stack.exists(RESOURCES.quarantineBucket, quarantineKey), true, 'file copied to quarantine');
  await waitFor('the infected file to leave the unprocessed bucket', async () =>
    (await stack.exists(RESOURCES.unprocessedBucket, objectKey)) ? undefined : true,
  );
  return report;
}

async function expectForwarded(stack: TestStack, objectKey: string) {
  const forwarded = await stack.message('validation', (m) => forwardedKey(m) === objectKey);
  assert.equal(forwarded.MessageAttributes?.['status']?.StringValue, 'CLEAN');
  assert.match(forwarded.MessageAttributes?.['engine']?.StringValue ?? '', /^ClamAV /);
  assert.equal(JSON.parse(forwarded.Body!).Records.length, 1);
  assert.equal(await stack.exists(RESOURCES.unprocessedBucket, objectKey), true, 'a clean file stays in place');
  assert.equal(await stack.exists(RESOURCES.quarantineBucket, objectKey), false, 'a clean file is never quarantined');
  return forwarded;
}

async function head(stack: TestStack, objectKey: string) {
  return stack.s3.send(new HeadObjectCommand({ Bucket: RESOURCES.unprocessedBucket, Key: objectKey }));
}

function recordFor(objectKey: string, size: number, eTag: string) {
  return buildObjectCreatedRecord({
    bucket: RESOURCES.unprocessedBucket,
    key: objectKey,
    size,
    eTag,
    eventName: 'ObjectCreated:Put',
    region: RESOURCES.region,
    eventTime: new Date(),
    sequencer: '0000000000000000A1',
  });
}

describe('worker against the emulator and a real clamd', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ clamd: clamd.clamd.address, env: { MAX_FILE_SIZE: '40' } });
    stack.startWorker();
  });
  after(async () => {
    await stack?.stop();
  });

  test('a clean file is forwarded with its record unchanged and stays in place', async () => {
    const objectKey = key('hello.txt');
    await stack.put(objectKey, 'hello, world\n');
    const forwarded = await expectForwarded(stack, objectKey);
    const record = JSON.parse(forwarded.Body!).Records[0];
    assert.equal(record.eventName, 'ObjectCreated:Put');
    assert.equal(record.s3.object.size, 13);
    const logged = await outcomeFor(stack.logs, objectKey, 'clean');
    assert.equal(typeof logged['durationMs'], 'number');
    assert.equal(logged['signature'], null);
  });

  test('the EICAR test file is quarantined with its report and a notification', async () => {
    const objectKey = key('eicar.com');
    await stack.put(objectKey, eicar());
    const report = await expectQuarantined(stack, objectKey, 'INFECTED', EICAR_SIGNATURE);
    assert.equal(report['size'], 68);
    assert.equal(report['filename'], 'eicar.com');
    const logged = await outcomeFor(stack.logs, objectKey, 'infected');
    assert.equal(logged['signature'], EICAR_SIGNATURE);
  });

  test('EICAR inside a zip is found', async () => {
    const objectKey = key('archive.zip');
    await stack.put(
      objectKey,
      zipStored([
        { name: 'readme.txt', data: Buffer.from('nothing here') },
        { name: 'eicar.com', data: eicar() },
      ]),
    );
    await expectQuarantined(stack, objectKey, 'INFECTED', EICAR_SIGNATURE);
  });

  test('a signature at the very end of a 30 MB multipart object is found', async () => {
    const objectKey = key('large.bin');
    const partSize = 5 * MB;
    const total = 30 * MB;
    const upload = await stack.s3.send(new CreateMultipartUploadCommand({ Bucket: RESOURCES.unprocessedBucket, Key: objectKey }));
    const parts = [];
    for (let number = 1, offset = 0; offset < total; number += 1, offset += partSize) {
      const part = Buffer.alloc(Math.min(partSize, total - offset), number);
      if (offset + part.length === total) Buffer.from(MARKER).copy(part, part.length - MARKER.length);
      const response = await stack.s3.send(
        new UploadPartCommand({
          Bucket: RESOURCES.unprocessedBucket,
          Key: objectKey,
          UploadId: upload.UploadId,
          PartNumber: number,
          Body: part,
        }),
      );
      parts.push({ PartNumber: number, ETag: response.ETag });
    }
    await stack.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: RESOURCES.unprocessedBucket,
        Key: objectKey,
        UploadId: upload.UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    const report = await expectQuarantined(stack, objectKey, 'INFECTED', MARKER_SIGNATURE);
    assert.equal(report['size'], total);
    assert.match(String(report['eTag']), /-6$/);
  });

  test('invalid keys are logged and dropped, and their files left untouched', async () => {
    const invalid = ['not-a-guid/file.txt', `${randomUUID()}/nested/file.txt`, 'loose-file.txt'];
    for (const objectKey of invalid) await stack.put(objectKey, eicar());
    for (const objectKey of invalid) {
      const logged = await outcomeFor(stack.logs, objectKey, 'invalid');
      assert.equal(logged['level'], 'warn');
      assert.equal(typeof logged['reason'], 'string');
      assert.equal(await stack.exists(RESOURCES.unprocessedBucket, objectKey), true);
      assert.equal(await stack.exists(RESOURCES.quarantineBucket, objectKey), false);
    }
  });

  test('keys with spaces, plus signs and non-ASCII characters', async () => {
    const clean = key('my report + notes (v2) é 文件.txt');
    const infected = key('fäke invoice +1 .exe');
    await stack.put(clean, 'fine');
    await stack.put(infected, eicar());
    await expectForwarded(stack, clean);
    const report = await expectQuarantined(stack, infected, 'INFECTED', EICAR_SIGNATURE);
    assert.equal(report['filename'], 'fäke invoice +1 .exe');
  });

  test('the encoded key in a forwarded record is the one S3 sent', async () => {
    const objectKey = key('a+b c.txt');
    await stack.put(objectKey, 'x');
    const forwarded = await expectForwarded(stack, objectKey);
    assert.equal(JSON.parse(forwarded.Body!).Records[0].s3.object.key, encodeEventKey(objectKey));
  });
});

describe('hand-built messages (no bucket notifications)', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ clamd: clamd.clamd.address, notifications: false });
    stack.startWorker();
  });
  after(async () => {
    await stack?.stop();
  });

  test('an object gone before the scan is dropped', async () => {
    const objectKey = key('vanished.txt');
    stack.emulator.server.sendMessage(
      RESOURCES.inboundQueueName,
      JSON.stringify(buildEventDocument([recordFor(objectKey, 5, 'd41d8cd98f00b204e9800998ecf8427e')])),
    );
    const logged = await outcomeFor(stack.logs, objectKey, 'dropped');
    assert.equal(logged['reason'], 'object no longer exists');
  });

  test('an object changed since its event is dropped, untouched', async () => {
    const objectKey = key('changed.txt');
    // The event announces the EICAR upload, but the key was overwritten before the worker got to it.
    await stack.put(objectKey, 'second version');
    stack.emulator.server.sendMessage(
      RESOURCES.inboundQueueName,
      JSON.stringify(buildEventDocument([recordFor(objectKey, 68, '44d88612fea8a8f36de82e1278abb02f')])),
    );
    const logged = await outcomeFor(stack.logs, objectKey, 'dropped');
    assert.match(String(logged['reason']), /changed since the event/);
    assert.equal(await stack.getText(RESOURCES.unprocessedBucket, objectKey), 'second version');
  });

  test('every record of a multi-record message reaches its outcome', async () => {
    const clean = key('one.txt');
    const infected = key('two.com');
    const invalid = 'not-a-guid/three.txt';
    await stack.put(clean, 'one');
    await stack.put(infected, eicar());
    await stack.put(invalid, 'three');
    const records = await Promise.all(
      [clean, infected, invalid].map(async (k) => {
        const h = await head(stack, k);
        return recordFor(k, h.ContentLength!, h.ETag!.replace(/"/g, ''));
      }),
    );
    stack.emulator.server.sendMessage(RESOURCES.inboundQueueName, JSON.stringify(buildEventDocument(records)));
    await expectForwarded(stack, clean);
    await expectQuarantined(stack, infected, 'INFECTED', EICAR_SIGNATURE);
    await outcomeFor(stack.logs, invalid, 'invalid');
  });

  test('an event inside an SNS envelope is handled like a direct one', async () => {
    const objectKey = key('via sns.txt');
    await stack.put(objectKey, 'wrapped');
    const h = await head(stack, objectKey);
    const envelope = {
      Type: 'Notification',
      MessageId: randomUUID(),
      TopicArn: `arn:aws:sns:${RESOURCES.region}:000000000000:s3-events`,
      Subject: 'Amazon S3 Notification',
      Message: JSON.stringify(buildEventDocument([recordFor(objectKey, h.ContentLength!, h.ETag!.replace(/"/g, ''))])),
      Timestamp: new Date().toISOString(),
    };
    stack.emulator.server.sendMessage(RESOURCES.inboundQueueName, JSON.stringify(envelope));
    await expectForwarded(stack, objectKey);
    const logged = await outcomeFor(stack.logs, objectKey, 'clean');
    assert.equal(logged['envelope'], 'sns');
  });

  test('the s3:TestEvent and a body that is not JSON are deleted quietly', async () => {
    const before = stack.logs.lines.length;
    stack.emulator.server.sendMessage(
      RESOURCES.inboundQueueName,
      JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'unprocessed' }),
    );
    stack.emulator.server.sendMessage(RESOURCES.inboundQueueName, 'this is not json');
    await waitFor('both messages to be handled', () => {
      const lines = stack.logs.lines.slice(before);
      return lines.some((l) => l['outcome'] === 'test-event') &&
        lines.some((l) => l['outcome'] === 'invalid' && l['reason'] === 'message body is not valid JSON')
        ? true
        : undefined;
    });
    await waitFor('the inbound queue to be empty', () => {
      const state = stack.emulator.server.inspectQueue(RESOURCES.inboundQueueName)!;
      return state.messages.ready.length + state.messages.inflight.length === 0 ? true : undefined;
    });
  });
});

describe('files over MAX_FILE_SIZE', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ clamd: clamd.clamd.address, env: { MAX_FILE_SIZE: '1' } });
    stack.startWorker();
  });
  after(async () => {
    await stack?.stop();
  });

  test('are not scanned and are quarantined as TOO_LARGE', async () => {
    const objectKey = key('big.iso');
    await stack.put(objectKey, Buffer.alloc(2 * MB, 7));
    const report = await expectQuarantined(stack, objectKey, 'TOO_LARGE', null);
    assert.equal(report['size'], 2 * MB);
    const logged = await outcomeFor(stack.logs, objectKey, 'too-large');
    assert.equal(logged['status'], 'TOO_LARGE');
  });
});

describe('when clamd fails', () => {
  for (const behaviour of ['error-reply', 'garbage', 'close'] as const) {
    test(`(${behaviour}) the message stays on the queue and nothing is forwarded or quarantined`, async () => {
      const fake = await startFakeClamd(behaviour);
      const stack = await startTestStack({ clamd: fake.address, env: { MAX_FILE_SIZE: '10' } });
      try {
        stack.startWorker();
        const objectKey = key('unlucky.txt');
        await stack.put(objectKey, eicar());
        const logged = await outcomeFor(stack.logs, objectKey, 'retry');
        assert.equal(logged['level'], 'error');
        await waitFor('the message to be back off the worker (not deleted)', () => {
          const state = stack.emulator.server.inspectQueue(RESOURCES.inboundQueueName)!;
          return state.messages.inflight.length + state.messages.ready.length === 1 ? true : undefined;
        });
        assert.equal(await stack.exists(RESOURCES.unprocessedBucket, objectKey), true);
        assert.equal(await stack.exists(RESOURCES.quarantineBucket, objectKey), false);
        assert.deepEqual(await stack.received('validation'), []);
        assert.equal(
          stack.logs.find((l) => l['key'] === objectKey && (l['outcome'] === 'clean' || l['outcome'] === 'infected')),
          undefined,
        );
      } finally {
        await stack.stop();
        await fake.stop();
      }
    });
  }
});
