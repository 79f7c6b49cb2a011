// The stack's small functions (deploy/lambda/*.ts), their handlers called directly
// against moto_server: EC2 route tables and endpoints for the preflight check, S3
// for bucket versioning, bucket notifications (the EventBridge sources) and for
// CloudFormation's response URL, ECS for the initial updater run and the wake-up
// function.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateInternetGatewayCommand,
  CreateNatGatewayCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  CreateVpcEndpointCommand,
  AllocateAddressCommand,
  AssociateRouteTableCommand,
  AttachInternetGatewayCommand,
  DescribeImagesCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  ECSClient,
  ListTasksCommand,
  RegisterContainerInstanceCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import {
  CreateBucketCommand,
  GetBucketNotificationConfigurationCommand,
  GetObjectCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startMoto, type Moto } from '../../test/support/moto.ts';
import { waitFor } from '../../test/support/wait.ts';
import type { CustomResourceEvent } from '../lambda/cfn-response.ts';
import * as initial from '../lambda/initial-definitions.ts';
import * as eventBridge from '../lambda/eventbridge-sources.ts';
import type { EventBridgeSourcesProperties } from '../lambda/eventbridge-sources.ts';
import * as preflight from '../lambda/preflight.ts';
import { wakeUp } from '../lambda/wake-up.ts';

const REGION = 'us-east-1';
const RESPONSES = 'cfn-responses';
let moto: Moto;
let ec2: EC2Client;
let s3: S3Client;
let ecs: ECSClient;
let vpcId: string;

const context = { logStreamName: 'test', getRemainingTimeInMillis: () => 180_000 };
let requests = 0;

/** A custom-resource event whose ResponseURL is an object in moto's S3, where the handler's answer lands. */
function event<P>(properties: P, type: 'Create' | 'Update' | 'Delete' = 'Create'): { event: CustomResourceEvent<P>; key: string } {
  const key = `response-${++requests}`;
  return {
    key,
    event: {
      RequestType: type,
      ResponseURL: `${moto.endpoint}/${RESPONSES}/${key}`,
      StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/BucketScan/1',
      RequestId: `request-${requests}`,
      LogicalResourceId: 'Check',
      ResourceProperties: properties,
    },
  };
}

async function answer(key: string): Promise<{ Status: string; Reason: string; PhysicalResourceId: string; Data: Record<string, string> }> {
  const object = await s3.send(new GetObjectCommand({ Bucket: RESPONSES, Key: key }));
  return JSON.parse(await object.Body!.transformToString());
}

async function subnet(cidr: string): Promise<string> {
  return (await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr, AvailabilityZone: `${REGION}a` }))).Subnet!.SubnetId!;
}

async function routeTable(subnetId: string): Promise<string> {
  const id = (await ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }))).RouteTable!.RouteTableId!;
  await ec2.send(new AssociateRouteTableCommand({ RouteTableId: id, SubnetId: subnetId }));
  return id;
}

before(async () => {
  moto = await startMoto();
  const connection = { region: REGION, endpoint: moto.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  ec2 = new EC2Client(connection);
  s3 = new S3Client({ ...connection, forcePathStyle: true });
  ecs = new ECSClient(connection);
  await s3.send(new CreateBucketCommand({ Bucket: RESPONSES }));
  vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
});

after(async () => {
  ec2?.destroy();
  s3?.destroy();
  ecs?.destroy();
  await moto?.stop();
});

describe('preflight (deploy/lambda/preflight.ts)', () => {
  let natSubnet: string;
  let natTable: string;
  let isolatedSubnet: string;
  let publicSubnet: string;

  before(async () => {
    const igw = (await ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
    await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpcId }));
    publicSubnet = await subnet('10.0.1.0/24');
    const publicTable = await routeTable(publicSubnet);
    await ec2.send(new CreateRouteCommand({ RouteTableId: publicTable, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }));
    const eip = (await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }))).AllocationId!;
    const nat = (await ec2.send(new CreateNatGatewayCommand({ SubnetId: publicSubnet, AllocationId: eip }))).NatGateway!.NatGatewayId!;
    natSubnet = await subnet('10.0.2.0/24');
    natTable = await routeTable(natSubnet);
    await ec2.send(new CreateRouteCommand({ RouteTableId: natTable, DestinationCidrBlock: '0.0.0.0/0', NatGatewayId: nat }));
    isolatedSubnet = await subnet('10.0.3.0/24');
    await routeTable(isolatedSubnet);
  });

  const check = (subnets: string[], assignPublicIp = 'DISABLED', extra: Partial<preflight.PreflightProperties> = {}) =>
    preflight.problemsFor({ VpcId: vpcId, Subnets: subnets, AssignPublicIp: assignPublicIp, ...extra }, { ec2, s3 });

  test('a private subnet with a NAT gateway but no S3 gateway endpoint: the mirror would be unreachable', async () => {
    const problems = await check([natSubnet]);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, new RegExp(`subnet ${natSubnet} \\(${natTable}\\) has no S3 gateway endpoint`));
  });

  test('with the S3 gateway endpoint on its route table (what RouteTableIds creates), the NAT path passes', async () => {
    await ec2.send(
      new CreateVpcEndpointCommand({
        VpcId: vpcId,
        ServiceName: `com.amazonaws.${REGION}.s3`,
        VpcEndpointType: 'Gateway',
        RouteTableIds: [natTable],
      }),
    );
    assert.deepEqual(await check([natSubnet]), []);
  });

  test('no route to the internet: the updater could not reach the ClamAV CDN', async () => {
    const problems = await check([isolatedSubnet]);
    assert.ok(
      problems.some((p) => p.includes(`subnet ${isolatedSubnet}`) && /no route to the internet .* NAT gateway/.test(p)),
      problems.join('\n'),
    );
  });

  test('a public subnet needs AssignPublicIp=ENABLED', async () => {
    const disabled = await check([publicSubnet], 'DISABLED');
    assert.ok(
      disabled.some((p) => /internet gateway igw-\w+ but AssignPublicIp is DISABLED/.test(p)),
      disabled.join('\n'),
    );
    const enabled = await check([publicSubnet], 'ENABLED');
    assert.ok(!enabled.some((p) => p.includes('AssignPublicIp')), enabled.join('\n'));
  });

  test('fail-closed reads on an unversioned bucket are refused; a versioned bucket passes', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'uploads-unversioned' }));
    const refused = await check([natSubnet], 'DISABLED', { RequireVersioning: 'true', Bucket: 'uploads-unversioned' });
    assert.equal(refused.length, 1);
    assert.match(refused[0]!, /the bucket uploads-unversioned is not versioned .* FailClosedReads is on/);
    assert.deepEqual(await check([natSubnet], 'DISABLED', { RequireVersioning: 'false', Bucket: 'uploads-unversioned' }), []);
    await s3.send(new CreateBucketCommand({ Bucket: 'uploads-versioned' }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: 'uploads-versioned', VersioningConfiguration: { Status: 'Enabled' } }));
    assert.deepEqual(await check([natSubnet], 'DISABLED', { RequireVersioning: 'true', Bucket: 'uploads-versioned' }), []);
    // Several sources: every bucket fail-closed reads cover is checked, each named.
    const several = await check([natSubnet], 'DISABLED', {
      RequireVersioning: 'true',
      Buckets: ['uploads-versioned', 'uploads-unversioned'],
    });
    assert.equal(several.length, 1);
    assert.match(several[0]!, /the bucket uploads-unversioned is not versioned/);
  });

  test('the handler fails the stack once, with every problem in one reason; a good network succeeds', async () => {
    const bad = event({ VpcId: vpcId, Subnets: [isolatedSubnet, publicSubnet], AssignPublicIp: 'DISABLED' });
    await preflight.handle(bad.event, context, { ec2, s3 });
    const failed = await answer(bad.key);
    assert.equal(failed.Status, 'FAILED');
    assert.match(failed.Reason, /^bucketscan preflight: /);
    assert.match(failed.Reason, new RegExp(isolatedSubnet));
    assert.match(failed.Reason, new RegExp(publicSubnet));
    const good = event({ VpcId: vpcId, Subnets: [natSubnet], AssignPublicIp: 'DISABLED' });
    await preflight.handle(good.event, context, { ec2, s3 });
    assert.equal((await answer(good.key)).Status, 'SUCCESS');
    const deleted = event({ VpcId: 'vpc-gone', Subnets: [], AssignPublicIp: 'DISABLED' }, 'Delete');
    await preflight.handle(deleted.event, context, { ec2, s3 });
    assert.equal((await answer(deleted.key)).Status, 'SUCCESS', 'a delete never fails on a check');
  });
});

describe('the initial definitions run (deploy/lambda/initial-definitions.ts)', () => {
  const cluster = 'bucketscan';
  let subnetId: string;
  before(async () => {
    subnetId = await subnet('10.0.9.0/24');
    await ecs.send(new CreateClusterCommand({ clusterName: cluster }));
    // moto's FARGATE RunTask with an awsvpc network configuration crashes (moto 5.2.1:
    // "'NetworkInterface' object has no attribute 'private_dns_name'"), so moto runs the
    // updater on an EC2 container instance of its own, in bridge mode (see `deps`).
    const [image] = (await ec2.send(new DescribeImagesCommand({}))).Images ?? [];
    const instance = (await ec2.send(new RunInstancesCommand({ ImageId: image!.ImageId!, MinCount: 1, MaxCount: 1 }))).Instances![0]!;
    await ecs.send(
      new RegisterContainerInstanceCommand({
        cluster,
        instanceIdentityDocument: JSON.stringify({ instanceId: instance.InstanceId, region: REGION, availabilityZone: `${REGION}a` }),
      }),
    );
    await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'updater',
        networkMode: 'bridge',
        // moto sizes a task from its containers' own cpu and memory.
        containerDefinitions: [
          { name: 'publish', image: 'public.ecr.aws/aws-cli/aws-cli:2.27.50', essential: true, cpu: 1024, memory: 3072 },
        ],
      }),
    );
  });

  const properties = (taskDefinition = 'updater'): initial.InitialDefinitionsProperties => ({
    Cluster: cluster,
    TaskDefinition: taskDefinition,
    Subnets: [subnetId],
    SecurityGroups: [],
    AssignPublicIp: 'DISABLED',
    LogGroup: 'bucketscan-logs',
  });
  /**
   * What the handler asks of RunTask (FARGATE, awsvpc) is recorded here, and moto
   * gets it without the launch type and network configuration (see `before`);
   * everything else is moto's own ECS.
   */
  const sent: Array<Record<string, unknown>> = [];
  const deps = () => ({
    ecs: {
      send: (command: { input: Record<string, unknown> }) => {
        if (command instanceof RunTaskCommand) {
          sent.push(command.input);
          const { networkConfiguration: _network, launchType: _launch, ...input } = command.input;
          return ecs.send(new RunTaskCommand(input as RunTaskCommand['input']));
        }
        return ecs.send(command as never);
      },
    } as unknown as ECSClient,
    sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
    now: () => Date.now(),
    pollMs: 50,
  });

  test('runs the updater and answers only once the task has stopped with every step done', async () => {
    const run = event(properties());
    let answered = false;
    const handling = initial.handle(run.event, context, deps()).then(() => {
      answered = true;
    });
    const taskArn = await waitFor('the updater task', async () => (await ecs.send(new ListTasksCommand({ cluster }))).taskArns?.[0]);
    assert.equal(answered, false, 'still waiting while the updater runs');
    await ecs.send(new StopTaskCommand({ cluster, task: taskArn, reason: 'Essential container in task exited' }));
    await handling;
    const response = await answer(run.key);
    assert.equal(response.Status, 'SUCCESS', response.Reason);
    assert.equal(response.Data['TaskArn'], taskArn);
    assert.deepEqual(sent[0]!['networkConfiguration'], {
      awsvpcConfiguration: { subnets: [subnetId], securityGroups: [], assignPublicIp: 'DISABLED' },
    });
    assert.equal(sent[0]!['launchType'], 'FARGATE');
  });

  test('a task definition ECS refuses fails the stack with the reason', async () => {
    const run = event(properties('no-such-family'));
    await initial.handle(run.event, context, deps());
    const response = await answer(run.key);
    assert.equal(response.Status, 'FAILED');
    assert.match(response.Reason, /definitions updater/);
  });

  test('an updater that does not stop before the deadline fails the stack rather than leave it waiting', async () => {
    const run = event(properties());
    await initial.handle(run.event, { ...context, getRemainingTimeInMillis: () => 60_000 }, deps());
    const response = await answer(run.key);
    assert.equal(response.Status, 'FAILED');
    assert.match(response.Reason, /did not finish in time/);
  });

  test('Update and Delete start nothing', async () => {
    const before = (await ecs.send(new ListTasksCommand({ cluster }))).taskArns?.length ?? 0;
    for (const type of ['Update', 'Delete'] as const) {
      const run = event(properties(), type);
      await initial.handle(run.event, context, deps());
      assert.equal((await answer(run.key)).Status, 'SUCCESS');
    }
    assert.equal((await ecs.send(new ListTasksCommand({ cluster }))).taskArns?.length ?? 0, before);
  });

  // Exit codes other than 0 are what moto cannot produce: the decision on a stopped task is pure.
  test('a failed step is named, with the internet hint for freshclam; a task that never started says why', () => {
    const failed = initial.updaterFailure(
      {
        lastStatus: 'STOPPED',
        containers: [
          { name: 'restore', exitCode: 0 },
          { name: 'freshclam', exitCode: 1 },
          { name: 'publish', reason: 'dependency failed' },
        ],
      },
      'bucketscan-logs',
    );
    assert.match(
      failed ?? '',
      /while downloading the definitions from database\.clamav\.net \(container freshclam exited 1\): the updater needs the internet/,
    );
    assert.match(failed ?? '', /log group bucketscan-logs/);
    const unpulled = initial.updaterFailure({
      lastStatus: 'STOPPED',
      stopCode: 'TaskFailedToStart',
      stoppedReason: 'CannotPullContainerError: pull access denied',
      containers: [{ name: 'restore' }],
    });
    assert.match(unpulled ?? '', /stopped before its steps ran: TaskFailedToStart; CannotPullContainerError/);
    assert.equal(
      initial.updaterFailure({
        lastStatus: 'STOPPED',
        containers: ['restore', 'freshclam', 'publish'].map((name) => ({ name, exitCode: 0 })),
      }),
      undefined,
    );
  });
});

describe('the wake-up function (deploy/lambda/wake-up.ts)', () => {
  const cluster = 'wake';
  before(async () => {
    await ecs.send(new CreateClusterCommand({ clusterName: cluster }));
    await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'scanner',
        requiresCompatibilities: ['FARGATE'],
        networkMode: 'awsvpc',
        cpu: '1024',
        memory: '4096',
        containerDefinitions: [{ name: 'worker', image: 'worker:1', essential: true }],
      }),
    );
    await ecs.send(
      new CreateServiceCommand({ cluster, serviceName: 'scanner', taskDefinition: 'scanner', desiredCount: 0, launchType: 'FARGATE' }),
    );
  });
  const desired = async () => (await ecs.send(new DescribeServicesCommand({ cluster, services: ['scanner'] }))).services?.[0]?.desiredCount;

  test('raises a service at zero to one task, and never touches a running fleet', async () => {
    assert.equal(await desired(), 0);
    assert.equal(await wakeUp(ecs, { cluster, service: 'scanner' }), 'started');
    assert.equal(await desired(), 1);
    assert.equal(await wakeUp(ecs, { cluster, service: 'scanner' }), 'already-running');
    await ecs.send(new UpdateServiceCommand({ cluster, service: 'scanner', desiredCount: 3 }));
    assert.equal(await wakeUp(ecs, { cluster, service: 'scanner' }), 'already-running');
    assert.equal(await desired(), 3, 'never lowered');
  });

  test('a service that does not exist is reported, not created', async () => {
    assert.equal(await wakeUp(ecs, { cluster, service: 'missing' }), 'missing');
  });
});

describe('the EventBridge sources function (deploy/lambda/eventbridge-sources.ts)', () => {
  const properties: EventBridgeSourcesProperties = {
    Buckets: ['partner-drop', ' archive-intake '],
    KeyLayout: 'any',
    UnprocessedBucket: 'uploads',
    UnprocessedPrefix: 'incoming',
    QuarantineBucket: 'quarantine',
    QuarantinePrefix: 'bad',
    ValidationQueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/validation',
  };
  let queueArn: string;
  /** What the function asked S3 to store, seen on its way to moto (moto does not echo EventBridgeConfiguration back). */
  const puts: Array<Record<string, unknown>> = [];
  const recording = () => ({
    send: (command: { input: Record<string, unknown>; constructor: { name: string } }) => {
      if (command.constructor.name === 'PutBucketNotificationConfigurationCommand') puts.push(command.input);
      return s3.send(command as never);
    },
  });

  before(async () => {
    const sqs = new SQSClient({ region: REGION, endpoint: moto.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: 'someone-elses-queue' }))).QueueUrl!;
    queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes!['QueueArn']!;
    sqs.destroy();
    for (const bucket of ['partner-drop', 'archive-intake']) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    // Someone else's notification on one of the buckets: it must survive.
    await s3.send(
      new PutBucketNotificationConfigurationCommand({
        Bucket: 'partner-drop',
        NotificationConfiguration: { QueueConfigurations: [{ Id: 'theirs', QueueArn: queueArn, Events: ['s3:ObjectCreated:*'] }] },
      }),
    );
  });

  test('turns EventBridge delivery on for each bucket, keeping their other notifications, and answers the worker its sources', async () => {
    const { event: created, key } = event(properties);
    await eventBridge.handle(created, context, { s3: recording() });
    const reply = await answer(key);
    assert.equal(reply.Status, 'SUCCESS', reply.Reason);
    assert.deepEqual(
      puts.map((put) => [put['Bucket'], put['NotificationConfiguration']]),
      [
        [
          'partner-drop',
          { QueueConfigurations: [{ Id: 'theirs', QueueArn: queueArn, Events: ['s3:ObjectCreated:*'] }], EventBridgeConfiguration: {} },
        ],
        ['archive-intake', { EventBridgeConfiguration: {} }],
      ],
    );
    const kept = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: 'partner-drop' }));
    assert.deepEqual(
      kept.QueueConfigurations?.map((q) => q.Id),
      ['theirs'],
      "the bucket's own notification is still there",
    );
    assert.deepEqual(JSON.parse(reply.Data['Sources']!), {
      sources: [
        {
          bucket: 'uploads',
          prefix: 'incoming/',
          keyLayout: 'submission',
          quarantineBucket: 'quarantine',
          validationQueue: properties.ValidationQueueUrl,
          quarantinePrefix: 'bad/',
        },
        {
          bucket: 'partner-drop',
          keyLayout: 'any',
          quarantineBucket: 'quarantine',
          validationQueue: properties.ValidationQueueUrl,
          quarantinePrefix: 'bad/partner-drop/',
        },
        {
          bucket: 'archive-intake',
          keyLayout: 'any',
          quarantineBucket: 'quarantine',
          validationQueue: properties.ValidationQueueUrl,
          quarantinePrefix: 'bad/archive-intake/',
        },
      ],
    });
  });

  test('a bucket that already delivers to EventBridge is left alone', async () => {
    const on = { send: async () => ({ $metadata: {}, EventBridgeConfiguration: {} }) };
    assert.equal(await eventBridge.enableEventBridge(on, 'partner-drop'), 'already on');
  });

  test('a list it cannot use fails the stack with the reason; delete leaves the buckets as they are', async () => {
    const bad = event({ ...properties, Buckets: ['uploads', 'Not_A_Bucket', 'partner-drop', 'partner-drop'] });
    await eventBridge.handle(bad.event, context, { s3 });
    const reply = await answer(bad.key);
    assert.equal(reply.Status, 'FAILED');
    assert.match(reply.Reason, /uploads is UnprocessedBucketName already/);
    assert.match(reply.Reason, /"Not_A_Bucket" is not an S3 bucket name/);
    assert.match(reply.Reason, /partner-drop is listed twice/);
    puts.length = 0;
    const deleted = event(properties, 'Delete');
    await eventBridge.handle(deleted.event, context, { s3: recording() });
    assert.equal((await answer(deleted.key)).Status, 'SUCCESS');
    assert.deepEqual(puts, [], 'nothing written on delete');
  });
});
