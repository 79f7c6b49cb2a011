// cdk-nag's AwsSolutions pack on the template stack and on the construct with
// concrete values: zero findings that are not acknowledged (with a reason) in code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { buildApp } from '../lib/app.ts';
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
  assert.ok(
    violations.some((v) => v.includes('AwsSolutions-SQS3') && v.includes('Scan/Careless')),
    violations.join('\n'),
  );
  assert.ok(
    violations.some((v) => v.includes('AwsSolutions-SQS2') && v.includes('Scan/Careless')),
    violations.join('\n'),
  );
});

test('every acknowledgement carries a written reason', () => {
  const { app, stack } = buildAppForAudit();
  const acknowledged = stack.node
    .findAll()
    .flatMap((construct) => construct.node.metadata.filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
    .flatMap((entry) => Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ id, reason })));
  assert.ok(acknowledged.length >= 8, `found ${acknowledged.length} acknowledgements`);
  // The rules docs/deploy.md lists, and no other.
  const rules = new Set(acknowledged.map(({ id }) => id.replace(/^(Annotation|AwsSolutions)::/, '').replace(/\[.*$/, '')));
  assert.deepEqual([...rules].sort(), [
    'AwsSolutions-ECS2',
    'AwsSolutions-IAM4',
    'AwsSolutions-IAM5',
    'AwsSolutions-S1',
    'AwsSolutions-SNS2',
    'AwsSolutions-SQS3',
    'CloudFormation-Validate::W9052',
  ]);
  for (const { id, reason } of acknowledged) {
    assert.ok(typeof reason === 'string' && reason.length >= 40, `${id} has a written reason: ${JSON.stringify(reason)}`);
  }
  void app;
});

function buildAppForAudit() {
  return buildApp();
}
