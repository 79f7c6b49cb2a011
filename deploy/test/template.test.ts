// Fine-grained assertions on what the construct synthesizes: the checked-in
// template's stack (CloudFormation parameters) and the construct with concrete
// values (what a CDK user writes).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { CLAMD_HEALTHCHECK, MAX_RECEIVE_COUNT } from '../lib/bucketscan.ts';
import { ephemeralStorageGiB, taskSize } from '../lib/sizing.ts';
import { synthesizeTemplate } from '../lib/synth.ts';
import { logicalIdOf, type Template as CfnTemplate } from '../lib/template-env.ts';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { ACCOUNT, constructStack, constructStackWith, only, resourcesOf, synth } from './support.ts';

const raw: CfnTemplate = synthesizeTemplate();
const template = Template.fromJSON(raw as unknown as Record<string, unknown>);
const id = (type: string, prefix: string) => logicalIdOf(raw, type, prefix);
const INBOUND = id('AWS::SQS::Queue', 'BucketScanQueuesInbound');
const DLQ = id('AWS::SQS::Queue', 'BucketScanQueuesInboundDeadLetters');
const VALIDATION = id('AWS::SQS::Queue', 'BucketScanQueuesValidation');
const RESCAN = id('AWS::SQS::Queue', 'BucketScanQueuesRescan');
const TOPIC = id('AWS::SNS::Topic', 'BucketScanQuarantineVirusNotifications');
const ALARM_TOPIC = id('AWS::SNS::Topic', 'BucketScanAlarmsTopic');
const QUARANTINE = id('AWS::S3::Bucket', 'BucketScanQuarantineBucket');
const MIRROR = id('AWS::S3::Bucket', 'BucketScanMirrorBucket');
const CLUSTER = id('AWS::ECS::Cluster', 'BucketScanScannerCluster');
const SERVICE = id('AWS::ECS::Service', 'BucketScanScannerService');
const TASK = id('AWS::ECS::TaskDefinition', 'BucketScanScannerTask');
const MESSAGE_KEY = id('AWS::KMS::Key', 'BucketScanMessageKey');
const TASK_ROLE = id('AWS::IAM::Role', 'BucketScanScannerTaskTaskRole');

type Container = Record<string, unknown> & { Name: string; Environment: Array<{ Name: string; Value: unknown }> };
const taskProps = raw.Resources[TASK]!.Properties!;
const containers = taskProps['ContainerDefinitions'] as Container[];
const container = (name: string) =>
  only(
    containers.filter((c) => c.Name === name),
    `container ${name}`,
  );
const envOf = (name: string) => Object.fromEntries(container(name).Environment.map((e) => [e.Name, e.Value]));

describe('S3 notifications and queues', () => {
  test('ObjectCreated events of the unprocessed bucket go to the inbound queue, filtered on the prefix when one is set', () => {
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: 'UnprocessedBucketName' },
      Managed: false, // an existing bucket: other notification configurations are kept
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            QueueArn: { 'Fn::GetAtt': [INBOUND, 'Arn'] },
            Filter: {
              'Fn::If': [
                'HasUnprocessedPrefix',
                { Key: { FilterRules: [{ Name: 'prefix', Value: { Ref: 'UnprocessedPrefix' } }] } },
                { Ref: 'AWS::NoValue' },
              ],
            },
          },
        ],
      },
    });
    template.hasCondition('HasUnprocessedPrefix', { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'UnprocessedPrefix' }, ''] }] });
  });

  test('the construct with concrete values puts the prefix in the filter', () => {
    const { app, stack } = constructStack({ unprocessedPrefix: 'incoming' });
    const { template: t } = synth(app, stack);
    t.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        QueueConfigurations: [Match.objectLike({ Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'incoming/' }] } } })],
      },
    });
  });

  test('the inbound queue admits S3 only for the unprocessed bucket of this account', () => {
    const policy = only(
      resourcesOf(template, 'AWS::SQS::QueuePolicy').filter(([, p]) => JSON.stringify(p['Queues']) === JSON.stringify([{ Ref: INBOUND }])),
      'inbound queue policy',
    )[1];
    const statements = (policy['PolicyDocument'] as { Statement: Array<Record<string, unknown>> }).Statement;
    const s3 = only(
      statements.filter((s) => JSON.stringify(s['Principal'] ?? null).includes('s3.amazonaws.com')),
      'S3 statement',
    );
    assert.deepEqual(s3, {
      Sid: 'AllowUnprocessedBucketNotifications',
      Effect: 'Allow',
      Principal: { Service: 's3.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Resource: { 'Fn::GetAtt': [INBOUND, 'Arn'] },
      Condition: {
        ArnEquals: {
          'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::', { Ref: 'UnprocessedBucketName' }]] },
        },
        StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
      },
    });
    // TLS only, as on every queue
    assert.ok(
      statements.some(
        (s) => s['Effect'] === 'Deny' && JSON.stringify(s['Condition']) === JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } }),
      ),
    );
  });

  test('the inbound queue dead-letters after 5 receives into a 14-day queue; every queue is encrypted', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [DLQ, 'Arn'] }, maxReceiveCount: MAX_RECEIVE_COUNT },
      VisibilityTimeout: 120,
      ReceiveMessageWaitTimeSeconds: 20,
      MessageRetentionPeriod: Duration.days(4).toSeconds(),
    });
    const dlq = raw.Resources[DLQ]!.Properties!;
    assert.equal(dlq['MessageRetentionPeriod'], 14 * 24 * 3600);
    assert.ok(raw.Resources[VALIDATION]!.Properties!['RedrivePolicy']);
    // SSE-SQS, or the stack's customer key (MessageEncryption=customer-key).
    for (const [queueId, props] of resourcesOf(template, 'AWS::SQS::Queue')) {
      assert.deepEqual(
        props['SqsManagedSseEnabled'],
        { 'Fn::If': ['UseCustomerKey', { Ref: 'AWS::NoValue' }, true] },
        `${queueId} is encrypted`,
      );
      assert.deepEqual(props['KmsMasterKeyId'], {
        'Fn::If': ['UseCustomerKey', { 'Fn::GetAtt': [MESSAGE_KEY, 'Arn'] }, { Ref: 'AWS::NoValue' }],
      });
    }
    for (const [policyId, props] of resourcesOf(template, 'AWS::SQS::QueuePolicy')) {
      assert.match(JSON.stringify(props['PolicyDocument']), /"aws:SecureTransport":"false"/, `${policyId} denies plain HTTP`);
    }
  });

  test('the notification topic is encrypted with the SNS managed key (or the customer key); both topics refuse plain HTTP; alarm email is conditional', () => {
    assert.deepEqual(raw.Resources[TOPIC]!.Properties!['KmsMasterKeyId'], {
      'Fn::If': [
        'UseCustomerKey',
        { 'Fn::GetAtt': [MESSAGE_KEY, 'Arn'] },
        {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':kms:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':alias/aws/sns'],
          ],
        },
      ],
    });
    for (const topic of [TOPIC, ALARM_TOPIC]) {
      const policy = only(
        resourcesOf(template, 'AWS::SNS::TopicPolicy').filter(([, p]) => JSON.stringify(p['Topics']) === JSON.stringify([{ Ref: topic }])),
        `policy of ${topic}`,
      )[1];
      assert.match(JSON.stringify(policy), /"aws:SecureTransport":"false"/);
    }
    template.hasResource('AWS::SNS::Subscription', {
      Condition: 'HasAlarmEmail',
      Properties: { Protocol: 'email', Endpoint: { Ref: 'AlarmEmail' }, TopicArn: { Ref: ALARM_TOPIC } },
    });
  });
});

describe('buckets', () => {
  test('the quarantine bucket: Block Public Access, SSE, TLS only, versioned, expiry from a parameter', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Id: 'abort-incomplete-uploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } }),
          Match.objectLike({
            Id: 'expire-quarantined',
            ExpirationInDays: { Ref: 'QuarantineExpirationDays' },
            NoncurrentVersionExpiration: { NoncurrentDays: { Ref: 'QuarantineExpirationDays' } },
            Status: 'Enabled',
          }),
        ]),
      },
    });
    const policy = only(
      resourcesOf(template, 'AWS::S3::BucketPolicy').filter(([, p]) => JSON.stringify(p['Bucket']) === JSON.stringify({ Ref: QUARANTINE })),
      'quarantine bucket policy',
    )[1];
    assert.deepEqual((policy['PolicyDocument'] as { Statement: unknown[] }).Statement, [
      {
        Action: 's3:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Resource: [{ 'Fn::GetAtt': [QUARANTINE, 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [QUARANTINE, 'Arn'] }, '/*']] }],
      },
      {
        // Only the scanner and the named readers read quarantined files (the IAM proof evaluates it).
        Sid: 'DenyReadsExceptScannerAndReaders',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: ['s3:GetObject', 's3:GetObjectVersion'],
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [QUARANTINE, 'Arn'] }, '/*']] },
        Condition: {
          ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [TASK_ROLE, 'Arn'] } },
          ArnNotLike: {
            'Fn::If': ['HasQuarantineReaders', { 'aws:PrincipalArn': { Ref: 'QuarantineReaders' } }, { Ref: 'AWS::NoValue' }],
          },
        },
      },
    ]);
  });

  test('quarantine expiry: 0 keeps files; a number of days expires current and noncurrent versions', () => {
    const keep = synth(...pick(constructStack({ quarantineExpirationDays: 0 })));
    const rules = only(
      resourcesOf(keep.template, 'AWS::S3::Bucket').filter(([bid]) => bid.startsWith('BucketScanQuarantineBucket')),
      'quarantine',
    )[1];
    assert.doesNotMatch(JSON.stringify(rules), /ExpirationInDays/);
    const days = synth(...pick(constructStack({ quarantineExpirationDays: 30 })));
    days.template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 30, NoncurrentVersionExpiration: { NoncurrentDays: 30 } })]),
      },
    });
  });

  test('access logging is optional and goes to the given bucket', () => {
    for (const [bid, props] of resourcesOf(template, 'AWS::S3::Bucket')) {
      assert.equal(props['LoggingConfiguration'], undefined, `${bid} does not log by default`);
    }
    const { app, stack } = constructStackWith((stack) => ({ accessLogsBucket: new s3.Bucket(stack, 'AccessLogs', { enforceSSL: true }) }));
    const { template: t } = synth(app, stack);
    const logging = resourcesOf(t, 'AWS::S3::Bucket')
      .filter(([bid]) => bid.startsWith('BucketScan'))
      .map(([, props]) => (props['LoggingConfiguration'] as Record<string, unknown>)['LogFilePrefix']);
    assert.deepEqual(logging.sort(), ['definitions-mirror/', 'quarantine/', 'unprocessed/']);
  });

  test('the definitions mirror is readable anonymously only from inside the VPC, over TLS', () => {
    const policy = only(
      resourcesOf(template, 'AWS::S3::BucketPolicy').filter(([, p]) => JSON.stringify(p['Bucket']) === JSON.stringify({ Ref: MIRROR })),
      'mirror bucket policy',
    )[1];
    const statements = (policy['PolicyDocument'] as { Statement: Array<Record<string, unknown>> }).Statement;
    assert.deepEqual(
      statements.find((s) => s['Sid'] === 'ReadMirrorFromTheVpc'),
      {
        Sid: 'ReadMirrorFromTheVpc',
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: ['s3:GetObject', 's3:ListBucket'],
        Resource: [{ 'Fn::GetAtt': [MIRROR, 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [MIRROR, 'Arn'] }, '/*']] }],
        Condition: { StringEquals: { 'aws:SourceVpc': { Ref: 'VpcId' } } },
      },
    );
    assert.ok(statements.some((s) => s['Effect'] === 'Deny' && JSON.stringify(s).includes('aws:SecureTransport')));
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: {
        BlockPublicPolicy: true,
        RestrictPublicBuckets: true,
        BlockPublicAcls: true,
        IgnorePublicAcls: true,
      },
    });
  });

  test('fail-closed reads: in the template, a conditional bucket policy on the existing bucket', () => {
    const [, resource] = only(
      Object.entries(template.findResources('AWS::S3::BucketPolicy', { Condition: 'ApplyFailClosedReads' })),
      'fail-closed policy',
    );
    const props = (resource as { Properties: Record<string, unknown> }).Properties;
    assert.deepEqual(props['Bucket'], { Ref: 'UnprocessedBucketName' });
    const statements = (props['PolicyDocument'] as { Statement: Array<Record<string, unknown>> }).Statement;
    const objects = {
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':s3:::', { Ref: 'UnprocessedBucketName' }, '/', { Ref: 'UnprocessedPrefix' }, '*'],
      ],
    };
    const scanner = { 'Fn::GetAtt': [TASK_ROLE, 'Arn'] };
    assert.deepEqual(
      statements.find((s) => s['Sid'] === 'DenyReadUnlessScannedClean'),
      {
        Sid: 'DenyReadUnlessScannedClean',
        Effect: 'Deny',
        Principal: '*',
        Action: ['s3:GetObject', 's3:GetObjectVersion'],
        Resource: objects,
        Condition: {
          StringNotEquals: { 's3:ExistingObjectTag/bucketscan-status': 'CLEAN' },
          ArnNotEquals: { 'aws:PrincipalArn': scanner },
          ArnNotLike: { 'Fn::If': ['HasFailClosedReaders', { 'aws:PrincipalArn': { Ref: 'FailClosedReaders' } }, { Ref: 'AWS::NoValue' }] },
        },
      },
    );
    assert.deepEqual(
      statements.find((s) => s['Sid'] === 'DenyStatusTagWritesExceptScanner'),
      {
        Sid: 'DenyStatusTagWritesExceptScanner',
        Effect: 'Deny',
        Principal: '*',
        Action: ['s3:PutObject', 's3:PutObjectTagging', 's3:PutObjectVersionTagging'],
        Resource: objects,
        Condition: {
          'ForAnyValue:StringEquals': { 's3:RequestObjectTagKeys': ['bucketscan-status'] },
          ArnNotLike: { 'aws:PrincipalArn': [scanner] },
        },
      },
    );
    // The same four statements `bucketscan policy` prints (src/policy/bucket-policy.ts).
    assert.deepEqual(
      statements.filter((s) => String(s['Sid']).startsWith('Deny') && s['Sid'] !== 'DenyInsecureTransport').map((s) => s['Sid']),
      [
        'DenyReadUnlessScannedClean',
        'DenyStatusTagWritesExceptScanner',
        'DenyTagChangesOnScannedObjectsExceptScanner',
        'DenyCopiesInExceptScanner',
      ],
    );
    assert.ok(statements.some((s) => s['Sid'] === 'DenyInsecureTransport'));
    template.hasCondition('ApplyFailClosedReads', { 'Fn::Equals': [{ Ref: 'FailClosedReads' }, 'true'] });
  });

  test('fail-closed reads on a bucket the construct creates: statements on its own policy, readers excepted', () => {
    const reader = `arn:aws:iam::${ACCOUNT}:role/auditor`;
    const { template: t } = synth(...pick(constructStack({ failClosedReads: { readers: [reader] } })));
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'DenyReadUnlessScannedClean',
            Condition: Match.objectLike({ ArnNotLike: { 'aws:PrincipalArn': [reader] } }),
          }),
        ]),
      },
    });
  });

  test('fail-closed reads need a status tag', () => {
    assert.throws(() => constructStack({ scanStatusTag: '', failClosedReads: {} }), /failClosedReads needs scanStatusTag/);
  });
});

describe('the ECS service', () => {
  test('two essential containers; the worker starts once clamd is HEALTHY', () => {
    const worker = container('worker');
    const clamd = container('clamd');
    assert.equal(worker['Essential'], true);
    assert.equal(clamd['Essential'], true);
    assert.deepEqual(worker['DependsOn'], [{ ContainerName: 'clamd', Condition: 'HEALTHY' }]);
    assert.deepEqual((clamd['HealthCheck'] as Record<string, unknown>)['Command'], ['CMD', CLAMD_HEALTHCHECK]);
    assert.equal((clamd['HealthCheck'] as Record<string, unknown>)['StartPeriod'], 300);
    assert.deepEqual(worker['Image'], { Ref: 'WorkerImage' });
    assert.deepEqual(clamd['Image'], { Ref: 'ClamdImage' });
    assert.equal(worker['ReadonlyRootFilesystem'], true);
    assert.deepEqual(clamd['MountPoints'], [
      { ContainerPath: '/var/lib/clamav', ReadOnly: false, SourceVolume: 'clamav-database' },
      { ContainerPath: '/var/spool/clamd', ReadOnly: false, SourceVolume: 'clamd-spool' },
    ]);
  });

  test('the worker is configured for the deployment: env only, clamd on loopback, EMF metrics', () => {
    const env = envOf('worker');
    assert.equal(env['BUCKETSCAN_ENV_FILE'], 'none');
    assert.equal(env['CLAMD_HOST'], '127.0.0.1');
    assert.equal(env['CLAMD_PORT'], '3310');
    assert.equal(env['METRICS'], 'emf');
    assert.deepEqual(env['VIRUS_SCANNING_QUEUE_URL'], { Ref: INBOUND });
    assert.deepEqual(env['VALIDATION_QUEUE_URL'], { Ref: VALIDATION });
    assert.deepEqual(env['VIRUS_NOTIFICATION_TOPIC_ARN'], { Ref: TOPIC });
    assert.deepEqual(env['MAX_FILE_SIZE'], { Ref: 'MaxFileSize' });
    assert.deepEqual(env['CONCURRENCY'], { Ref: 'Concurrency' });
    const clamd = envOf('clamd');
    assert.equal(clamd['CLAMD_TCP_ADDR'], '127.0.0.1');
    assert.deepEqual(clamd['CLAMD_STREAM_MAX_LENGTH_MB'], { Ref: 'MaxFileSize' });
    assert.deepEqual(clamd['CLAMD_MAX_THREADS'], { Ref: 'Concurrency' });
    assert.equal(clamd['FRESHCLAM'], 'on');
    assert.deepEqual(clamd['FRESHCLAM_PRIVATE_MIRROR'], {
      'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [MIRROR, 'RegionalDomainName'] }]],
    });
  });

  test('stopTimeout is above SHUTDOWN_TIMEOUT, which is above clamd MaxScanTime', () => {
    const worker = container('worker');
    const shutdown = Number(envOf('worker')['SHUTDOWN_TIMEOUT']);
    assert.equal(shutdown, 105);
    assert.equal(worker['StopTimeout'], 120);
    assert.equal(envOf('clamd')['CLAMD_MAX_SCAN_TIME_MS'], '90000');
    const short = synth(...pick(constructStack({ shutdownTimeout: Duration.seconds(75), maxScanTime: Duration.seconds(60) })));
    const task = Object.values(short.template.findResources('AWS::ECS::TaskDefinition')).find((t) =>
      (t as { Properties: { ContainerDefinitions: Container[] } }).Properties.ContainerDefinitions.some((x) => x.Name === 'worker'),
    ) as { Properties: { ContainerDefinitions: Container[] } };
    const c = task.Properties.ContainerDefinitions.find((x) => x.Name === 'worker')!;
    assert.equal(c['StopTimeout'], 90);
    assert.throws(() => constructStack({ shutdownTimeout: Duration.seconds(115) }), /at most 110 seconds/);
    assert.throws(
      () => constructStack({ shutdownTimeout: Duration.seconds(60) }),
      /maxScanTime \(90 s\) \+ 15 s must be at most shutdownTimeout \(60 s\)/,
    );
  });

  test('memory and storage in the template come from mappings computed by sizing.ts', () => {
    const lookup = (map: string) => ({ 'Fn::FindInMap': [map, { Ref: 'MaxFileSize' }, { Ref: 'Concurrency' }] });
    assert.deepEqual(taskProps['Cpu'], lookup('TaskCpu'));
    assert.deepEqual(taskProps['Memory'], lookup('TaskMemoryMiB'));
    assert.deepEqual(taskProps['EphemeralStorage'], { SizeInGiB: lookup('TaskEphemeralStorageGiB') });
    assert.deepEqual(container('clamd')['MemoryReservation'], lookup('TaskClamdMemoryMiB'));
    assert.equal(container('worker')['Memory'], 512);
    const mappings = raw.Mappings!;
    assert.equal(mappings['TaskEphemeralStorageGiB']!['2047']!['16'], ephemeralStorageGiB(2047, 16));
    assert.equal(mappings['TaskMemoryMiB']!['100']!['4'], 4096);
    assert.equal(mappings['TaskClamdMemoryMiB']!['100']!['4'], 2560 + 4 * 128);
    // clamd gets what a definitions reload needs (2.4 GiB) on every size offered.
    for (const bySize of Object.values(mappings['TaskClamdMemoryMiB']!)) {
      for (const mib of Object.values(bySize)) assert.ok((mib as number) >= 2.4 * 1024);
    }
  });

  test('the construct computes the sizes from MAX_FILE_SIZE x CONCURRENCY', () => {
    const { template: t } = synth(...pick(constructStack({ maxFileSizeMb: 1000, concurrency: 8 })));
    const expected = taskSize(1000, 8);
    // 8 scans x (1000 MiB stream + 2 GiB MaxScanSize + 2 GiB MaxFileSize, both capped) + 4 GiB fixed
    assert.deepEqual(expected, { cpu: 2048, memoryMiB: 5120, clamdMemoryMiB: 3584, ephemeralStorageGiB: 44 });
    t.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '2048',
      Memory: '5120',
      EphemeralStorage: { SizeInGiB: 44 },
      ContainerDefinitions: Match.arrayWith([Match.objectLike({ Name: 'clamd', MemoryReservation: 3584 })]),
    });
    assert.throws(() => constructStack({ maxFileSizeMb: 2047, concurrency: 64 }), /more than Fargate's 200 GiB/);
  });

  test('Container Insights on; logs to CloudWatch with a retention; no inbound traffic, HTTPS out only', () => {
    template.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    for (const c of containers) {
      assert.equal((c['LogConfiguration'] as Record<string, unknown>)['LogDriver'], 'awslogs');
    }
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupEgress: [{ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Description: 'HTTPS to AWS endpoints' }],
    });
    assert.equal(JSON.stringify(template.findResources('AWS::EC2::SecurityGroupIngress')), '{}');
    const sg = only(resourcesOf(template, 'AWS::EC2::SecurityGroup'), 'security group')[1];
    assert.equal(sg['SecurityGroupIngress'], undefined);
    template.hasResourceProperties('AWS::ECS::Service', {
      NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: { Ref: 'AssignPublicIp' }, Subnets: { Ref: 'SubnetIds' } } },
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true } }),
    });
  });
});

describe('autoscaling', () => {
  const target = only(resourcesOf(template, 'AWS::ApplicationAutoScaling::ScalableTarget'), 'scalable target');
  const policies = resourcesOf(template, 'AWS::ApplicationAutoScaling::ScalingPolicy');
  const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm');
  const alarmActing = (policyId: string) =>
    only(
      alarms.filter(([, a]) => JSON.stringify(a['AlarmActions']) === JSON.stringify([{ Ref: policyId }])),
      `alarm of ${policyId}`,
    )[1];

  test('min and max come from the parameters', () => {
    assert.deepEqual(target[1]['MinCapacity'], { Ref: 'MinTasks' });
    assert.deepEqual(target[1]['MaxCapacity'], { Ref: 'MaxTasks' });
    assert.equal(target[1]['ScalableDimension'], 'ecs:service:DesiredCount');
  });

  test('target tracking on (visible + in flight, inbound and rescan) / running tasks, aiming at what a busy task holds (CONCURRENCY + RECEIVE_AHEAD)', () => {
    const [, policy] = only(
      policies.filter(([, p]) => p['PolicyType'] === 'TargetTrackingScaling'),
      'target tracking policy',
    );
    const config = policy['TargetTrackingScalingPolicyConfiguration'] as Record<string, unknown>;
    assert.deepEqual(config['TargetValue'], { 'Fn::FindInMap': ['ScalingTarget', { Ref: 'Concurrency' }, 'messagesPerTask'] });
    assert.deepEqual(raw.Mappings!['ScalingTarget']!['8'], { messagesPerTask: 16 });
    const metrics = (config['CustomizedMetricSpecification'] as { Metrics: Array<Record<string, unknown>> }).Metrics;
    const byId = Object.fromEntries(metrics.map((m) => [m['Id'], m]));
    assert.deepEqual(byId['visible'], {
      Id: 'visible',
      ReturnData: false,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [INBOUND, 'QueueName'] } }],
        },
        Stat: 'Sum',
      },
    });
    assert.equal(
      (byId['inflight']!['MetricStat'] as { Metric: { MetricName: string } }).Metric.MetricName,
      'ApproximateNumberOfMessagesNotVisible',
    );
    assert.deepEqual((byId['running']!['MetricStat'] as { Metric: unknown }).Metric, {
      Namespace: 'ECS/ContainerInsights',
      MetricName: 'RunningTaskCount',
      Dimensions: [
        { Name: 'ClusterName', Value: { Ref: CLUSTER } },
        { Name: 'ServiceName', Value: { 'Fn::GetAtt': [SERVICE, 'Name'] } },
      ],
    });
    for (const [id, name] of [
      ['rvisible', 'ApproximateNumberOfMessagesVisible'],
      ['rinflight', 'ApproximateNumberOfMessagesNotVisible'],
    ] as const) {
      assert.deepEqual((byId[id]!['MetricStat'] as { Metric: unknown }).Metric, {
        Namespace: 'AWS/SQS',
        MetricName: name,
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [RESCAN, 'QueueName'] } }],
      });
    }
    // Either queue may publish nothing while idle: a backfill alone, or uploads alone, still count.
    assert.equal(byId['backlog']!['Expression'], 'FILL(visible, 0) + FILL(inflight, 0) + FILL(rvisible, 0) + FILL(rinflight, 0)');
    assert.equal(byId['backlogpertask']!['Expression'], 'IF(FILL(running, 0) >= 1, backlog / FILL(running, 0), backlog)');
    assert.equal(byId['backlogpertask']!['ReturnData'], true);
    assert.equal(metrics.filter((m) => m['ReturnData'] === true).length, 1);
  });

  test('out of zero: +1 task when messages are visible on either queue and none is in flight (SQS metrics only)', () => {
    const [policyId, policy] = only(
      policies.filter(([pid]) => pid.startsWith('BucketScanScalingScaleOutFromZero')),
      'scale-out-from-zero policy',
    );
    assert.deepEqual(policy['StepScalingPolicyConfiguration'], {
      AdjustmentType: 'ChangeInCapacity',
      Cooldown: 120,
      MetricAggregationType: 'Maximum',
      StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }],
    });
    const alarm = alarmActing(policyId);
    assert.equal(alarm['Threshold'], 1);
    assert.equal(alarm['ComparisonOperator'], 'GreaterThanOrEqualToThreshold');
    assert.equal(alarm['EvaluationPeriods'], 1);
    const metrics = alarm['Metrics'] as Array<Record<string, unknown>>;
    assert.equal(
      metrics.find((m) => m['Expression'])!['Expression'],
      'IF(FILL(inflight, 0) + FILL(rinflight, 0) < 1, FILL(visible, 0) + FILL(rvisible, 0), 0)',
    );
  });

  test('down to zero only after 15 minutes with nothing visible and nothing in flight, on either queue', () => {
    const [policyId, policy] = only(
      policies.filter(([pid]) => pid.startsWith('BucketScanScalingScaleInToZero')),
      'scale-in-to-zero policy',
    );
    assert.deepEqual(policy['StepScalingPolicyConfiguration'], {
      AdjustmentType: 'ExactCapacity',
      Cooldown: 300,
      MetricAggregationType: 'Maximum',
      StepAdjustments: [{ MetricIntervalUpperBound: 0, ScalingAdjustment: 0 }],
    });
    const alarm = alarmActing(policyId);
    assert.equal(alarm['Threshold'], 0);
    assert.equal(alarm['ComparisonOperator'], 'LessThanOrEqualToThreshold');
    assert.equal(alarm['EvaluationPeriods'], 15);
    assert.equal(alarm['DatapointsToAlarm'], 15);
    assert.equal(alarm['TreatMissingData'], 'notBreaching');
    const metrics = alarm['Metrics'] as Array<Record<string, unknown>>;
    assert.equal(metrics.find((m) => m['Expression'])!['Expression'], 'visible + inflight + FILL(rvisible, 0) + FILL(rinflight, 0)');
  });
});

describe('alarms', () => {
  const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm');
  const toAlarmTopic = alarms.filter(([, a]) => JSON.stringify(a['AlarmActions']) === JSON.stringify([{ Ref: ALARM_TOPIC }]));
  const named = (prefix: string) =>
    only(
      toAlarmTopic.filter(([aid]) => aid.startsWith(prefix)),
      prefix,
    )[1];

  test('eight alarms notify the alarm topic, on alarm and on recovery', () => {
    assert.equal(toAlarmTopic.length, 8);
    for (const [, alarm] of toAlarmTopic) assert.deepEqual(alarm['OKActions'], [{ Ref: ALARM_TOPIC }]);
  });

  test('the dead-letter queue is not empty', () => {
    const alarm = named('BucketScanAlarmsDeadLetters');
    assert.equal(alarm['MetricName'], 'ApproximateNumberOfMessagesVisible');
    assert.deepEqual(alarm['Dimensions'], [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [DLQ, 'QueueName'] } }]);
    assert.equal(alarm['Threshold'], 1);
    assert.equal(alarm['ComparisonOperator'], 'GreaterThanOrEqualToThreshold');
  });

  test('the oldest inbound message is older than 30 minutes', () => {
    const alarm = named('BucketScanAlarmsOldestMessage');
    assert.equal(alarm['MetricName'], 'ApproximateAgeOfOldestMessage');
    assert.deepEqual(alarm['Dimensions'], [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [INBOUND, 'QueueName'] } }]);
    assert.equal(alarm['Threshold'], 1800);
    assert.equal(alarm['ComparisonOperator'], 'GreaterThanThreshold');
  });

  test("definitions older than 48 hours, from the worker's metric, in the stack's namespace", () => {
    const alarm = named('BucketScanAlarmsStaleDefinitions');
    assert.equal(alarm['MetricName'], 'bucketscan_definitions_age_seconds');
    assert.deepEqual(alarm['Namespace'], { 'Fn::Join': ['', ['bucketscan/', { Ref: 'AWS::StackName' }]] });
    assert.deepEqual(envOf('worker')['METRICS_NAMESPACE'], alarm['Namespace']);
    assert.equal(alarm['Statistic'], 'Maximum');
    assert.equal(alarm['Threshold'], 48 * 3600);
    assert.equal(envOf('worker')['MAX_DEFINITIONS_AGE'], '48');
    assert.equal(alarm['TreatMissingData'], 'notBreaching');
  });

  test('messages waiting with none in work (no task running, or tasks stuck), for 10 minutes', () => {
    const alarm = named('BucketScanAlarmsBacklogNotMoving');
    const metrics = alarm['Metrics'] as Array<Record<string, unknown>>;
    assert.equal(metrics.find((m) => m['Expression'])!['Expression'], 'IF(visible >= 1 AND FILL(inflight, 0) < 1, 1, 0)');
    assert.doesNotMatch(JSON.stringify(alarm), /RunningTaskCount/);
    assert.equal(alarm['Threshold'], 1);
    assert.equal(alarm['EvaluationPeriods'], 10);
    assert.equal(alarm['DatapointsToAlarm'], 10);
  });

  test('a dashboard shows outcomes, scan duration, backlog and definitions age', () => {
    const dashboard = only(resourcesOf(template, 'AWS::CloudWatch::Dashboard'), 'dashboard')[1];
    const body = JSON.stringify(dashboard['DashboardBody']);
    for (const text of [
      'bucketscan_records_total',
      'outcome',
      'infected',
      'bucketscan_scan_duration_seconds',
      'ApproximateNumberOfMessagesVisible',
      'bucketscan_definitions_age_seconds',
    ]) {
      assert.ok(body.includes(text), `dashboard mentions ${text}`);
    }
  });
});

describe('IAM', () => {
  const workerPolicy = only(
    resourcesOf(template, 'AWS::IAM::Policy').filter(([pid]) => pid.startsWith('BucketScanScannerWorkerPolicy')),
    'worker policy',
  )[1];
  const statements = (workerPolicy['PolicyDocument'] as { Statement: Array<Record<string, unknown>> }).Statement;
  const arn = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });
  const unprocessedObjects = arn(
    'arn:',
    { Ref: 'AWS::Partition' },
    ':s3:::',
    { Ref: 'UnprocessedBucketName' },
    '/',
    { Ref: 'UnprocessedPrefix' },
    '*',
  );
  const quarantineObjects = arn({ 'Fn::GetAtt': [QUARANTINE, 'Arn'] }, '/', { Ref: 'QuarantinePrefix' }, '*');

  test("the task role gets exactly the worker's actions on exactly its resources", () => {
    assert.deepEqual(workerPolicy['Roles'], [{ Ref: TASK_ROLE }]);
    assert.deepEqual(statements, [
      {
        Sid: 'ReadAndRemoveScannedObjects',
        Effect: 'Allow',
        Action: [
          's3:GetObject',
          's3:GetObjectVersion',
          's3:GetObjectTagging',
          's3:GetObjectVersionTagging',
          's3:DeleteObject',
          's3:DeleteObjectVersion',
        ],
        Resource: unprocessedObjects,
      },
      {
        Sid: 'KnowMissingObjects',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: [
          arn('arn:', { Ref: 'AWS::Partition' }, ':s3:::', { Ref: 'UnprocessedBucketName' }),
          { 'Fn::GetAtt': [QUARANTINE, 'Arn'] },
        ],
      },
      {
        Sid: 'WriteQuarantine',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:PutObjectTagging', 's3:GetObject', 's3:GetObjectTagging', 's3:AbortMultipartUpload'],
        Resource: quarantineObjects,
      },
      {
        Sid: 'ConsumeInboundQueue',
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes'],
        // The inbound queue and the rescan queue (RESCAN_QUEUE).
        Resource: [{ 'Fn::GetAtt': [INBOUND, 'Arn'] }, { 'Fn::GetAtt': [RESCAN, 'Arn'] }],
      },
      {
        Sid: 'ForwardCleanFiles',
        Effect: 'Allow',
        Action: ['sqs:SendMessage', 'sqs:GetQueueUrl'],
        Resource: { 'Fn::GetAtt': [VALIDATION, 'Arn'] },
      },
      { Sid: 'PublishReports', Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: TOPIC } },
      {
        Sid: 'ProtectFromScaleIn',
        Effect: 'Allow',
        Action: 'ecs:UpdateTaskProtection',
        Resource: arn(
          'arn:',
          { Ref: 'AWS::Partition' },
          ':ecs:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':task/',
          { Ref: CLUSTER },
          '/*',
        ),
      },
      {
        Sid: 'WriteStatusTag',
        Effect: 'Allow',
        Action: ['s3:PutObjectTagging', 's3:PutObjectVersionTagging'],
        Resource: unprocessedObjects,
        Condition: { 'ForAnyValue:StringEquals': { 's3:RequestObjectTagKeys': ['bucketscan-status'] } },
      },
    ]);
  });

  test('no other policy is attached to the task role (but the conditional KMS, EventBridge-source and result-bus ones), and the execution role is a different role', () => {
    const attached = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, p]) =>
      JSON.stringify((p as { Properties: unknown }).Properties).includes(`"Roles":[{"Ref":"${TASK_ROLE}"}]`),
    ) as Array<[string, { Condition?: string }]>;
    assert.deepEqual(attached.map(([pid, p]) => [pid.replace(/[0-9A-F]{8}$/, ''), p.Condition]).sort(), [
      ['BucketScanScannerBucketKeysPolicy', 'HasKmsKeys'],
      ['BucketScanScannerMessageKeyPolicy', 'UseCustomerKey'],
      ['BucketScanScannerResultBusPolicy', 'HasResultEventBus'],
      ['BucketScanScannerWorkerPolicy', undefined],
      ['EventBridgeSourcesWorkerPolicy', 'HasEventBridgeBuckets'],
    ]);
    const role = raw.Resources[TASK_ROLE]!.Properties!;
    assert.equal(role['ManagedPolicyArns'], undefined);
    assert.equal(role['Policies'], undefined);
    assert.notDeepEqual(taskProps['TaskRoleArn'], taskProps['ExecutionRoleArn']);
    assert.deepEqual(taskProps['TaskRoleArn'], { 'Fn::GetAtt': [TASK_ROLE, 'Arn'] });
  });

  test('without a status tag there is no tagging write permission; KMS only for the keys given, only through S3', () => {
    const key = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555`;
    const { template: t } = synth(...pick(constructStack({ scanStatusTag: '', kmsKeyArns: [key] })));
    const statementsOf = (prefix: string) =>
      (
        only(
          resourcesOf(t, 'AWS::IAM::Policy').filter(([pid]) => pid.startsWith(prefix)),
          prefix,
        )[1]['PolicyDocument'] as { Statement: Array<Record<string, unknown>> }
      ).Statement;
    const s = [...statementsOf('BucketScanScannerWorkerPolicy'), ...statementsOf('BucketScanScannerBucketKeysPolicy')];
    assert.equal(
      s.find((x) => x['Sid'] === 'WriteStatusTag'),
      undefined,
    );
    assert.deepEqual(
      s.find((x) => x['Sid'] === 'UseBucketKeys'),
      {
        Sid: 'UseBucketKeys',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: key,
        Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
      },
    );
    // In the template, only where KmsKeyArns is not empty.
    const [, keys] = only(
      Object.entries(template.findResources('AWS::IAM::Policy')).filter(([pid]) => pid.startsWith('BucketScanScannerBucketKeysPolicy')),
      'bucket keys policy',
    ) as [string, { Condition: string; Properties: { PolicyDocument: { Statement: Array<Record<string, unknown>> } } }];
    assert.equal(keys.Condition, 'HasKmsKeys');
    assert.deepEqual(keys.Properties.PolicyDocument.Statement[0]!['Resource'], { Ref: 'KmsKeyArns' });
  });

  test('no policy in the template allows an action on "*", except where AWS has no narrower resource', () => {
    const allowedStar = new Set(['ecr:GetAuthorizationToken', 'ec2:DescribeRouteTables', 'ec2:DescribeVpcEndpoints']);
    for (const [pid, props] of resourcesOf(template, 'AWS::IAM::Policy')) {
      for (const statement of (props['PolicyDocument'] as { Statement: Array<Record<string, unknown>> }).Statement) {
        if (statement['Resource'] !== '*') continue;
        const actions = ([] as string[]).concat(statement['Action'] as string | string[]);
        const why = `${pid}: ${actions.join(', ')} on *`;
        // CDK's notification handler: s3:PutBucketNotification is granted per bucket above; its Resource * statement is absent.
        assert.ok(
          actions.every((action) => allowedStar.has(action)),
          why,
        );
      }
    }
  });

  test('the updater may only sync its mirror; the initial run may only start the updater and watch it', () => {
    const updater = only(
      resourcesOf(template, 'AWS::IAM::Policy').filter(([pid]) => pid.startsWith('BucketScanMirrorUpdaterTaskTaskRoleDefaultPolicy')),
      'updater policy',
    )[1];
    assert.deepEqual((updater['PolicyDocument'] as { Statement: unknown[] }).Statement, [
      { Action: 's3:ListBucket', Effect: 'Allow', Resource: { 'Fn::GetAtt': [MIRROR, 'Arn'] } },
      { Action: ['s3:GetObject', 's3:PutObject'], Effect: 'Allow', Resource: arn({ 'Fn::GetAtt': [MIRROR, 'Arn'] }, '/*') },
    ]);
    const starter = only(
      resourcesOf(template, 'AWS::IAM::Policy').filter(([pid]) =>
        pid.startsWith('BucketScanMirrorInitialDefinitionsStarterRoleDefaultPolicy'),
      ),
      'starter policy',
    )[1];
    const s = (starter['PolicyDocument'] as { Statement: Array<Record<string, unknown>> }).Statement;
    assert.deepEqual(
      s.map((x) => x['Action']),
      ['ecs:RunTask', 'ecs:DescribeTasks', 'iam:PassRole', ['logs:CreateLogStream', 'logs:PutLogEvents']],
    );
    assert.deepEqual(s[0]!['Resource'], { Ref: id('AWS::ECS::TaskDefinition', 'BucketScanMirrorUpdaterTask') });
  });
});

describe('definitions for a fleet', () => {
  test('one updater, hourly off the hour: restore, freshclam (signed .cvd only), publish', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'cron(23 * * * ? *)', State: 'ENABLED' });
    const updater = raw.Resources[id('AWS::ECS::TaskDefinition', 'BucketScanMirrorUpdaterTask')]!.Properties!;
    const defs = updater['ContainerDefinitions'] as Container[];
    assert.deepEqual(
      defs.map((d) => [d.Name, d['Essential'], d['DependsOn']]),
      [
        ['restore', false, undefined],
        ['freshclam', false, [{ ContainerName: 'restore', Condition: 'SUCCESS' }]],
        ['publish', true, [{ ContainerName: 'freshclam', Condition: 'SUCCESS' }]],
      ],
    );
    const script = (defs[1]!['Command'] as string[])[0]!;
    assert.match(script, /ScriptedUpdates no/);
    assert.match(script, /DatabaseMirror database\.clamav\.net/);
    assert.deepEqual(defs[1]!['Image'], { Ref: 'ClamdImage' });
    template.hasResourceProperties('Custom::BucketScanInitialDefinitions', {
      TaskDefinition: { Ref: id('AWS::ECS::TaskDefinition', 'BucketScanMirrorUpdaterTask') },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Code: { ZipFile: Match.stringLikeRegexp('RunTaskCommand') },
    });
  });

  test('the template needs no asset bucket: no file assets, inline code only', () => {
    assert.doesNotMatch(JSON.stringify(raw), /cdk-hnb659fds-assets|AssetParameters/);
    assert.equal((raw as unknown as Record<string, unknown>)['Rules'], undefined);
  });
});

function pick(
  built: ReturnType<typeof constructStack>,
): [ReturnType<typeof constructStack>['app'], ReturnType<typeof constructStack>['stack']] {
  return [built.app, built.stack];
}
