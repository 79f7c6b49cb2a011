// Files clamd cannot fully scan, end to end: the worker on the emulator with a real
// clamd whose limits are small enough for each hostile file to be built at test time
// in milliseconds. Each must come out UNSCANNABLE (never clean): quarantined by
// default, or forwarded marked as such with UNSCANNABLE_ACTION=forward.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Message } from '@aws-sdk/client-sqs';
import { deflatedZeros, eicar, EICAR_SIGNATURE, encrypted, stored, zip, zipStored } from '../support/samples.ts';
import { outcomeFor, RESOURCES, startTestClamd, startTestStack, type TestStack } from '../support/stack.ts';

const MiB = 1024 * 1024;
const key = (filename: string) => `${randomUUID()}/${filename}`;
const notifiedReport = (message: Message) => JSON.parse(JSON.parse(message.Body!).Message) as Record<string, unknown>;
const forwardedKey = (message: Message) =>
  decodeURIComponent((JSON.parse(message.Body!).Records[0].s3.object.key as string).replace(/\+/g, ' '));

/**
 * clamd: StreamMaxLength 1 MiB (so MaxScanSize 4 MiB, MaxFileSize just above it),
 * MaxFiles 50, MaxRecursion 5. The worker's MAX_FILE_SIZE is 4 MB, above clamd's
 * stream limit, so that a 2 MiB file reaches clamd and is refused by it.
 */
const WORKER_ENV = { MAX_FILE_SIZE: '4' };
let clamd: Awaited<ReturnType<typeof startTestClamd>>;
before(async () => {
  clamd = await startTestClamd({ maxFileSizeMb: 1, limits: { maxFiles: 50, maxRecursion: 5 } });
});
after(async () => {
  await clamd?.stop();
});

interface Hostile {
  filename: string;
  body: () => Promise<Buffer>;
  signature: string | null;
  detail: RegExp;
}

function nested(depth: number): Buffer {
  let archive: Buffer = Buffer.from('plain text at the bottom');
  for (let level = 0; level < depth; level++) archive = zipStored([{ name: `level-${level}.zip`, data: archive }]);
  return archive;
}

const HOSTILE: Record<string, Hostile> = {
  'a zip bomb (one member of 64 MiB of zeros, deflated to 64 KiB)': {
    filename: 'bomb.zip',
    body: async () => zip([await deflatedZeros('zeros.bin', 64 * MiB)]),
    signature: 'Heuristics.Limits.Exceeded.MaxScanSize',
    detail: /MaxScanSize/,
  },
  'a password-protected zip with EICAR inside': {
    filename: 'protected.zip',
    body: async () => zip([encrypted(stored('eicar.com', eicar()), `pw-${randomUUID()}`)]),
    signature: 'Heuristics.Encrypted.Zip',
    detail: /encrypted Zip/,
  },
  'an archive beyond MaxFiles': {
    filename: 'many.zip',
    body: async () => zipStored(Array.from({ length: 60 }, (_, i) => ({ name: `file-${i}.txt`, data: Buffer.from(`file ${i}\n`) }))),
    signature: 'Heuristics.Limits.Exceeded.MaxFiles',
    detail: /MaxFiles/,
  },
  'archives nested beyond MaxRecursion': {
    filename: 'deep.zip',
    body: async () => nested(8),
    signature: 'Heuristics.Limits.Exceeded.MaxRecursion',
    detail: /MaxRecursion/,
  },
  "a file over clamd's StreamMaxLength (but within MAX_FILE_SIZE)": {
    filename: 'long.bin',
    body: async () => Buffer.alloc(2 * MiB, 0x5a),
    signature: null,
    detail: /StreamMaxLength/,
  },
};

describe('UNSCANNABLE_ACTION=quarantine (the default)', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ clamd: clamd.clamd.address, env: WORKER_ENV });
    stack.startWorker();
  });
  after(async () => {
    await stack?.stop();
  });

  for (const [name, hostile] of Object.entries(HOSTILE)) {
    test(`${name}: quarantined as UNSCANNABLE with its report and a notification`, async () => {
      const objectKey = key(hostile.filename);
      const body = await hostile.body();
      await stack.put(objectKey, body);

      const notification = await stack.message('notification', (m) => notifiedReport(m)['key'] === objectKey);
      const report = JSON.parse(await stack.getText(RESOURCES.quarantineBucket, `${objectKey}.report.json`)) as Record<string, unknown>;
      assert.deepEqual(notifiedReport(notification), report, 'the notification carries the stored report');
      assert.equal(report['status'], 'UNSCANNABLE');
      assert.equal(report['reason'], 'file could not be fully scanned');
      assert.match(String(report['detail']), hostile.detail);
      assert.equal(report['signature'], hostile.signature);
      assert.equal(report['size'], body.length);
      const envelope = JSON.parse(notification.Body!) as { Subject: string; MessageAttributes: Record<string, { Value: string }> };
      assert.equal(envelope.Subject, `bucketscan: file could not be fully scanned in ${RESOURCES.unprocessedBucket}`);
      assert.equal(envelope.MessageAttributes['status']?.Value, 'UNSCANNABLE');
      assert.equal(envelope.MessageAttributes['signature']?.Value, hostile.signature ?? undefined);

      const logged = await outcomeFor(stack.logs, objectKey, 'unscannable');
      assert.equal(logged['status'], 'UNSCANNABLE');
      assert.equal(logged['signature'], hostile.signature);
      assert.match(String(logged['reason']), hostile.detail);
      assert.equal(logged['level'], 'warn');

      assert.equal(await stack.exists(RESOURCES.quarantineBucket, objectKey), true, 'copied to quarantine');
      // The log line is written once the quarantine is complete, source deletion included.
      assert.equal(await stack.exists(RESOURCES.unprocessedBucket, objectKey), false, 'removed from the unprocessed bucket');
      assert.equal(
        (await stack.received('validation')).some((m) => forwardedKey(m) === objectKey),
        false,
        'never forwarded',
      );
    });
  }

  test('MAX_FILE_SIZE still comes first: a larger file is TOO_LARGE, not UNSCANNABLE', async () => {
    const objectKey = key('huge.bin');
    await stack.put(objectKey, Buffer.alloc(5 * MiB, 0x5a));
    const logged = await outcomeFor(stack.logs, objectKey, 'too-large');
    assert.equal(logged['status'], 'TOO_LARGE');
  });
});

describe('UNSCANNABLE_ACTION=forward', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ clamd: clamd.clamd.address, env: { ...WORKER_ENV, UNSCANNABLE_ACTION: 'forward' } });
    stack.startWorker();
  });
  after(async () => {
    await stack?.stop();
  });

  for (const name of ['a password-protected zip with EICAR inside', "a file over clamd's StreamMaxLength (but within MAX_FILE_SIZE)"]) {
    const hostile = HOSTILE[name]!;
    test(`${name}: forwarded with status=UNSCANNABLE and a reason, left in place, not quarantined`, async () => {
      const objectKey = key(hostile.filename);
      await stack.put(objectKey, await hostile.body());

      const forwarded = await stack.message('validation', (m) => forwardedKey(m) === objectKey);
      const attributes = forwarded.MessageAttributes ?? {};
      assert.equal(attributes['status']?.StringValue, 'UNSCANNABLE');
      assert.match(attributes['reason']?.StringValue ?? '', hostile.detail);
      assert.equal(attributes['signature']?.StringValue, hostile.signature ?? undefined);
      assert.match(attributes['scannedAt']?.StringValue ?? '', /^\d{4}-\d\d-\d\dT/);
      const records = JSON.parse(forwarded.Body!).Records as unknown[];
      assert.equal(records.length, 1, 'the record travels on as it came');

      const logged = await outcomeFor(stack.logs, objectKey, 'unscannable');
      assert.equal(logged['action'], 'forwarded');
      assert.equal(logged['signature'], hostile.signature);

      assert.equal(await stack.exists(RESOURCES.unprocessedBucket, objectKey), true, 'the file stays in place');
      assert.equal(await stack.exists(RESOURCES.quarantineBucket, objectKey), false, 'not quarantined');
      assert.equal(
        (await stack.received('notification')).some((m) => notifiedReport(m)['key'] === objectKey),
        false,
        'no notification',
      );
    });
  }

  test('an infected file is still quarantined', async () => {
    const objectKey = key('eicar.com');
    await stack.put(objectKey, eicar());
    const logged = await outcomeFor(stack.logs, objectKey, 'infected');
    assert.equal(logged['signature'], EICAR_SIGNATURE);
    assert.equal(await stack.exists(RESOURCES.quarantineBucket, objectKey), true);
  });
});
