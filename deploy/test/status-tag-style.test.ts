// STATUS_TAG_STYLE=guardduty (issue 14 §3): the worker tags NO_THREATS_FOUND, so the
// fail-closed read statement must open exactly that value, under GuardDuty's key.
// The construct is checked for what it writes; the policy's effect is proven with
// @cloud-copilot/iam-simulate (a test-only devDependency) on the document
// `bucketscan policy` prints, which the construct builds from the same statements.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { bucketPolicy } from '../../src/policy/bucket-policy.ts';
import type { StatusTagStyle } from '../../src/verdict/verdict.ts';
import { ACCOUNT, constructStack, only, resourcesOf, synth, workerEnvironmentOf } from './support.ts';

type Statement = Record<string, unknown>;

describe('the construct with statusTagStyle guardduty', () => {
  const { app, stack } = constructStack({
    statusTagStyle: 'guardduty',
    failClosedReads: {},
    sources: [{ bucketName: 'partner-drop', notifications: 'EventBridge', keyLayout: 'any', quarantinePrefix: 'partner/' }],
  });
  const { template, violations } = synth(app, stack);

  test('cdk-nag finds nothing', () => {
    assert.deepEqual(violations, []);
  });

  test("the worker tags in GuardDuty's words, under GuardDuty's key", () => {
    const env = workerEnvironmentOf(template);
    assert.equal(env['STATUS_TAG_STYLE'], 'guardduty');
    assert.equal(env['SCAN_STATUS_TAG'], 'GuardDutyMalwareScanStatus');
  });

  test('the bucket policy opens reads on NO_THREATS_FOUND and guards the GuardDuty key', () => {
    const policy = only(
      resourcesOf(template, 'AWS::S3::BucketPolicy').filter(([, p]) => p['Bucket'] === 'partner-drop'),
      'the bucket policy of partner-drop',
    )[1];
    const statements = (policy['PolicyDocument'] as { Statement: Statement[] }).Statement;
    const bySid = (sid: string) =>
      only(
        statements.filter((s) => s['Sid'] === sid),
        sid,
      );
    const read = bySid('DenyReadUnlessScannedClean')['Condition'] as Record<string, unknown>;
    assert.deepEqual(read['StringNotEquals'], { 's3:ExistingObjectTag/GuardDutyMalwareScanStatus': 'NO_THREATS_FOUND' });
    const write = bySid('DenyStatusTagWritesExceptScanner')['Condition'] as Record<string, unknown>;
    assert.deepEqual(write['ForAnyValue:StringEquals'], { 's3:RequestObjectTagKeys': ['GuardDutyMalwareScanStatus'] });
  });

  test('an unknown style is refused at synth', () => {
    assert.throws(
      () => constructStack({ statusTagStyle: 'gd' as StatusTagStyle }),
      /BucketScan: statusTagStyle must be one of bucketscan, guardduty/,
    );
  });
});

describe('the fail-closed read, simulated in each style', () => {
  const SCANNER = `arn:aws:iam::${ACCOUNT}:role/bucketscan-worker`;
  const APP = `arn:aws:iam::${ACCOUNT}:role/app`;
  const OBJECT = 'arn:aws:s3:::uploads/a/b.pdf';
  const appMayRead = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::uploads/*' }],
  };
  async function read(style: StatusTagStyle, tag: Record<string, string>): Promise<string> {
    const policy = bucketPolicy({ bucket: 'uploads', scannerRoleArn: SCANNER, statusTagStyle: style });
    const response = await runSimulation(
      {
        request: {
          principal: APP,
          action: 's3:GetObject',
          resource: { resource: OBJECT, accountId: ACCOUNT },
          contextVariables: {
            'aws:PrincipalArn': APP,
            'aws:PrincipalAccount': ACCOUNT,
            ...Object.fromEntries(Object.entries(tag).map(([key, value]) => [`s3:ExistingObjectTag/${key}`, value])),
          },
        },
        identityPolicies: [{ name: 'app', policy: appMayRead }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: policy,
      },
      {},
    );
    if (response.resultType === 'error') assert.fail(JSON.stringify(response.errors));
    return response.overallResult;
  }

  test('guardduty: NO_THREATS_FOUND is readable; CLEAN, THREATS_FOUND and untagged are not', async () => {
    const key = 'GuardDutyMalwareScanStatus';
    assert.equal(await read('guardduty', { [key]: 'NO_THREATS_FOUND' }), 'Allowed');
    assert.equal(await read('guardduty', { [key]: 'THREATS_FOUND' }), 'ExplicitlyDenied');
    assert.equal(await read('guardduty', { [key]: 'CLEAN' }), 'ExplicitlyDenied');
    assert.equal(await read('guardduty', {}), 'ExplicitlyDenied');
    // The bucketscan key with a clean value does not open a GuardDuty-style bucket.
    assert.equal(await read('guardduty', { 'bucketscan-status': 'CLEAN' }), 'ExplicitlyDenied');
  });

  test('bucketscan: CLEAN is readable; NO_THREATS_FOUND and untagged are not', async () => {
    assert.equal(await read('bucketscan', { 'bucketscan-status': 'CLEAN' }), 'Allowed');
    assert.equal(await read('bucketscan', { 'bucketscan-status': 'NO_THREATS_FOUND' }), 'ExplicitlyDenied');
    assert.equal(await read('bucketscan', {}), 'ExplicitlyDenied');
  });
});
