/**
 * The scanning service: an ECS cluster (Container Insights on) and a Fargate
 * service whose tasks run the worker with clamd beside it on the task's loopback,
 * no inbound traffic and HTTPS out only; the task role with exactly what the
 * worker calls; the execution role with exactly the image pulls and log writes.
 */
import { type CfnCondition, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ecrPullStatements, needsEcrGrant } from './images.ts';
import type { TaskSize } from './sizing.ts';

/** The clamd container listens here; the worker reaches it over the task's shared loopback. */
export const CLAMD_PORT = 3310;
/** The worker's /healthz and /readyz (HEALTH_PORT), used by the container health check only. */
export const HEALTH_PORT = 8080;
export const WORKER_CONTAINER = 'worker';
export const CLAMD_CONTAINER = 'clamd';
/** Inside the clamd image (images/clamd): sends zPING and expects PONG. */
export const CLAMD_HEALTHCHECK = '/usr/local/bin/clamd-healthcheck';
/** The worker's hard memory limit (sizing.ts explains it). */
export const WORKER_MEMORY_MIB = 512;
/** clamd's health check allows this long for a first start: download from the mirror, load the database. */
export const CLAMD_START_PERIOD = Duration.seconds(300);

/** What the worker may touch for one source: its folder of its bucket, and its quarantine area. */
export interface SourceGrant {
  bucket: s3.IBucket;
  prefix: string;
  quarantineBucket: s3.IBucket;
  quarantinePrefix: string;
  /** This source writes the status tag. */
  statusTag: boolean;
}

/**
 * What the worker does to a scanned object: GetObject pinned to a version (and the
 * source side of CopyObject / UploadPartCopy); DeleteObject with a VersionId
 * removes the infected version. Get*Tagging: a copy carries the source's tags
 * (TaggingDirective COPY), and the status tag is merged into the object's other tags.
 */
export const SCANNED_OBJECT_ACTIONS = [
  's3:GetObject',
  's3:GetObjectVersion',
  's3:GetObjectTagging',
  's3:GetObjectVersionTagging',
  's3:DeleteObject',
  's3:DeleteObjectVersion',
];

/**
 * The status tag's writes, allowed only when they set it: S3 replaces the whole tag
 * set on every write, so the worker rewrites the object's other tags too; what IAM
 * can enforce is that every tag write it makes sets the status tag.
 */
export function statusTagStatement(resources: string[], statusTag: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'WriteStatusTag',
    actions: ['s3:PutObjectTagging', 's3:PutObjectVersionTagging'],
    resources,
    conditions: { 'ForAnyValue:StringEquals': { 's3:RequestObjectTagKeys': [statusTag] } },
  });
}

export interface WorkerGrants {
  sources: SourceGrant[];
  inbound: sqs.IQueue;
  /** RESCAN_QUEUE, read like the inbound queue. */
  rescan: sqs.IQueue;
  /** Every queue clean files may be forwarded to (the sources' validation queues). */
  validation: sqs.IQueue[];
  topic: sns.ITopic;
  /** SCAN_STATUS_TAG; '' means no tag writes. */
  statusTag: string;
  /** RESULT_EVENT_BUS's ARN: events:PutEvents on it alone (under `resultBusCondition`: the template's switch). */
  resultBusArn?: string | undefined;
  resultBusCondition?: CfnCondition | undefined;
  /** Keys of SSE-KMS buckets; under `kmsKeysCondition` when given (the template's empty-list case). */
  kmsKeyArns: string[];
  kmsKeysCondition?: CfnCondition | undefined;
  /** The deployment's customer key for queues and topic, if any (under `messageKeyCondition`). */
  messageKey?: kms.IKey | undefined;
  messageKeyCondition?: CfnCondition | undefined;
}

export interface ScanServiceProps {
  vpc: ec2.IVpc;
  subnetIds: string[];
  vpcSubnets?: ec2.SubnetSelection | undefined;
  /** 'ENABLED' / 'DISABLED', or a template parameter. */
  assignPublicIp: string;
  size: TaskSize;
  workerImage: ecs.ContainerImage;
  clamdImage: ecs.ContainerImage;
  workerEnvironment: Record<string, string>;
  clamdEnvironment: Record<string, string>;
  /** The container's stopTimeout: SIGTERM, then this long before SIGKILL. */
  stopTimeout: Duration;
  logRetention: logs.RetentionDays;
  grants: WorkerGrants;
}

export class ScanService extends Construct {
  public readonly cluster: ecs.Cluster;
  public readonly securityGroup: ec2.SecurityGroup;
  public readonly logGroup: logs.LogGroup;
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly service: ecs.FargateService;
  /** The task role's policy (docs/deploy.md, "IAM"). */
  public readonly workerPolicy: iam.Policy;
  /** events:PutEvents on the result bus, when there is one. */
  public readonly resultBusPolicy: iam.Policy | undefined;

  constructor(scope: Construct, id: string, props: ScanServiceProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention });
    this.cluster = new ecs.Cluster(this, 'Cluster', { vpc: props.vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
    this.securityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: props.vpc,
      description: 'bucketscan tasks: no inbound; outbound HTTPS only (S3, SQS, SNS, CloudWatch Logs, ECR, the definitions mirror)',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS endpoints');

    const { size } = props;
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: size.cpu,
      memoryLimitMiB: size.memoryMiB,
      ephemeralStorageGiB: size.ephemeralStorageGiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    this.taskDefinition.addVolume({ name: 'clamav-database' });
    this.taskDefinition.addVolume({ name: 'clamd-spool' });
    const logging = (prefix: string) =>
      ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: prefix, mode: ecs.AwsLogDriverMode.BLOCKING });

    const clamd = this.taskDefinition.addContainer(CLAMD_CONTAINER, {
      image: props.clamdImage,
      essential: true,
      // A soft limit: clamd may use more while it reloads the database, as long as
      // the task has it; the worker has a hard limit so it cannot take it away.
      memoryReservationMiB: size.clamdMemoryMiB,
      environment: props.clamdEnvironment,
      healthCheck: {
        command: ['CMD', CLAMD_HEALTHCHECK],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: CLAMD_START_PERIOD,
      },
      logging: logging(CLAMD_CONTAINER),
    });
    clamd.addMountPoints(
      { sourceVolume: 'clamav-database', containerPath: '/var/lib/clamav', readOnly: false },
      { sourceVolume: 'clamd-spool', containerPath: '/var/spool/clamd', readOnly: false },
    );
    const worker = this.taskDefinition.addContainer(WORKER_CONTAINER, {
      image: props.workerImage,
      essential: true,
      memoryLimitMiB: WORKER_MEMORY_MIB,
      readonlyRootFilesystem: true,
      environment: props.workerEnvironment,
      // ECS sends SIGTERM, waits stopTimeout, then SIGKILL: the worker finishes its
      // work within SHUTDOWN_TIMEOUT and returns the rest (bucketscan.ts, timeouts).
      stopTimeout: props.stopTimeout,
      healthCheck: {
        command: ['CMD', 'node', 'healthcheck.mjs'],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
      logging: logging(WORKER_CONTAINER),
    });
    // Started once clamd answers PING with its database loaded; ECS stops
    // containers in the reverse order, so clamd outlives the worker's drain.
    worker.addContainerDependencies({ container: clamd, condition: ecs.ContainerDependencyCondition.HEALTHY });

    const pulls = [worker.imageName, clamd.imageName].filter(needsEcrGrant);
    if (pulls.length > 0) {
      new iam.Policy(this, 'ImagePull', { statements: ecrPullStatements(pulls) }).attachToRole(this.taskDefinition.obtainExecutionRole());
    }

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      vpcSubnets: props.vpcSubnets,
      securityGroups: [this.securityGroup],
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      enableExecuteCommand: false,
    });
    const network = this.service.node.defaultChild as ecs.CfnService;
    network.addPropertyOverride('NetworkConfiguration.AwsvpcConfiguration.Subnets', props.subnetIds);
    network.addPropertyOverride('NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp', props.assignPublicIp);

    this.workerPolicy = this.grantWorker(props.grants);
    this.resultBusPolicy = props.grants.resultBusArn
      ? this.grantResultBus(props.grants.resultBusArn, props.grants.resultBusCondition)
      : undefined;
  }

  /** Result events go to the one bus RESULT_EVENT_BUS names, and nowhere else. */
  private grantResultBus(busArn: string, condition: CfnCondition | undefined): iam.Policy {
    const policy = new iam.Policy(this, 'ResultBusPolicy', {
      statements: [new iam.PolicyStatement({ sid: 'PublishResultEvents', actions: ['events:PutEvents'], resources: [busArn] })],
    });
    policy.attachToRole(this.taskDefinition.taskRole);
    if (condition) (policy.node.defaultChild as iam.CfnPolicy).cfnOptions.condition = condition;
    return policy;
  }

  /**
   * The task role's permissions, exactly what the worker's code calls (docs/deploy.md
   * lists each call with the statement that allows it; deploy/test/iam proves it).
   */
  private grantWorker(options: WorkerGrants): iam.Policy {
    const role = this.taskDefinition.taskRole;
    const stack = Stack.of(this);
    const unique = (arns: string[]) => [...new Set(arns)];
    // Each source's folder of its bucket, and its quarantine area: nothing else.
    const scannedObjects = unique(options.sources.map((source) => source.bucket.arnForObjects(`${source.prefix}*`)));
    const taggedObjects = unique(
      options.sources.filter((source) => source.statusTag).map((source) => source.bucket.arnForObjects(`${source.prefix}*`)),
    );
    const quarantineObjects = unique(options.sources.map((source) => source.quarantineBucket.arnForObjects(`${source.quarantinePrefix}*`)));
    const buckets = unique(options.sources.flatMap((source) => [source.bucket.bucketArn, source.quarantineBucket.bucketArn]));
    const statements = [
      new iam.PolicyStatement({ sid: 'ReadAndRemoveScannedObjects', actions: SCANNED_OBJECT_ACTIONS, resources: scannedObjects }),
      new iam.PolicyStatement({
        sid: 'KnowMissingObjects',
        // Without ListBucket S3 answers 403 instead of 404 for a missing key: a file
        // deleted before its scan would be retried into the dead-letter queue
        // instead of being dropped, and a missing report would fail every quarantine.
        actions: ['s3:ListBucket'],
        resources: buckets,
      }),
      new iam.PolicyStatement({
        sid: 'WriteQuarantine',
        // PutObject: CopyObject, the multipart copy (Create/UploadPartCopy/Complete)
        // and the report. GetObject: HeadObject and GetObject of a stored report
        // (resuming an interrupted quarantine) and the report's metadata update
        // (a copy onto itself). Tagging: copies keep their tags; the status tag.
        actions: ['s3:PutObject', 's3:PutObjectTagging', 's3:GetObject', 's3:GetObjectTagging', 's3:AbortMultipartUpload'],
        resources: quarantineObjects,
      }),
      new iam.PolicyStatement({
        sid: 'ConsumeInboundQueue',
        // DeleteMessageBatch and ChangeMessageVisibility(Batch) use these actions;
        // GetQueueAttributes reads the redrive policy's maxReceiveCount. The rescan
        // queue (RESCAN_QUEUE) is read the same way.
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes'],
        resources: [options.inbound.queueArn, options.rescan.queueArn],
      }),
      new iam.PolicyStatement({
        sid: 'ForwardCleanFiles',
        // SendMessageBatch uses sqs:SendMessage.
        actions: ['sqs:SendMessage', 'sqs:GetQueueUrl'],
        resources: unique(options.validation.map((queue) => queue.queueArn)),
      }),
      new iam.PolicyStatement({ sid: 'PublishReports', actions: ['sns:Publish'], resources: [options.topic.topicArn] }),
      new iam.PolicyStatement({
        sid: 'ProtectFromScaleIn',
        // The ECS agent's task-protection endpoint calls UpdateTaskProtection with the
        // task role's credentials (src/worker/task-protection.ts).
        actions: ['ecs:UpdateTaskProtection'],
        resources: [stack.formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.cluster.clusterName}/*` })],
      }),
    ];
    if (options.statusTag && taggedObjects.length > 0) statements.push(statusTagStatement(taggedObjects, options.statusTag));
    // A statement with nothing to cover (no source forwards clean files) is left out.
    const policy = new iam.Policy(this, 'WorkerPolicy', { statements: statements.filter((statement) => statement.resources.length > 0) });
    policy.attachToRole(role);

    if (options.kmsKeyArns.length > 0) {
      const keys = new iam.Policy(this, 'BucketKeysPolicy', {
        statements: [
          new iam.PolicyStatement({
            sid: 'UseBucketKeys',
            // Decrypt to read an SSE-KMS object; GenerateDataKey to write its
            // quarantined copy under the same key; only through S3.
            actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
            resources: options.kmsKeyArns,
            conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
          }),
        ],
      });
      keys.attachToRole(role);
      if (options.kmsKeysCondition) (keys.node.defaultChild as iam.CfnPolicy).cfnOptions.condition = options.kmsKeysCondition;
    }
    if (options.messageKey) {
      const key = new iam.Policy(this, 'MessageKeyPolicy', {
        statements: [
          new iam.PolicyStatement({
            sid: 'UseMessageKey',
            // Decrypt: receive from the inbound queue. GenerateDataKey (and Decrypt,
            // which SQS asks for on send): forward to the validation queue and publish
            // reports. Only through SQS and SNS.
            actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
            resources: [options.messageKey.keyArn],
            conditions: { StringEquals: { 'kms:ViaService': [`sqs.${stack.region}.amazonaws.com`, `sns.${stack.region}.amazonaws.com`] } },
          }),
        ],
      });
      key.attachToRole(role);
      if (options.messageKeyCondition) (key.node.defaultChild as iam.CfnPolicy).cfnOptions.condition = options.messageKeyCondition;
    }
    return policy;
  }
}
