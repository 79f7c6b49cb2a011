/**
 * The requests the IAM proof evaluates, for one resolved deployment: the worker's
 * and the operators' calls as the moto tests recorded them (worker.json,
 * operator.json), the few calls those tests cannot make, the execution roles'
 * image pulls and log writes, the updater, the small functions, S3's events, and
 * the deny list. Each names the principal and what it must come to.
 */
import { readFileSync } from 'node:fs';
import type { IamCall } from '../../../test/support/iam-recorder.ts';
import {
  ACCOUNT,
  BUCKET_KEY,
  CLAMD_IMAGE,
  type Deployment,
  READER,
  REGION,
  RELEASER,
  RESULT_BUS,
  SECURITY_TEAM,
  UPLOADS,
  VPC,
  WORKER_IMAGE,
} from './deployment.ts';

export type Principal =
  | { role: string; arn?: string }
  | { anonymous: true }
  | { service: string }
  | { custom: string; policy: Record<string, unknown> };

export interface Check {
  /** Who, for the report: "worker", "operator", "scanner execution role" ... */
  who: string;
  /** The API call, e.g. "S3:CopyObject". */
  call: string;
  principal: Principal;
  action: string;
  resource: string;
  context: Record<string, string | string[]>;
  expect: 'Allowed' | 'Denied';
  /** Why a check that the moto tests cannot record is listed by hand. */
  note?: string;
}

export const recorded = (name: 'worker' | 'operator' | 'detection' | 'release-worker') =>
  JSON.parse(readFileSync(new URL(`./${name}.json`, import.meta.url), 'utf8')) as IamCall[];

const SAMPLE_KEY = '0b6f2c1e-4d2a-4c1b-9e7f-3a5d8c2b1f00/report.pdf';

/** Any identity policy that allows everything: what an administrator or a careless role would have. */
const EVERYTHING = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

export function checksFor(d: Deployment): Check[] {
  const prefix = d.parameters['UnprocessedPrefix'] ?? '';
  const quarantinePrefix = d.parameters['QuarantinePrefix'] ?? '';
  const kms = (d.parameters['KmsKeyArns'] ?? '') !== '';
  const customerKey = d.parameters['MessageEncryption'] === 'customer-key';
  const failClosed = d.parameters['FailClosedReads'] === 'true';
  const wakeUp = d.parameters['WakeUp'] === 'function';
  const eventBridgeBuckets = (d.parameters['EventBridgeBucketNames'] ?? '').split(',').filter((b) => b !== '');
  const resultBus = d.parameters['ResultEventBus'] ?? '';

  const taskId = (type: string, prefix: string) => d.id(type, prefix);
  const role = (prefix: string) => `arn:aws:iam::${ACCOUNT}:role/${taskId('AWS::IAM::Role', prefix)}`;
  const bucketOf = (prefixId: string) => d.ref(taskId('AWS::S3::Bucket', prefixId));
  const queueArn = (prefixId: string) => d.attribute(taskId('AWS::SQS::Queue', prefixId), 'Arn');
  const quarantine = bucketOf('BucketScanQuarantineBucket');
  const mirror = bucketOf('BucketScanMirrorBucket');
  const names: Record<string, string> = {
    '{unprocessed}': UPLOADS,
    '{quarantine}': quarantine,
    '{inbound}': queueArn('BucketScanQueuesInbound').split(':').at(-1)!,
    '{validation}': queueArn('BucketScanQueuesValidation').split(':').at(-1)!,
    '{deadLetters}': queueArn('BucketScanQueuesInboundDeadLetters').split(':').at(-1)!,
    '{topic}': d.ref(taskId('AWS::SNS::Topic', 'BucketScanQuarantineVirusNotifications')).split(':').at(-1)!,
  };
  const concrete = (resource: string) =>
    resource
      .replace('{mirror}/{custom}', `${mirror}/custom/`)
      .replace('{id}', '20260601T101500123Z-3fa9')
      .replace('.v{n}.json', '.v7.json')
      .replace('{region}', REGION)
      .replace('{account}', ACCOUNT)
      .replace(/\{[a-zA-Z]+\}(?=\/\{key\})/, (bucket) => names[bucket] ?? bucket)
      .replace(`${UPLOADS}/{key}`, `${UPLOADS}/${prefix}${SAMPLE_KEY}`)
      .replace(`${quarantine}/{key}`, `${quarantine}/${quarantinePrefix}${prefix}${SAMPLE_KEY}`)
      .replace(/\{[a-zA-Z]+\}$/, (name) => names[name] ?? name);
  const viaS3 = (resource: string): Check['context'] => (resource.startsWith('arn:aws:s3') ? { 'aws:SourceVpc': VPC } : {});
  /** A recorded context with its placeholders filled in (a copy's source names a bucket and key). */
  const concreteContext = (context: Check['context']): Check['context'] => {
    const source = context['s3:x-amz-copy-source'];
    return typeof source === 'string'
      ? { ...context, 's3:x-amz-copy-source': concrete(`arn:aws:s3:::${source}`).slice('arn:aws:s3:::'.length) }
      : context;
  };

  const worker = { role: role('BucketScanScannerTaskTaskRole') };
  const checks: Check[] = [];
  const add = (check: Omit<Check, 'context'> & { context?: Check['context'] }) =>
    checks.push({ ...check, context: { 'aws:SecureTransport': 'true', ...check.context } });

  // ---- the worker, as the moto tests recorded it (the task reaches S3 through the VPC's gateway endpoint),
  // and its side of a release (reading the audit record), as the release tests recorded it
  for (const call of [...recorded('worker'), ...recorded('release-worker')]) {
    const resource = concrete(call.resource);
    add({
      who: 'worker',
      call: call.operation,
      principal: worker,
      action: call.action,
      resource,
      context: { ...concreteContext(call.context), ...viaS3(resource) },
      expect: 'Allowed',
    });
  }
  const inbound = `arn:aws:sqs:${REGION}:${ACCOUNT}:${names['{inbound}']}`;
  const quarantined = `arn:aws:s3:::${quarantine}/${quarantinePrefix}${prefix}${SAMPLE_KEY}`;
  const note = 'not made in the moto tests';
  add({
    who: 'worker',
    call: 'SQS:ChangeMessageVisibility',
    principal: worker,
    action: 'sqs:ChangeMessageVisibility',
    resource: inbound,
    expect: 'Allowed',
    note: `${note}: the heartbeat of a scan longer than a third of the visibility timeout, and the retry backoff`,
  });
  add({
    who: 'worker',
    call: 'S3:AbortMultipartUpload',
    principal: worker,
    action: 's3:AbortMultipartUpload',
    resource: quarantined,
    context: { 'aws:SourceVpc': VPC },
    expect: 'Allowed',
    note: `${note}: a multipart copy that failed`,
  });
  const cluster = d.ref(taskId('AWS::ECS::Cluster', 'BucketScanScannerCluster'));
  add({
    who: 'worker',
    call: 'ECS:UpdateTaskProtection',
    principal: worker,
    action: 'ecs:UpdateTaskProtection',
    resource: `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${cluster}/0123456789abcdef0123456789abcdef`,
    expect: 'Allowed',
    note: 'the ECS agent calls it with the task role when the worker asks for scale-in protection (a local stand-in in the tests)',
  });

  // ---- KMS on the worker's behalf
  const viaService = (service: string) => ({ 'kms:ViaService': `${service}.${REGION}.amazonaws.com` });
  if (kms) {
    add({
      who: 'worker',
      call: 'S3:GetObject (SSE-KMS)',
      principal: worker,
      action: 'kms:Decrypt',
      resource: BUCKET_KEY,
      context: viaService('s3'),
      expect: 'Allowed',
    });
    add({
      who: 'worker',
      call: 'S3:CopyObject (SSE-KMS)',
      principal: worker,
      action: 'kms:GenerateDataKey',
      resource: BUCKET_KEY,
      context: viaService('s3'),
      expect: 'Allowed',
    });
    add({
      who: 'worker',
      call: 'S3:GetObject (SSE-KMS)',
      principal: worker,
      action: 'kms:Decrypt',
      resource: BUCKET_KEY,
      context: viaService('sqs'),
      expect: 'Denied',
      note: 'the bucket keys only through S3',
    });
  }
  if (customerKey) {
    const key = d.attribute(taskId('AWS::KMS::Key', 'BucketScanMessageKey'), 'Arn');
    add({
      who: 'worker',
      call: 'SQS:ReceiveMessage (customer key)',
      principal: worker,
      action: 'kms:Decrypt',
      resource: key,
      context: viaService('sqs'),
      expect: 'Allowed',
    });
    add({
      who: 'worker',
      call: 'SQS:SendMessageBatch (customer key)',
      principal: worker,
      action: 'kms:GenerateDataKey',
      resource: key,
      context: viaService('sqs'),
      expect: 'Allowed',
    });
    add({
      who: 'worker',
      call: 'SNS:Publish (customer key)',
      principal: worker,
      action: 'kms:GenerateDataKey',
      resource: key,
      context: viaService('sns'),
      expect: 'Allowed',
    });
    add({
      who: 'S3 (events)',
      call: 'S3 event to the inbound queue (customer key)',
      principal: { service: 's3.amazonaws.com' },
      action: 'kms:GenerateDataKey',
      resource: key,
      context: { 'aws:SourceAccount': ACCOUNT },
      expect: 'Allowed',
    });
    add({
      who: 'operator',
      call: 'SQS:ReceiveMessage (customer key)',
      principal: operator(d),
      action: 'kms:Decrypt',
      resource: key,
      context: viaService('sqs'),
      expect: 'Allowed',
    });
  }

  // ---- S3 delivers events to the inbound queue, for the watched bucket only
  add({
    who: 'S3 (events)',
    call: 'S3 event to the inbound queue',
    principal: { service: 's3.amazonaws.com' },
    action: 'sqs:SendMessage',
    resource: inbound,
    context: { 'aws:SourceArn': `arn:aws:s3:::${UPLOADS}`, 'aws:SourceAccount': ACCOUNT },
    expect: 'Allowed',
  });
  add({
    who: 'S3 (events)',
    call: "another bucket's events",
    principal: { service: 's3.amazonaws.com' },
    action: 'sqs:SendMessage',
    resource: inbound,
    context: { 'aws:SourceArn': 'arn:aws:s3:::someone-elses-bucket', 'aws:SourceAccount': '999988887777' },
    expect: 'Denied',
  });

  // ---- the operators' commands, as recorded, with the stack's OperatorPolicy
  for (const call of recorded('operator')) {
    const resource = concrete(call.resource);
    add({
      who: 'operator',
      call: call.operation,
      principal: operator(d),
      action: call.action,
      resource,
      context: concreteContext(call.context),
      expect: 'Allowed',
    });
  }
  const dlq = `arn:aws:sqs:${REGION}:${ACCOUNT}:${names['{deadLetters}']}`;
  add({
    who: 'operator',
    call: 'SQS:StartMessageMoveTask',
    principal: operator(d),
    action: 'sqs:StartMessageMoveTask',
    resource: dlq,
    expect: 'Allowed',
    note: `${note}: moto has no message move tasks (the command falls back to receive, send, delete)`,
  });

  // ---- the detection commands (signatures, allow, quarantine list, release), as recorded,
  // run by a role named in Releasers with the stack's DetectionPolicy
  const releaser = detectionRole(d);
  for (const call of recorded('detection')) {
    // sts:GetCallerIdentity needs no permission and cannot be denied (IAM's documentation).
    if (call.action === 'sts:GetCallerIdentity') continue;
    const resource = concrete(call.resource);
    add({
      who: 'releaser',
      call: call.operation,
      principal: releaser,
      action: call.action,
      resource,
      context: concreteContext(call.context),
      expect: 'Allowed',
    });
  }
  add({
    who: 'releaser',
    call: 'S3:GetObject of a file the set lacks (404, not 403)',
    principal: releaser,
    action: 's3:ListBucket',
    resource: `arn:aws:s3:::${mirror}`,
    expect: 'Allowed',
    note: `${note}: moto answers 404 whatever the permissions; S3 does only with s3:ListBucket`,
  });
  add({
    who: 'releaser',
    call: 'S3:PutObject beside the set',
    principal: releaser,
    action: 's3:PutObject',
    resource: `arn:aws:s3:::${mirror}/daily.cvd`,
    expect: 'Denied',
  });
  add({
    who: 'releaser',
    call: 'S3:PutObject over a report',
    principal: releaser,
    action: 's3:PutObject',
    resource: `${quarantined}.report.json`,
    expect: 'Denied',
  });
  if (kms) {
    for (const action of ['kms:Decrypt', 'kms:GenerateDataKey']) {
      add({
        who: 'releaser',
        call: 'S3:CopyObject of an SSE-KMS file back',
        principal: releaser,
        action,
        resource: BUCKET_KEY,
        context: { 'kms:ViaService': `s3.${REGION}.amazonaws.com` },
        expect: 'Allowed',
      });
    }
  }
  if (customerKey) {
    add({
      who: 'releaser',
      call: 'SQS:SendMessage (customer key)',
      principal: releaser,
      action: 'kms:GenerateDataKey',
      resource: d.attribute(taskId('AWS::KMS::Key', 'BucketScanMessageKey'), 'Arn'),
      context: { 'kms:ViaService': `sqs.${REGION}.amazonaws.com` },
      expect: 'Allowed',
    });
  }

  // ---- the execution roles: image pulls and log writes
  const repository = (uri: string) => {
    const [host, path] = uri.split('.amazonaws.com/') as [string, string];
    const [account, , , region] = host.split('.');
    return `arn:aws:ecr:${region}:${account}:repository/${path.split('@')[0]!.split(':')[0]}`;
  };
  const logGroup = d.ref(taskId('AWS::Logs::LogGroup', 'BucketScanScannerLogs'));
  const stream = (name: string) => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${logGroup}:log-stream:${name}/container/0123456789abcdef`;
  for (const [who, roleId, images, streams] of [
    ['scanner execution role', 'BucketScanScannerTaskExecutionRole', [WORKER_IMAGE, CLAMD_IMAGE], ['worker', 'clamd']],
    [
      'updater execution role',
      'BucketScanMirrorUpdaterTaskExecutionRole',
      [CLAMD_IMAGE],
      ['updater-restore', 'updater-freshclam', 'updater-publish'],
    ],
  ] as const) {
    const principal = { role: role(roleId) };
    add({ who, call: 'ECR:GetAuthorizationToken', principal, action: 'ecr:GetAuthorizationToken', resource: '*', expect: 'Allowed' });
    for (const image of images) {
      for (const action of ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage']) {
        add({
          who,
          call: `pull ${repository(image).split('repository/')[1]}`,
          principal,
          action,
          resource: repository(image),
          expect: 'Allowed',
        });
      }
    }
    add({
      who,
      call: 'pull from another repository',
      principal,
      action: 'ecr:BatchGetImage',
      resource: `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/someone-else`,
      expect: 'Denied',
    });
    for (const name of streams) {
      add({ who, call: 'awslogs: CreateLogStream', principal, action: 'logs:CreateLogStream', resource: stream(name), expect: 'Allowed' });
      add({ who, call: 'awslogs: PutLogEvents', principal, action: 'logs:PutLogEvents', resource: stream(name), expect: 'Allowed' });
    }
  }

  // ---- the updater (aws s3 sync) and every task's freshclam (anonymous, through the gateway endpoint)
  const updater = { role: role('BucketScanMirrorUpdaterTaskTaskRole') };
  add({
    who: 'updater',
    call: 'S3:ListObjectsV2 (aws s3 sync)',
    principal: updater,
    action: 's3:ListBucket',
    resource: `arn:aws:s3:::${mirror}`,
    expect: 'Allowed',
  });
  add({
    who: 'updater',
    call: 'S3:GetObject (restore)',
    principal: updater,
    action: 's3:GetObject',
    resource: `arn:aws:s3:::${mirror}/daily.cvd`,
    expect: 'Allowed',
  });
  add({
    who: 'updater',
    call: 'S3:PutObject (publish)',
    principal: updater,
    action: 's3:PutObject',
    resource: `arn:aws:s3:::${mirror}/daily.cvd`,
    expect: 'Allowed',
  });
  add({
    who: 'updater',
    call: 'S3:GetObject on the uploads',
    principal: updater,
    action: 's3:GetObject',
    resource: `arn:aws:s3:::${UPLOADS}/${prefix}${SAMPLE_KEY}`,
    expect: 'Denied',
  });
  add({
    who: 'freshclam (scanning task)',
    call: 'GET /daily.cvd',
    principal: { anonymous: true },
    action: 's3:GetObject',
    resource: `arn:aws:s3:::${mirror}/daily.cvd`,
    context: { 'aws:SourceVpc': VPC },
    expect: 'Allowed',
  });
  add({
    who: 'freshclam (scanning task)',
    call: 'GET /daily.cld (404, not 403)',
    principal: { anonymous: true },
    action: 's3:ListBucket',
    resource: `arn:aws:s3:::${mirror}`,
    context: { 'aws:SourceVpc': VPC },
    expect: 'Allowed',
  });

  // ---- the small functions
  const starter = { role: role('BucketScanMirrorInitialDefinitionsStarterRole') };
  const updaterTask = d.ref(taskId('AWS::ECS::TaskDefinition', 'BucketScanMirrorUpdaterTask'));
  const clusterArn = d.attribute(taskId('AWS::ECS::Cluster', 'BucketScanScannerCluster'), 'Arn');
  add({
    who: 'initial run',
    call: 'ECS:RunTask',
    principal: starter,
    action: 'ecs:RunTask',
    resource: updaterTask,
    context: { 'ecs:cluster': clusterArn },
    expect: 'Allowed',
  });
  add({
    who: 'initial run',
    call: 'ECS:DescribeTasks',
    principal: starter,
    action: 'ecs:DescribeTasks',
    resource: `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${cluster}/0123456789abcdef0123456789abcdef`,
    context: { 'ecs:cluster': clusterArn },
    expect: 'Allowed',
  });
  for (const passed of ['BucketScanMirrorUpdaterTaskTaskRole', 'BucketScanMirrorUpdaterTaskExecutionRole']) {
    add({
      who: 'initial run',
      call: 'iam:PassRole (RunTask)',
      principal: starter,
      action: 'iam:PassRole',
      resource: role(passed),
      expect: 'Allowed',
    });
  }
  add({
    who: 'initial run',
    call: 'ECS:RunTask of another task definition',
    principal: starter,
    action: 'ecs:RunTask',
    resource: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/other:1`,
    context: { 'ecs:cluster': clusterArn },
    expect: 'Denied',
  });
  const preflight = { role: role('BucketScanPreflightRole') };
  add({
    who: 'preflight',
    call: 'EC2:DescribeRouteTables',
    principal: preflight,
    action: 'ec2:DescribeRouteTables',
    resource: '*',
    expect: 'Allowed',
  });
  add({
    who: 'preflight',
    call: 'EC2:DescribeVpcEndpoints',
    principal: preflight,
    action: 'ec2:DescribeVpcEndpoints',
    resource: '*',
    expect: 'Allowed',
  });
  add({
    who: 'preflight',
    call: 'S3:GetBucketVersioning',
    principal: preflight,
    action: 's3:GetBucketVersioning',
    resource: `arn:aws:s3:::${UPLOADS}`,
    expect: 'Allowed',
  });
  if (wakeUp) {
    const wake = { role: role('BucketScanScalingWakeUpRole') };
    const service = d.ref(taskId('AWS::ECS::Service', 'BucketScanScannerService'));
    add({
      who: 'wake-up function',
      call: 'ECS:DescribeServices',
      principal: wake,
      action: 'ecs:DescribeServices',
      resource: service,
      expect: 'Allowed',
    });
    add({
      who: 'wake-up function',
      call: 'ECS:UpdateService',
      principal: wake,
      action: 'ecs:UpdateService',
      resource: service,
      expect: 'Allowed',
    });
  }

  // ---- the rescan queue (RESCAN_QUEUE): the operators fill it, the worker reads it
  const rescanQueue = queueArn('BucketScanQueuesRescan');
  for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes']) {
    add({
      who: 'worker',
      call: `SQS:${action.split(':')[1]} (rescan queue)`,
      principal: worker,
      action,
      resource: rescanQueue,
      expect: 'Allowed',
      note: `${note}: the backfill lane (RESCAN_QUEUE, test/integration/backfill-lane.test.ts on fauxqs, which the recorder does not sit in front of) reads the rescan queue as the worker reads the inbound queue`,
    });
  }
  for (const action of ['sqs:SendMessage', 'sqs:GetQueueAttributes']) {
    add({
      who: 'operator',
      call: `SQS:${action === 'sqs:SendMessage' ? 'SendMessageBatch' : 'GetQueueAttributes'} (rescan queue)`,
      principal: operator(d),
      action,
      resource: rescanQueue,
      expect: 'Allowed',
      note: 'bucketscan rescan with RESCAN_QUEUE set (the moto tests use --queue on their own queue)',
    });
  }
  add({
    who: 'worker',
    call: 'SQS:SendMessage to the rescan queue',
    principal: worker,
    action: 'sqs:SendMessage',
    resource: rescanQueue,
    expect: 'Denied',
    note: 'the worker only reads it',
  });

  // ---- several sources: the buckets announced through EventBridge (EventBridgeBucketNames)
  for (const bucket of eventBridgeBuckets) {
    const object = `arn:aws:s3:::${bucket}/${SAMPLE_KEY}`;
    const inVpc = { 'aws:SourceVpc': VPC };
    for (const action of ['s3:GetObjectVersion', 's3:GetObjectTagging', 's3:DeleteObjectVersion']) {
      add({
        who: 'worker',
        call: `${action} (EventBridge source)`,
        principal: worker,
        action,
        resource: object,
        context: inVpc,
        expect: 'Allowed',
      });
    }
    add({
      who: 'worker',
      call: 'S3:PutObjectTagging with the status tag (EventBridge source)',
      principal: worker,
      action: 's3:PutObjectTagging',
      resource: object,
      context: { ...inVpc, 's3:RequestObjectTagKeys': ['bucketscan-status'] },
      expect: 'Allowed',
    });
    add({
      who: 'worker',
      call: 'S3:ListBucket (EventBridge source)',
      principal: worker,
      action: 's3:ListBucket',
      resource: `arn:aws:s3:::${bucket}`,
      context: inVpc,
      expect: 'Allowed',
    });
    add({
      who: 'worker',
      call: "S3:CopyObject into the source's quarantine area",
      principal: worker,
      action: 's3:PutObject',
      resource: `arn:aws:s3:::${quarantine}/${quarantinePrefix}${bucket}/${SAMPLE_KEY}`,
      context: inVpc,
      expect: 'Allowed',
    });
    add({
      who: 'operator',
      call: 'S3:ListObjectVersions (rescan of an EventBridge source)',
      principal: operator(d),
      action: 's3:ListBucketVersions',
      resource: `arn:aws:s3:::${bucket}`,
      expect: 'Allowed',
    });
    const turnOn = { role: role('EventBridgeSourcesRole') };
    for (const action of ['s3:GetBucketNotification', 's3:PutBucketNotification']) {
      add({
        who: 'EventBridge sources function',
        call: `${action === 's3:GetBucketNotification' ? 'GetBucketNotificationConfiguration' : 'PutBucketNotificationConfiguration'}`,
        principal: turnOn,
        action,
        resource: `arn:aws:s3:::${bucket}`,
        expect: 'Allowed',
      });
    }
  }
  if (eventBridgeBuckets.length > 0) {
    const rule = d.attribute(taskId('AWS::Events::Rule', 'EventBridgeSourcesRule'), 'Arn');
    add({
      who: 'EventBridge',
      call: 'the EventBridge sources rule delivers to the inbound queue',
      principal: { service: 'events.amazonaws.com' },
      action: 'sqs:SendMessage',
      resource: inbound,
      context: { 'aws:SourceArn': rule },
      expect: 'Allowed',
    });
    add({
      who: 'EventBridge',
      call: "another rule's events",
      principal: { service: 'events.amazonaws.com' },
      action: 'sqs:SendMessage',
      resource: inbound,
      context: { 'aws:SourceArn': `arn:aws:events:${REGION}:${ACCOUNT}:rule/someone-elses-rule` },
      expect: 'Denied',
    });
    if (customerKey) {
      add({
        who: 'EventBridge',
        call: 'an event to the inbound queue (customer key)',
        principal: { service: 'events.amazonaws.com' },
        action: 'kms:GenerateDataKey',
        resource: d.attribute(taskId('AWS::KMS::Key', 'BucketScanMessageKey'), 'Arn'),
        context: { 'aws:SourceAccount': ACCOUNT },
        expect: 'Allowed',
      });
    }
    add({
      who: 'worker',
      call: 'GetObjectVersion in a bucket no source names',
      principal: worker,
      action: 's3:GetObjectVersion',
      resource: `arn:aws:s3:::someone-elses-bucket/${SAMPLE_KEY}`,
      context: { 'aws:SourceVpc': VPC },
      expect: 'Denied',
    });
    add({
      who: 'worker',
      call: 'PutObjectTagging without the status tag (EventBridge source)',
      principal: worker,
      action: 's3:PutObjectTagging',
      resource: `arn:aws:s3:::${eventBridgeBuckets[0]}/${SAMPLE_KEY}`,
      context: { 'aws:SourceVpc': VPC, 's3:RequestObjectTagKeys': ['team'] },
      expect: 'Denied',
    });
    add({
      who: 'EventBridge sources function',
      call: 'PutBucketNotificationConfiguration on a bucket it was not given',
      principal: { role: role('EventBridgeSourcesRole') },
      action: 's3:PutBucketNotification',
      resource: 'arn:aws:s3:::someone-elses-bucket',
      expect: 'Denied',
    });
  }

  // ---- result events (ResultEventBus): PutEvents on that bus and no other
  if (resultBus) {
    add({
      who: 'worker',
      call: 'EventBridge:PutEvents (a result event)',
      principal: worker,
      action: 'events:PutEvents',
      resource: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${RESULT_BUS}`,
      expect: 'Allowed',
      note: `${note} until the worker's side of issue 14 is in: one event per verdict`,
    });
    add({
      who: 'worker',
      call: 'EventBridge:PutEvents on another bus',
      principal: worker,
      action: 'events:PutEvents',
      resource: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`,
      expect: 'Denied',
    });
  } else {
    add({
      who: 'worker',
      call: 'EventBridge:PutEvents without a result bus',
      principal: worker,
      action: 'events:PutEvents',
      resource: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`,
      expect: 'Denied',
    });
  }

  // ---- the deny list
  const admin = (name: string): Principal => ({ custom: `arn:aws:iam::${ACCOUNT}:role/${name}`, policy: EVERYTHING });
  const upload = `arn:aws:s3:::${UPLOADS}/${prefix}${SAMPLE_KEY}`;
  const tag = (value: string | undefined): Check['context'] => (value ? { 's3:ExistingObjectTag/bucketscan-status': value } : {});
  if (failClosed) {
    for (const status of [undefined, 'INFECTED', 'UNSCANNABLE', 'TOO_LARGE']) {
      for (const action of ['s3:GetObject', 's3:GetObjectVersion']) {
        add({
          who: 'a downstream reader',
          call: `read an object tagged ${status ?? '(untagged)'}`,
          principal: admin('downstream-app'),
          action,
          resource: upload,
          context: tag(status),
          expect: 'Denied',
        });
      }
    }
    add({
      who: 'a downstream reader',
      call: 'read an object tagged CLEAN',
      principal: admin('downstream-app'),
      action: 's3:GetObject',
      resource: upload,
      context: tag('CLEAN'),
      expect: 'Allowed',
    });
    add({
      who: 'a named reader (FailClosedReaders)',
      call: 'read an untagged object',
      principal: { custom: READER, policy: EVERYTHING },
      action: 's3:GetObject',
      resource: upload,
      expect: 'Allowed',
    });
    const statusKeys = { 's3:RequestObjectTagKeys': ['bucketscan-status'] };
    add({
      who: 'an uploader',
      call: 'PutObject setting the status tag',
      principal: admin('uploader'),
      action: 's3:PutObject',
      resource: upload,
      context: statusKeys,
      expect: 'Denied',
    });
    add({
      who: 'an uploader',
      call: 'PutObjectTagging setting the status tag',
      principal: admin('uploader'),
      action: 's3:PutObjectTagging',
      resource: upload,
      context: statusKeys,
      expect: 'Denied',
    });
    add({
      who: 'an uploader',
      call: 'PutObjectVersionTagging setting the status tag',
      principal: admin('uploader'),
      action: 's3:PutObjectVersionTagging',
      resource: upload,
      context: statusKeys,
      expect: 'Denied',
    });
    add({
      who: 'an uploader',
      call: 'PutObjectTagging changing the tags of a scanned object',
      principal: admin('uploader'),
      action: 's3:PutObjectTagging',
      resource: upload,
      context: { ...tag('INFECTED'), 's3:RequestObjectTagKeys': ['team'] },
      expect: 'Denied',
    });
    add({
      who: 'an uploader',
      call: "CopyObject into the bucket (it would carry the source's tags)",
      principal: admin('uploader'),
      action: 's3:PutObject',
      resource: upload,
      context: { 's3:x-amz-copy-source': `elsewhere/${SAMPLE_KEY}` },
      expect: 'Denied',
    });
    add({
      who: 'a releaser (Releasers)',
      call: 'read an untagged object (releasers get no read exemption)',
      principal: { custom: RELEASER, policy: EVERYTHING },
      action: 's3:GetObject',
      resource: upload,
      expect: 'Denied',
    });
    add({
      who: 'a releaser (Releasers)',
      call: 'PutObjectTagging changing the tags of a scanned object',
      principal: { custom: RELEASER, policy: EVERYTHING },
      action: 's3:PutObjectTagging',
      resource: upload,
      context: { ...tag('INFECTED'), 's3:RequestObjectTagKeys': ['bucketscan-status'] },
      expect: 'Denied',
    });
    add({
      who: 'an uploader',
      call: 'PutObject without the status tag',
      principal: admin('uploader'),
      action: 's3:PutObject',
      resource: upload,
      expect: 'Allowed',
    });
    add({
      who: 'the worker',
      call: 'GetObject without TLS',
      principal: worker,
      action: 's3:GetObject',
      resource: upload,
      context: { 'aws:SecureTransport': 'false', 'aws:SourceVpc': VPC },
      expect: 'Denied',
    });
  }
  for (const who of ['administrator', 'downstream-app']) {
    add({
      who: `the ${who} role`,
      call: 'read a quarantined file',
      principal: admin(who),
      action: 's3:GetObject',
      resource: quarantined,
      expect: 'Denied',
    });
    add({
      who: `the ${who} role`,
      call: 'read a quarantined version',
      principal: admin(who),
      action: 's3:GetObjectVersion',
      resource: quarantined,
      expect: 'Denied',
    });
  }
  add({
    who: 'the security team (QuarantineReaders)',
    call: 'read a quarantined file',
    principal: { custom: SECURITY_TEAM, policy: EVERYTHING },
    action: 's3:GetObject',
    resource: quarantined,
    expect: 'Allowed',
  });
  add({
    who: 'anonymous, outside the VPC',
    call: 'GET /daily.cvd',
    principal: { anonymous: true },
    action: 's3:GetObject',
    resource: `arn:aws:s3:::${mirror}/daily.cvd`,
    expect: 'Denied',
  });
  add({
    who: 'anonymous, another VPC',
    call: 'GET /daily.cvd',
    principal: { anonymous: true },
    action: 's3:GetObject',
    resource: `arn:aws:s3:::${mirror}/daily.cvd`,
    context: { 'aws:SourceVpc': 'vpc-0ffffffffffffffff' },
    expect: 'Denied',
  });
  const insecure = { 'aws:SecureTransport': 'false' };
  add({
    who: 'the worker',
    call: 'quarantine write without TLS',
    principal: worker,
    action: 's3:PutObject',
    resource: quarantined,
    context: { ...insecure, 'aws:SourceVpc': VPC },
    expect: 'Denied',
  });
  add({
    who: 'the worker',
    call: 'ReceiveMessage without TLS',
    principal: worker,
    action: 'sqs:ReceiveMessage',
    resource: inbound,
    context: insecure,
    expect: 'Denied',
  });
  add({
    who: 'the worker',
    call: 'Publish without TLS',
    principal: worker,
    action: 'sns:Publish',
    resource: `arn:aws:sns:${REGION}:${ACCOUNT}:${names['{topic}']}`,
    context: insecure,
    expect: 'Denied',
  });
  add({
    who: 'the updater',
    call: 'mirror write without TLS',
    principal: updater,
    action: 's3:PutObject',
    resource: `arn:aws:s3:::${mirror}/daily.cvd`,
    context: insecure,
    expect: 'Denied',
  });
  return checks;
}

/** A role named in Releasers with the stack's DetectionPolicy attached, nothing else. */
function detectionRole(d: Deployment): Principal {
  const id = d.id('AWS::IAM::ManagedPolicy', 'BucketScanDetectionPolicy');
  return { role: `operator:${id}`, arn: RELEASER };
}

/** The operators' role: the stack's OperatorPolicy attached, nothing else. */
function operator(d: Deployment): Principal {
  const id = d.id('AWS::IAM::ManagedPolicy', 'BucketScanOperatorPolicy');
  return { role: `operator:${id}` };
}
