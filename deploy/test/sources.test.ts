// Issue 14 §5: one deployment, several buckets. The construct's `sources` (new
// buckets and existing ones by name; S3 notifications or EventBridge; each with
// its key rules, quarantine area, validation queue and status tag) and the
// template's EventBridgeBucketNames list; IAM scoped per source; the result bus;
// the rescan queue; fail-closed reads per bucket. What the construct writes is
// checked here; what IAM makes of it, in iam.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { synthesizeTemplate } from '../lib/synth.ts';
import { logicalIdOf, type Template as CfnTemplate } from '../lib/template-env.ts';
import { ACCOUNT, constructStack, constructStackWith, only, REGION, resourcesOf, synth, workerEnvironmentOf } from './support.ts';

type Statement = Record<string, unknown>;
const statementsOf = (policy: Record<string, unknown>) => (policy['PolicyDocument'] as { Statement: Statement[] }).Statement;
const bySid = (statements: Statement[], sid: string) =>
  only(
    statements.filter((s) => s['Sid'] === sid),
    `statement ${sid}`,
  );

describe('the construct with several sources', () => {
  const { app, stack, scan } = constructStackWith((s) => ({
    sources: [
      // An existing bucket announced through EventBridge: every key, no validation queue.
      { bucketName: 'partner-drop', notifications: 'EventBridge', keyLayout: 'any', quarantinePrefix: 'partner', validationQueue: 'none' },
      // A new bucket, one folder of it, by S3 notification.
      { prefix: 'uploads', quarantinePrefix: 'uploads/', fileRules: { maxFileSize: 20, denyTypes: ['exe', 'docm'] } },
      // An existing bucket by S3 notification, its own validation queue, no status tag.
      {
        bucketName: 'archive-intake',
        prefix: 'in/',
        quarantinePrefix: 'archive/',
        statusTag: false,
        validationQueue: sqs.Queue.fromQueueArn(s, 'Ingest', `arn:aws:sqs:${REGION}:${ACCOUNT}:archive-ingest`),
      },
    ],
    resultEventBus: 'scan-results',
    failClosedReads: {},
  }));
  const { template, violations } = synth(app, stack);
  const raw = template.toJSON() as CfnTemplate;
  const newBucket = only(
    resourcesOf(template, 'AWS::S3::Bucket').filter(([id]) => id.startsWith('BucketScanSource1Bucket')),
    'the new source bucket',
  )[0];
  const quarantine = logicalIdOf(raw, 'AWS::S3::Bucket', 'BucketScanQuarantineBucket');
  const inbound = logicalIdOf(raw, 'AWS::SQS::Queue', 'BucketScanQueuesInbound');
  const newBucketArn = { 'Fn::GetAtt': [newBucket, 'Arn'] };
  const joined = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });

  test('cdk-nag finds nothing', () => {
    assert.deepEqual(violations, []);
  });

  test('S3 sources: each bucket notifies the inbound queue under its prefix; S3 may send for exactly those buckets', () => {
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: 'archive-intake',
      Managed: false,
      NotificationConfiguration: {
        QueueConfigurations: [Match.objectLike({ Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'in/' }] } } })],
      },
    });
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: newBucket },
      NotificationConfiguration: {
        QueueConfigurations: [Match.objectLike({ Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'uploads/' }] } } })],
      },
    });
    const policy = only(
      resourcesOf(template, 'AWS::SQS::QueuePolicy').filter(([, p]) => JSON.stringify(p['Queues']) === JSON.stringify([{ Ref: inbound }])),
      'inbound queue policy',
    )[1];
    const s3 = bySid(statementsOf(policy), 'AllowUnprocessedBucketNotifications');
    assert.deepEqual((s3['Condition'] as Record<string, Record<string, unknown>>)['ArnEquals']!['aws:SourceArn'], [
      newBucketArn,
      joined('arn:', { Ref: 'AWS::Partition' }, ':s3:::archive-intake'),
    ]);
  });

  test('EventBridge sources: delivery turned on without wiping the bucket, one rule to the inbound queue, admitted for that rule only', () => {
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: 'partner-drop',
      Managed: false, // CDK's handler keeps the bucket's other configurations
      NotificationConfiguration: { EventBridgeConfiguration: {} },
    });
    const [ruleId, rule] = only(
      resourcesOf(template, 'AWS::Events::Rule').filter(([id]) => id.startsWith('BucketScanQueuesEventBridgeSources')),
      'the EventBridge sources rule',
    );
    assert.deepEqual(rule['EventPattern'], {
      source: ['aws.s3'],
      'detail-type': ['Object Created'],
      detail: { bucket: { name: ['partner-drop'] } },
    });
    assert.deepEqual((rule['Targets'] as Array<Record<string, unknown>>)[0]!['Arn'], { 'Fn::GetAtt': [inbound, 'Arn'] });
    const policy = only(
      resourcesOf(template, 'AWS::SQS::QueuePolicy').filter(([, p]) => JSON.stringify(p['Queues']) === JSON.stringify([{ Ref: inbound }])),
      'inbound queue policy',
    )[1];
    const events = only(
      statementsOf(policy).filter((s) => JSON.stringify(s['Principal']).includes('events.amazonaws.com')),
      'EventBridge statement',
    );
    assert.deepEqual(events['Condition'], { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } });
  });

  test("the worker's policy names each source's folder, each quarantine area and each validation queue, nothing more", () => {
    const worker = only(
      resourcesOf(template, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('BucketScanScannerWorkerPolicy')),
      'worker policy',
    )[1];
    const s = statementsOf(worker);
    assert.deepEqual(bySid(s, 'ReadAndRemoveScannedObjects')['Resource'], [
      joined('arn:', { Ref: 'AWS::Partition' }, ':s3:::partner-drop/*'),
      joined(newBucketArn, '/uploads/*'),
      joined('arn:', { Ref: 'AWS::Partition' }, ':s3:::archive-intake/in/*'),
    ]);
    // archive-intake writes no status tag.
    assert.deepEqual(bySid(s, 'WriteStatusTag')['Resource'], [
      joined('arn:', { Ref: 'AWS::Partition' }, ':s3:::partner-drop/*'),
      joined(newBucketArn, '/uploads/*'),
    ]);
    assert.deepEqual(bySid(s, 'WriteQuarantine')['Resource'], [
      joined({ 'Fn::GetAtt': [quarantine, 'Arn'] }, '/partner/*'),
      joined({ 'Fn::GetAtt': [quarantine, 'Arn'] }, '/uploads/*'),
      joined({ 'Fn::GetAtt': [quarantine, 'Arn'] }, '/archive/*'),
    ]);
    // partner-drop forwards nowhere; the new bucket to the deployment's queue; archive-intake to its own.
    assert.deepEqual(bySid(s, 'ForwardCleanFiles')['Resource'], [
      { 'Fn::GetAtt': [logicalIdOf(raw, 'AWS::SQS::Queue', 'BucketScanQueuesValidation'), 'Arn'] },
      `arn:aws:sqs:${REGION}:${ACCOUNT}:archive-ingest`,
    ]);
    assert.deepEqual(bySid(s, 'ConsumeInboundQueue')['Resource'], [
      { 'Fn::GetAtt': [inbound, 'Arn'] },
      { 'Fn::GetAtt': [logicalIdOf(raw, 'AWS::SQS::Queue', 'BucketScanQueuesRescan'), 'Arn'] },
    ]);
  });

  test('the result bus: PutEvents on that bus only, and RESULT_EVENT_BUS for the worker', () => {
    const policy = only(
      resourcesOf(template, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('BucketScanScannerResultBusPolicy')),
      'result bus policy',
    )[1];
    assert.deepEqual(statementsOf(policy), [
      {
        Sid: 'PublishResultEvents',
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Resource: joined('arn:', { Ref: 'AWS::Partition' }, `:events:${REGION}:${ACCOUNT}:event-bus/scan-results`),
      },
    ]);
    assert.equal(environment()['RESULT_EVENT_BUS'], 'scan-results');
  });

  const environment = () => workerEnvironmentOf(template);

  test('SOURCES: the sources document the worker reads, with the deployment names', () => {
    const env = environment();
    const quarantineName = `<${quarantine}>`;
    assert.deepEqual(JSON.parse(env['SOURCES']!), {
      sources: [
        { bucket: 'partner-drop', keyLayout: 'any', quarantineBucket: quarantineName, quarantinePrefix: 'partner/', statusTag: true },
        {
          bucket: `<${newBucket}>`,
          prefix: 'uploads/',
          keyLayout: 'submission',
          quarantineBucket: quarantineName,
          quarantinePrefix: 'uploads/',
          validationQueue: `<${logicalIdOf(raw, 'AWS::SQS::Queue', 'BucketScanQueuesValidation')}>`,
          statusTag: true,
          maxFileSize: 20,
          denyTypes: ['exe', 'docm'],
        },
        {
          bucket: 'archive-intake',
          prefix: 'in/',
          keyLayout: 'submission',
          quarantineBucket: quarantineName,
          quarantinePrefix: 'archive/',
          validationQueue: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/archive-ingest`,
          statusTag: false,
        },
      ],
    });
    // The first source as the single-bucket variables, for a worker without SOURCES.
    assert.equal(env['UNPROCESSED_BUCKET_NAME'], 'partner-drop');
    assert.equal(env['RESCAN_QUEUE'], `<${logicalIdOf(raw, 'AWS::SQS::Queue', 'BucketScanQueuesRescan')}>`);
  });

  test('fail-closed reads per bucket: on the folders that write the status tag; the preflight checks those buckets are versioned', () => {
    const policyOf = (bucket: unknown) =>
      only(
        resourcesOf(template, 'AWS::S3::BucketPolicy').filter(([, p]) => JSON.stringify(p['Bucket']) === JSON.stringify(bucket)),
        `bucket policy of ${JSON.stringify(bucket)}`,
      )[1];
    const readDeny = (bucket: unknown) => bySid(statementsOf(policyOf(bucket)), 'DenyReadUnlessScannedClean');
    assert.deepEqual(readDeny('partner-drop')['Resource'], joined('arn:', { Ref: 'AWS::Partition' }, ':s3:::partner-drop/*'));
    assert.deepEqual(readDeny({ Ref: newBucket })['Resource'], joined(newBucketArn, '/uploads/*'));
    // archive-intake writes no tag: no policy would ever let its files be read.
    assert.equal(
      resourcesOf(template, 'AWS::S3::BucketPolicy').some(([, p]) => p['Bucket'] === 'archive-intake'),
      false,
    );
    template.hasResourceProperties('Custom::BucketScanPreflight', {
      RequireVersioning: 'true',
      Buckets: ['partner-drop', { Ref: newBucket }],
    });
    assert.ok(scan.failClosedPolicies.size === 2);
  });
});

describe('sources are checked as a sources file is', () => {
  const refusals: Array<[string, Parameters<typeof constructStack>[0], RegExp]> = [
    [
      'overlapping folders of one bucket',
      {
        sources: [
          { bucketName: 'shared-bucket', prefix: 'a/', quarantinePrefix: 'qa/' },
          { bucketName: 'shared-bucket', prefix: 'a/b/', quarantinePrefix: 'qb/' },
        ],
      },
      /BucketScan: sources\[1\]\.prefix: "a\/b\/" overlaps sources\[0\]'s prefix "a\/"/,
    ],
    [
      'the single-bucket properties beside sources',
      { sources: [{ quarantinePrefix: 'q/' }], unprocessedBucketName: 'uploads' },
      /sources replaces unprocessedBucketName, unprocessedPrefix and quarantinePrefix/,
    ],
    ['no source', { sources: [] }, /sources lists no source/],
    [
      'a status tag with tagging off',
      { scanStatusTag: '', sources: [{ quarantinePrefix: 'q/', statusTag: true }] },
      /sources\[0\]\.statusTag is true, but scanStatusTag '' names no tag key/,
    ],
    [
      "a file size above the deployment's",
      { maxFileSizeMb: 100, sources: [{ quarantinePrefix: 'q/', fileRules: { maxFileSize: 500 } }] },
      /sources\[0\]\.fileRules\.maxFileSize: must be above 0 and at most maxFileSizeMb \(100\), got 500/,
    ],
    [
      'a type both allowed and denied',
      { sources: [{ quarantinePrefix: 'q/', fileRules: { allowTypes: ['pdf', 'exe'], denyTypes: ['exe'] } }] },
      /sources\[0\]\.fileRules\.denyTypes: "exe" is in allowTypes too/,
    ],
    [
      'a type list that names no type',
      { sources: [{ quarantinePrefix: 'q/', fileRules: { allowTypes: ['PDF files'] } }] },
      /sources\[0\]\.fileRules\.allowTypes: "PDF files" is not a file type/,
    ],
  ];
  for (const [what, props, message] of refusals) {
    test(`refuses ${what}`, () => {
      assert.throws(() => constructStack(props), message);
    });
  }
});

describe('the template: EventBridgeBucketNames, ResultEventBus, the rescan queue', () => {
  const raw = synthesizeTemplate();
  const condition = (id: string) => raw.Resources[id]!.Condition;
  const ids = (type: string, prefix: string) =>
    Object.keys(raw.Resources).filter((id) => raw.Resources[id]!.Type === type && id.startsWith(prefix));

  test('one rule lists the EventBridgeBucketNames buckets; it, the function that turns their delivery on and their IAM exist only with some', () => {
    const rule = only(ids('AWS::Events::Rule', 'EventBridgeSourcesRule'), 'rule');
    assert.equal(condition(rule), 'HasEventBridgeBuckets');
    assert.deepEqual(raw.Resources[rule]!.Properties!['EventPattern'], {
      source: ['aws.s3'],
      'detail-type': ['Object Created'],
      detail: { bucket: { name: { Ref: 'EventBridgeBucketNames' } } },
    });
    const described = only(ids('Custom::BucketScanEventBridgeSources', 'EventBridgeSourcesDescribe'), 'custom resource');
    assert.equal(condition(described), 'HasEventBridgeBuckets');
    assert.deepEqual(raw.Resources[described]!.Properties!['Buckets'], { Ref: 'EventBridgeBucketNames' });
    for (const id of [...ids('AWS::IAM::Policy', 'EventBridgeSources'), ...ids('AWS::Lambda::Function', 'EventBridgeSources')]) {
      assert.equal(condition(id), 'HasEventBridgeBuckets', id);
    }
    // The inbound queue admits the rule only when it exists.
    const inbound = logicalIdOf(raw, 'AWS::SQS::Queue', 'BucketScanQueuesInbound');
    const policy = Object.values(raw.Resources).find(
      (r) => r.Type === 'AWS::SQS::QueuePolicy' && JSON.stringify(r.Properties!['Queues']) === JSON.stringify([{ Ref: inbound }]),
    )!;
    const statements = (policy.Properties!['PolicyDocument'] as { Statement: Statement[] }).Statement;
    const conditional = only(
      statements.filter((s) => 'Fn::If' in s),
      'conditional statement',
    ) as { 'Fn::If': [string, Statement, unknown] };
    assert.equal(conditional['Fn::If'][0], 'HasEventBridgeBuckets');
    assert.equal(conditional['Fn::If'][1]['Sid'], 'AllowEventBridgeSources');
    assert.deepEqual(conditional['Fn::If'][2], { Ref: 'AWS::NoValue' });
  });

  test('the worker gets SOURCES and RESULT_EVENT_BUS only when they are given', () => {
    const task = logicalIdOf(raw, 'AWS::ECS::TaskDefinition', 'BucketScanScannerTask');
    const worker = (raw.Resources[task]!.Properties!['ContainerDefinitions'] as Array<{ Name: string; Environment: unknown[] }>).find(
      (c) => c.Name === 'worker',
    )!;
    const conditional = worker.Environment.filter((e) => 'Fn::If' in (e as object)) as Array<{
      'Fn::If': [string, { Name: string }, unknown];
    }>;
    assert.deepEqual(conditional.map((e) => [e['Fn::If'][1].Name, e['Fn::If'][0]]).sort(), [
      ['RESULT_EVENT_BUS', 'HasResultEventBus'],
      ['SOURCES', 'HasEventBridgeBuckets'],
    ]);
  });

  test('the rescan queue: encrypted, dead-letters into the inbound dead-letter queue, named in the outputs', () => {
    const rescan = logicalIdOf(raw, 'AWS::SQS::Queue', 'BucketScanQueuesRescan');
    const props = raw.Resources[rescan]!.Properties!;
    assert.deepEqual(props['RedrivePolicy'], {
      deadLetterTargetArn: { 'Fn::GetAtt': [logicalIdOf(raw, 'AWS::SQS::Queue', 'BucketScanQueuesInboundDeadLetters'), 'Arn'] },
      maxReceiveCount: 5,
    });
    assert.equal(props['MessageRetentionPeriod'], 14 * 24 * 3600);
    assert.deepEqual((raw as { Outputs?: Record<string, { Value: unknown }> }).Outputs!['RescanQueueUrl']!.Value, { Ref: rescan });
  });
});
