/**
 * The stack behind deploy/bucketscan.template.json: the BucketScan construct with
 * CloudFormation parameters instead of CDK properties, for teams that deploy with
 * `aws cloudformation deploy`. Environment-agnostic (no account, no region, no
 * lookups), so it synthesizes offline.
 */
import {
  Aws,
  CfnCondition,
  CfnMapping,
  CfnOutput,
  CfnParameter,
  CfnResource,
  CustomResource,
  Duration,
  Fn,
  Stack,
  type StackProps,
  Token,
  Validations,
} from 'aws-cdk-lib';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { DEFAULTS } from '../../src/config/defaults.ts';
import { BucketScan, DEFAULT_AWS_CLI_IMAGE } from './bucketscan.ts';
import { ECR_IMAGE_CONSTRAINT, ECR_IMAGE_PATTERN, ECR_OR_PUBLIC_IMAGE_PATTERN } from './images.ts';
import { smallFunction } from './lambda-code.ts';
import { SCANNED_OBJECT_ACTIONS, statusTagStatement, WORKER_CONTAINER } from './service.ts';
import { DEFAULT_STATUS_TAG } from '../../src/config/defaults.ts';
import { TEMPLATE_CONCURRENCIES, TEMPLATE_MAX_FILE_SIZES, taskSize } from './sizing.ts';

export class BucketScanTemplateStack extends Stack {
  public readonly bucketScan: BucketScan;

  constructor(scope: Construct, id: string, props: StackProps = {}) {
    super(scope, id, {
      description: 'bucketscan: S3 virus scanning with ClamAV on ECS Fargate (synthesized from deploy/lib/bucketscan.ts)',
      ...props,
    });
    const parameter = (name: string, options: ConstructorParameters<typeof CfnParameter>[2]) => new CfnParameter(this, name, options);

    const vpcId = parameter('VpcId', { type: 'AWS::EC2::VPC::Id', description: 'VPC for the tasks.' });
    const subnetIds = parameter('SubnetIds', {
      type: 'List<AWS::EC2::Subnet::Id>',
      description:
        'Subnets for the tasks. They need the internet for the definitions updater: private subnets with a NAT gateway, or public ' +
        'subnets with AssignPublicIp=ENABLED. A preflight check fails the stack with the reason when they do not.',
    });
    const assignPublicIp = parameter('AssignPublicIp', {
      type: 'String',
      default: 'DISABLED',
      allowedValues: ['DISABLED', 'ENABLED'],
      description: 'ENABLED for public subnets without a NAT gateway.',
    });
    const routeTableIds = parameter('RouteTableIds', {
      type: 'CommaDelimitedList',
      default: '',
      description:
        'The route tables of SubnetIds: the stack creates the S3 gateway endpoint the tasks read the definitions mirror through. Leave empty if the VPC has one on them already (the preflight check makes sure).',
    });
    const workerImage = parameter('WorkerImage', {
      type: 'String',
      allowedPattern: ECR_IMAGE_PATTERN,
      constraintDescription: `WorkerImage ${ECR_IMAGE_CONSTRAINT}`,
      description: "Worker image URI (the repository's Dockerfile) in ECR: <account>.dkr.ecr.<region>.amazonaws.com/bucketscan:<tag>",
    });
    const clamdImage = parameter('ClamdImage', {
      type: 'String',
      allowedPattern: ECR_IMAGE_PATTERN,
      constraintDescription: `ClamdImage ${ECR_IMAGE_CONSTRAINT}`,
      description: 'clamd image URI (images/clamd/Dockerfile) in ECR: <account>.dkr.ecr.<region>.amazonaws.com/bucketscan-clamd:<tag>',
    });
    const awsCliImage = parameter('AwsCliImage', {
      type: 'String',
      default: DEFAULT_AWS_CLI_IMAGE,
      allowedPattern: ECR_OR_PUBLIC_IMAGE_PATTERN,
      constraintDescription: 'AwsCliImage must be a public ECR image (public.ecr.aws/...) or a private ECR image URI',
      description: 'AWS CLI v2 image for the definitions updater',
    });
    const unprocessedBucket = parameter('UnprocessedBucketName', {
      type: 'String',
      minLength: 3,
      description:
        'The existing bucket uploads land in. Its ObjectCreated notifications are set to the inbound queue (other notification configurations are kept).',
    });
    const unprocessedPrefix = parameter('UnprocessedPrefix', {
      type: 'String',
      default: '',
      description: 'Only keys under this prefix are scanned (UNPROCESSED_PREFIX)',
    });
    const quarantinePrefix = parameter('QuarantinePrefix', {
      type: 'String',
      default: '',
      description: 'Prefix in the quarantine bucket (QUARANTINE_PREFIX)',
    });
    const quarantineDays = parameter('QuarantineExpirationDays', {
      type: 'Number',
      default: 365,
      minValue: 1,
      description: 'Quarantined files and reports expire after this many days',
    });
    const maxFileSize = parameter('MaxFileSize', {
      type: 'Number',
      default: '100',
      allowedValues: TEMPLATE_MAX_FILE_SIZES.map(String),
      description: 'MAX_FILE_SIZE in MB: larger files are quarantined as TOO_LARGE. Task storage follows from it.',
    });
    const concurrency = parameter('Concurrency', {
      type: 'Number',
      default: String(DEFAULTS.concurrency),
      allowedValues: TEMPLATE_CONCURRENCIES.map(String),
      description: 'CONCURRENCY: scans at once per task. Task CPU, memory and storage follow from it.',
    });
    const minTasks = parameter('MinTasks', {
      type: 'Number',
      default: 0,
      minValue: 0,
      description: 'Fewest tasks (0: none while the queue is empty)',
    });
    const maxTasks = parameter('MaxTasks', { type: 'Number', default: 10, minValue: 1, description: 'Most tasks' });
    const alarmEmail = parameter('AlarmEmail', {
      type: 'String',
      default: '',
      description: 'Email address for alarms (empty: subscribe later to the AlarmTopic output)',
    });
    const unscannableAction = parameter('UnscannableAction', {
      type: 'String',
      default: 'quarantine',
      allowedValues: ['quarantine', 'forward'],
    });
    const failClosed = parameter('FailClosedReads', {
      type: 'String',
      default: 'false',
      allowedValues: ['false', 'true'],
      description:
        "Apply the fail-closed read policy to the unprocessed bucket. It REPLACES the bucket's existing bucket policy: see docs/deploy.md.",
    });
    const readers = parameter('FailClosedReaders', {
      type: 'CommaDelimitedList',
      default: '',
      description: 'Role ARNs that may read unscanned objects',
    });
    const quarantineReaders = parameter('QuarantineReaders', {
      type: 'CommaDelimitedList',
      default: '',
      description: 'Role ARNs that may read quarantined files and reports besides the scanner (a security team)',
    });
    const kmsKeyArns = parameter('KmsKeyArns', {
      type: 'CommaDelimitedList',
      default: '',
      description:
        'KMS key ARNs of the unprocessed and quarantine buckets, when they use SSE-KMS: the worker may use exactly these, through S3 only',
    });
    const messageEncryption = parameter('MessageEncryption', {
      type: 'String',
      default: 'sqs-managed',
      allowedValues: ['sqs-managed', 'customer-key'],
      description: 'Queues and the virus-notification topic: SSE-SQS and the AWS managed SNS key, or a customer key this stack creates',
    });
    const eventBridgeBuckets = parameter('EventBridgeBucketNames', {
      type: 'CommaDelimitedList',
      default: '',
      description:
        'More existing buckets to scan, announced through EventBridge (one rule lists them all): each gets EventBridge delivery turned on ' +
        '(its other notification configurations are kept), the whole bucket is scanned, and its bad files go to the quarantine bucket under ' +
        '<QuarantinePrefix><bucket>/. Empty: only UnprocessedBucketName.',
    });
    const eventBridgeKeyLayout = parameter('EventBridgeKeyLayout', {
      type: 'String',
      default: 'submission',
      allowedValues: ['submission', 'any'],
      description: 'Key layout of the EventBridgeBucketNames buckets: submission (<uuid>/<filename>) or any (every key S3 allows)',
    });
    const resultEventBus = parameter('ResultEventBus', {
      type: 'String',
      default: '',
      allowedPattern: '^$|^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]+$|^[A-Za-z0-9._/-]{1,256}$',
      constraintDescription: 'ResultEventBus must be an EventBridge bus name or ARN, or empty',
      description: 'An EventBridge bus (name or ARN) for one result event per verdict (RESULT_EVENT_BUS); empty: none',
    });
    const wakeUp = parameter('WakeUp', {
      type: 'String',
      default: 'metrics',
      allowedValues: ['metrics', 'function'],
      description:
        'How an upload wakes a fleet scaled to zero: SQS metrics (minutes; up to about 15 after a quiet day), or also a function on the upload event (seconds): docs/deploy.md',
    });

    // Task sizes for every allowed MaxFileSize x Concurrency, computed by sizing.ts:
    // CloudFormation has no arithmetic, so the template looks them up.
    const fields = ['cpu', 'memoryMiB', 'clamdMemoryMiB', 'ephemeralStorageGiB'] as const;
    const maps = Object.fromEntries(
      fields.map((field) => {
        const mapping: Record<string, Record<string, number>> = {};
        for (const mb of TEMPLATE_MAX_FILE_SIZES) {
          mapping[`${mb}`] = Object.fromEntries(TEMPLATE_CONCURRENCIES.map((c) => [`${c}`, taskSize(mb, c)[field]]));
        }
        return [field, new CfnMapping(this, `Task${field[0]!.toUpperCase()}${field.slice(1)}`, { mapping })];
      }),
    ) as Record<(typeof fields)[number], CfnMapping>;
    const lookup = (field: (typeof fields)[number]) =>
      Fn.findInMap(maps[field].logicalId, maxFileSize.valueAsString, concurrency.valueAsString) as unknown as number;

    const hasEmail = new CfnCondition(this, 'HasAlarmEmail', {
      expression: Fn.conditionNot(Fn.conditionEquals(alarmEmail.valueAsString, '')),
    });
    const applyFailClosed = new CfnCondition(this, 'ApplyFailClosedReads', {
      expression: Fn.conditionEquals(failClosed.valueAsString, 'true'),
    });
    const hasReaders = new CfnCondition(this, 'HasFailClosedReaders', {
      expression: Fn.conditionNot(Fn.conditionEquals(Fn.join('', readers.valueAsList), '')),
    });
    const createS3Endpoint = new CfnCondition(this, 'CreateS3Endpoint', {
      expression: Fn.conditionNot(Fn.conditionEquals(Fn.join('', routeTableIds.valueAsList), '')),
    });
    const hasQuarantineReaders = new CfnCondition(this, 'HasQuarantineReaders', {
      expression: Fn.conditionNot(Fn.conditionEquals(Fn.join('', quarantineReaders.valueAsList), '')),
    });
    const hasKmsKeys = new CfnCondition(this, 'HasKmsKeys', {
      expression: Fn.conditionNot(Fn.conditionEquals(Fn.join('', kmsKeyArns.valueAsList), '')),
    });
    const customerKey = new CfnCondition(this, 'UseCustomerKey', {
      expression: Fn.conditionEquals(messageEncryption.valueAsString, 'customer-key'),
    });
    const wakeUpFunction = new CfnCondition(this, 'UseWakeUpFunction', {
      expression: Fn.conditionEquals(wakeUp.valueAsString, 'function'),
    });
    const hasEventBridgeBuckets = new CfnCondition(this, 'HasEventBridgeBuckets', {
      expression: Fn.conditionNot(Fn.conditionEquals(Fn.join('', eventBridgeBuckets.valueAsList), '')),
    });
    const hasResultBus = new CfnCondition(this, 'HasResultEventBus', {
      expression: Fn.conditionNot(Fn.conditionEquals(resultEventBus.valueAsString, '')),
    });
    const resultBusIsArn = new CfnCondition(this, 'ResultEventBusIsArn', {
      expression: Fn.conditionEquals(Fn.select(0, Fn.split(':', Fn.join('', [resultEventBus.valueAsString, ':']))), 'arn'),
    });
    const awsCliIsPrivate = new CfnCondition(this, 'AwsCliImageIsPrivateEcr', {
      expression: Fn.conditionNot(Fn.conditionEquals(Fn.select(0, Fn.split('/', awsCliImage.valueAsString)), 'public.ecr.aws')),
    });
    // What a busy task holds (CONCURRENCY + RECEIVE_AHEAD, which defaults to CONCURRENCY), the scaling target.
    const scalingTargets = new CfnMapping(this, 'ScalingTarget', {
      mapping: Object.fromEntries(TEMPLATE_CONCURRENCIES.map((c) => [`${c}`, { messagesPerTask: 2 * c }])),
    });

    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: vpcId.valueAsString,
      availabilityZones: Fn.getAzs(),
      privateSubnetIds: subnetIds.valueAsList,
    });

    this.bucketScan = new BucketScan(this, 'BucketScan', {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: assignPublicIp.valueAsString,
      subnetIds: subnetIds.valueAsList,
      s3Endpoint: { routeTableIds: routeTableIds.valueAsList, condition: createS3Endpoint },
      workerImage: ecs.ContainerImage.fromRegistry(workerImage.valueAsString),
      clamdImage: ecs.ContainerImage.fromRegistry(clamdImage.valueAsString),
      awsCliImage: ecs.ContainerImage.fromRegistry(awsCliImage.valueAsString),
      awsCliImageGrant: { condition: awsCliIsPrivate, uri: awsCliImage.valueAsString },
      quarantineReaders: quarantineReaders.valueAsList,
      quarantineReadersCondition: hasQuarantineReaders,
      kmsKeyArns: kmsKeyArns.valueAsList,
      kmsKeysCondition: hasKmsKeys,
      messageEncryptionCondition: customerKey,
      wakeUpCondition: wakeUpFunction,
      scalingTarget: Token.asNumber(scalingTargets.findInMap(concurrency.valueAsString, 'messagesPerTask')),
      unprocessedBucketName: unprocessedBucket.valueAsString,
      unprocessedPrefix: unprocessedPrefix.valueAsString,
      quarantinePrefix: quarantinePrefix.valueAsString,
      quarantineExpirationDays: quarantineDays.valueAsNumber,
      maxFileSizeMb: maxFileSize.valueAsNumber,
      concurrency: concurrency.valueAsNumber,
      taskSize: {
        cpu: lookup('cpu'),
        memoryMiB: lookup('memoryMiB'),
        clamdMemoryMiB: lookup('clamdMemoryMiB'),
        ephemeralStorageGiB: lookup('ephemeralStorageGiB'),
      },
      minTasks: minTasks.valueAsNumber,
      maxTasks: maxTasks.valueAsNumber,
      unscannableAction: unscannableAction.valueAsString as 'quarantine',
      alarmEmail: alarmEmail.valueAsString,
      failClosedReads: {
        readers: readers.valueAsList,
        condition: applyFailClosed,
        readersCondition: hasReaders,
        enabled: failClosed.valueAsString,
      },
      resultEventBus: resultEventBus.valueAsString,
      resultEventBusArn: Token.asString(
        Fn.conditionIf(
          resultBusIsArn.logicalId,
          resultEventBus.valueAsString,
          Fn.join('', ['arn:', Aws.PARTITION, ':events:', Aws.REGION, ':', Aws.ACCOUNT_ID, ':event-bus/', resultEventBus.valueAsString]),
        ),
      ),
      resultEventBusCondition: hasResultBus,
    });
    this.addEventBridgeSources({
      buckets: eventBridgeBuckets.valueAsList,
      keyLayout: eventBridgeKeyLayout.valueAsString,
      unprocessedBucket: unprocessedBucket.valueAsString,
      unprocessedPrefix: unprocessedPrefix.valueAsString,
      quarantinePrefix: quarantinePrefix.valueAsString,
      condition: hasEventBridgeBuckets,
    });
    // RESULT_EVENT_BUS only when a bus is given (empty means none).
    this.onlyWhere(hasResultBus, 'RESULT_EVENT_BUS');

    // An empty prefix means "the whole bucket": no filter rule at all (S3 would
    // refuse a prefix rule with an empty value).
    const hasPrefix = new CfnCondition(this, 'HasUnprocessedPrefix', {
      expression: Fn.conditionNot(Fn.conditionEquals(unprocessedPrefix.valueAsString, '')),
    });
    const notifications = this.bucketScan.node.findChild('Unprocessed').node.findChild('Notifications').node.defaultChild as CfnResource;
    notifications.addPropertyOverride(
      'NotificationConfiguration.QueueConfigurations.0.Filter',
      Fn.conditionIf(
        hasPrefix.logicalId,
        { Key: { FilterRules: [{ Name: 'prefix', Value: unprocessedPrefix.valueAsString }] } },
        Aws.NO_VALUE,
      ),
    );

    // S3 sends events to EventBridge only for the wake-up function.
    notifications.addPropertyOverride(
      'NotificationConfiguration.EventBridgeConfiguration',
      Fn.conditionIf(wakeUpFunction.logicalId, {}, Aws.NO_VALUE),
    );

    // The email subscription exists only when an address was given.
    for (const child of this.bucketScan.alarmTopic.node.findAll()) {
      if (child instanceof sns.CfnSubscription) child.cfnOptions.condition = hasEmail;
    }

    const output = (name: string, value: string, description: string) => new CfnOutput(this, name, { value, description });
    output('InboundQueueUrl', this.bucketScan.inboundQueue.queueUrl, 'S3 events arrive here');
    output('DeadLetterQueueUrl', this.bucketScan.deadLetterQueue.queueUrl, 'Messages that failed 5 times (bucketscan dlq list)');
    output('ValidationQueueUrl', this.bucketScan.validationQueue.queueUrl, 'Clean files are announced here');
    output('NotificationTopicArn', this.bucketScan.notificationTopic.topicArn, 'Reports of quarantined files: subscribe here');
    output('AlarmTopicArn', this.bucketScan.alarmTopic.topicArn, 'Alarms: subscribe here');
    output('QuarantineBucketName', this.bucketScan.quarantineBucket.bucketName, 'Quarantined files and their reports');
    output('DefinitionsMirrorBucketName', this.bucketScan.mirrorBucket.bucketName, 'The ClamAV definitions mirror');
    output('OperatorPolicyArn', this.bucketScan.operatorPolicy.managedPolicyArn, 'Attach to the role that runs bucketscan rescan and dlq');
    output('ScannerRoleArn', this.bucketScan.taskDefinition.taskRole.roleArn, "The worker's role (for bucketscan policy --scanner-role)");
    output('ClusterName', this.bucketScan.cluster.clusterName, 'ECS cluster');
    output('ServiceName', this.bucketScan.service.serviceName, 'ECS service');
    output('Region', Aws.REGION, 'Region');
    output('RescanQueueUrl', this.bucketScan.rescanQueue.queueUrl, 'RESCAN_QUEUE: bucketscan rescan puts its events here');
  }

  /**
   * The EventBridgeBucketNames sources. CloudFormation cannot loop over a list, so a
   * small function (deploy/lambda/eventbridge-sources.ts) turns on each bucket's
   * EventBridge delivery and answers the worker's SOURCES; one rule sends their
   * Object Created events to the inbound queue; the worker may read, tag and remove
   * objects in them (their quarantine areas are under QuarantinePrefix, which it
   * may write already); the operators may list them.
   */
  private addEventBridgeSources(options: {
    buckets: string[];
    keyLayout: string;
    unprocessedBucket: string;
    unprocessedPrefix: string;
    quarantinePrefix: string;
    condition: CfnCondition;
  }): void {
    const scan = this.bucketScan;
    const scope = new Construct(this, 'EventBridgeSources');
    // The buckets' ARNs, built from the list: Fn::Join takes only a literal
    // separator, so the partition is chosen among the literal ones.
    const isChina = new CfnCondition(this, 'IsChinaPartition', { expression: Fn.conditionEquals(Aws.PARTITION, 'aws-cn') });
    const isGov = new CfnCondition(this, 'IsGovCloudPartition', { expression: Fn.conditionEquals(Aws.PARTITION, 'aws-us-gov') });
    const arns = (suffix: string): string[] => {
      const inPartition = (partition: string) =>
        Fn.split(',', Fn.join('', [`arn:${partition}:s3:::`, Fn.join(`${suffix},arn:${partition}:s3:::`, options.buckets), suffix]));
      return Token.asList(
        Fn.conditionIf(
          isChina.logicalId,
          inPartition('aws-cn'),
          Fn.conditionIf(isGov.logicalId, inPartition('aws-us-gov'), inPartition('aws')),
        ),
      );
    };
    const bucketArns = arns('');
    const objectArns = arns('/*');

    const { fn, role } = smallFunction(scope, {
      code: 'eventbridge-sources',
      description: 'bucketscan: turn on EventBridge delivery for the EventBridgeBucketNames buckets, and describe them as sources',
      timeout: Duration.minutes(1),
      statements: [
        new iam.PolicyStatement({
          sid: 'TurnOnEventBridge',
          actions: ['s3:GetBucketNotification', 's3:PutBucketNotification'],
          resources: bucketArns,
        }),
      ],
      logRetention: logs.RetentionDays.ONE_MONTH,
    });
    const described = new CustomResource(scope, 'Describe', {
      serviceToken: fn.functionArn,
      resourceType: 'Custom::BucketScanEventBridgeSources',
      properties: {
        Buckets: options.buckets,
        KeyLayout: options.keyLayout,
        UnprocessedBucket: options.unprocessedBucket,
        UnprocessedPrefix: options.unprocessedPrefix,
        QuarantineBucket: scan.quarantineBucket.bucketName,
        QuarantinePrefix: options.quarantinePrefix,
        ValidationQueueUrl: scan.validationQueue.queueUrl,
      },
    });
    described.node.addDependency(role);

    const rule = new events.CfnRule(scope, 'Rule', {
      description: 'bucketscan: Object Created events of the EventBridgeBucketNames buckets, to the inbound queue',
      eventPattern: { source: ['aws.s3'], 'detail-type': ['Object Created'], detail: { bucket: { name: options.buckets } } },
      targets: [{ id: 'InboundQueue', arn: scan.inboundQueue.queueArn }],
    });
    const statement = new iam.PolicyStatement({
      sid: 'AllowEventBridgeSources',
      principals: [new iam.ServicePrincipal('events.amazonaws.com')],
      actions: ['sqs:SendMessage'],
      resources: [scan.inboundQueue.queueArn],
      conditions: { ArnEquals: { 'aws:SourceArn': rule.attrArn } },
    });
    scan.inboundQueue.addToResourcePolicy(statement);
    this.onlyWhereStatement(
      options.condition,
      scan.inboundQueue.node.findChild('Policy').node.defaultChild as CfnResource,
      'AllowEventBridgeSources',
    );

    const workerPolicy = new iam.Policy(scope, 'WorkerPolicy', {
      roles: [scan.taskDefinition.taskRole],
      statements: [
        new iam.PolicyStatement({ sid: 'ReadAndRemoveScannedObjects', actions: SCANNED_OBJECT_ACTIONS, resources: objectArns }),
        new iam.PolicyStatement({ sid: 'KnowMissingObjects', actions: ['s3:ListBucket'], resources: bucketArns }),
        statusTagStatement(objectArns, DEFAULT_STATUS_TAG),
      ],
    });
    Validations.of(workerPolicy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${flattenCfnReference(this.resolve(objectArns))}]`,
      reason: 'The worker reads, tags and removes objects that do not exist yet: every key of each EventBridgeBucketNames bucket.',
    });
    // The operators' rescan lists them (bucketscan rescan s3://<bucket>/).
    const operator = scan.operatorPolicy.node.defaultChild as iam.CfnManagedPolicy;
    const count = (this.resolve(scan.operatorPolicy.document.toJSON()) as { Statement: unknown[] }).Statement.length;
    operator.addPropertyOverride(
      `PolicyDocument.Statement.${count}`,
      Fn.conditionIf(
        options.condition.logicalId,
        {
          Sid: 'RescanListsEventBridgeSources',
          Effect: 'Allow',
          Action: ['s3:ListBucket', 's3:ListBucketVersions', 's3:GetBucketVersioning'],
          Resource: bucketArns,
        },
        Aws.NO_VALUE,
      ),
    );

    scan.taskDefinition.findContainer(WORKER_CONTAINER)!.addEnvironment('SOURCES', described.getAttString('Sources'));
    this.onlyWhere(options.condition, 'SOURCES');
    for (const child of scope.node.findAll()) {
      if (child instanceof CfnResource) child.cfnOptions.condition = options.condition;
    }
  }

  /** Keeps the statement `sid` of a resource policy only where `condition` holds. */
  private onlyWhereStatement(condition: CfnCondition, policy: CfnResource, sid: string): void {
    const document = this.resolve((policy as unknown as { policyDocument: unknown }).policyDocument) as {
      Statement: Array<{ Sid?: string }>;
    };
    const index = document.Statement.findIndex((statement) => statement.Sid === sid);
    if (index < 0) throw new Error(`no statement ${sid} to make conditional`);
    policy.addPropertyOverride(
      `PolicyDocument.Statement.${index}`,
      Fn.conditionIf(condition.logicalId, document.Statement[index], Aws.NO_VALUE),
    );
  }

  /** Keeps the worker's environment variable `name` only where `condition` holds. */
  private onlyWhere(condition: CfnCondition, name: string): void {
    const task = this.bucketScan.taskDefinition.node.defaultChild as ecs.CfnTaskDefinition;
    // The L1's properties before rendering: camelCase keys.
    const containers = this.resolve(task.containerDefinitions) as Array<{
      name: string;
      environment?: Array<{ name: string; value: unknown }>;
    }>;
    const containerIndex = containers.findIndex((container) => container.name === WORKER_CONTAINER);
    const environment = containers[containerIndex]?.environment ?? [];
    const index = environment.findIndex((variable) => variable.name === name);
    if (index < 0) throw new Error(`the worker has no ${name} to make conditional`);
    task.addPropertyOverride(
      `ContainerDefinitions.${containerIndex}.Environment.${index}`,
      Fn.conditionIf(condition.logicalId, { Name: name, Value: environment[index]!.value }, Aws.NO_VALUE),
    );
  }
}
