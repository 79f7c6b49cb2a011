import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log/logger.ts';
import { MAX_RECORD_LINES, processMessage } from '../../src/pipeline/process-message.ts';
import { messageContext } from '../support/pipeline.ts';

test('a message of thousands of bogus records logs a bounded number of lines', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger('info', 'bucketscan', sink);
  const records = Array.from({ length: MAX_RECORD_LINES + 500 }, () => 0);
  // Nothing valid in the message, so nothing reaches S3, SQS, SNS or clamd (each would throw).
  const result = await processMessage(
    { messageId: 'm-1', body: JSON.stringify({ Records: records }), receiveCount: 1 },
    messageContext(logger, { bucket: 'unprocessed', prefix: '' }),
  );
  assert.deepEqual(result, { action: 'delete' });
  const perRecord = lines.filter((l) => l['outcome'] === 'invalid' && typeof l['record'] === 'number');
  assert.equal(perRecord.length, MAX_RECORD_LINES);
  const summary = lines.find((l) => l['msg'] === 'further invalid records dropped without a line each');
  assert.equal(summary?.['records'], 500);
});
