/**
 * BucketScan: everything a bucketscan deployment needs in one AWS account, as a
 * CDK construct made of one construct per concern:
 * - queues.ts: the inbound queue (S3 ObjectCreated events) and the validation
 *   queue, each with a dead-letter queue;
 * - quarantine.ts: the quarantine bucket and the virus-notification topic;
 * - service.ts: the ECS Fargate service (worker + clamd per task) and its IAM;
 * - mirror.ts: the private ClamAV definitions mirror and its one updater;
 * - scaling.ts: scaling on the backlog, down to zero and back;
 * - alarms.ts: alarms, the failed-updater announcement, the dashboard.
 * This file holds the properties, their defaults and checks, the preflight check
 * of the network path, and the fail-closed read policy. docs/deploy.md explains
 * each choice.
 */
import { Aws, type CfnCondition, type CfnResource, CustomResource, Duration, Fn, Lazy, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import { Construct } from 'constructs';
import { DEFAULT_STATUS_TAG, DEFAULTS } from '../../src/config/defaults.ts';
import { receiveAheadFor, workerEnvironment } from '../../src/config/worker-environment.ts';
import { Alarms, type AlarmName } from './alarms.ts';
import { enforceTls, normalisePrefix, secureBucketDefaults } from './buckets.ts';
import { failClosedStatements } from './fail-closed-policy.ts';
import { smallFunction } from './lambda-code.ts';
import { DEFAULT_AWS_CLI_IMAGE, DefinitionsMirror } from './mirror.ts';
import { Quarantine } from './quarantine.ts';
import { ScanQueues } from './queues.ts';
import { Scaling } from './scaling.ts';
import { CLAMD_PORT, HEALTH_PORT, ScanService } from './service.ts';
import { taskSize, type TaskSize } from './sizing.ts';

export { MAX_RECEIVE_COUNT } from './queues.ts';
export { CLAMD_CONTAINER, CLAMD_HEALTHCHECK, CLAMD_PORT, HEALTH_PORT, WORKER_CONTAINER } from './service.ts';
export { DEFAULT_AWS_CLI_IMAGE } from './mirror.ts';

/** Fargate stops a container at most this long after SIGTERM. */
export const FARGATE_MAX_STOP_TIMEOUT = Duration.seconds(120);
/** Room after a scan for its network steps (tag, copy, forward, delete) within SHUTDOWN_TIMEOUT. */
export const AFTER_SCAN_MARGIN = Duration.seconds(15);
/** Room after SHUTDOWN_TIMEOUT for the worker to return the rest and exit before SIGKILL. */
export const EXIT_MARGIN = Duration.seconds(10);

export interface BucketScanProps {
  /** The VPC the tasks run in. */
  readonly vpc: ec2.IVpc;
  /** Subnets for the tasks (default: the VPC's private subnets with egress). */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** The task subnets as a list (a template parameter); default: from vpcSubnets. */
  readonly subnetIds?: string[];
  /** Give the tasks a public IP (public subnets without a NAT gateway). Default false. A string is 'ENABLED' or 'DISABLED' (a template parameter). */
  readonly assignPublicIp?: boolean | string;
  /**
   * Create the S3 gateway endpoint the tasks read the definitions mirror through, on
   * these route tables (those of the task subnets). Leave it out when the VPC has
   * one there already: the preflight check then makes sure it does.
   */
  readonly s3Endpoint?: { readonly routeTableIds: string[]; readonly condition?: CfnCondition };
  /** Check the network path and versioning before anything starts (a custom resource). Default true. */
  readonly preflight?: boolean;

  /** The worker image (the repository's Dockerfile). A `fromRegistry` ECR URI is granted a pull; `fromEcrRepository`/`fromAsset` are granted by CDK. */
  readonly workerImage: ecs.ContainerImage;
  /** The clamd image (images/clamd/Dockerfile). It also runs the updater's freshclam. */
  readonly clamdImage: ecs.ContainerImage;
  /** An image with the AWS CLI v2 (`aws s3 sync`) for the updater. Default: public.ecr.aws/aws-cli/aws-cli, pinned. */
  readonly awsCliImage?: ecs.ContainerImage;
  /** For the template: the AWS CLI image parameter is granted a pull only where this condition (a private ECR URI) holds. */
  readonly awsCliImageGrant?: { readonly condition: CfnCondition; readonly uri: string };

  /** An existing bucket to watch, by name. Default: a new, versioned bucket. */
  readonly unprocessedBucketName?: string;
  /** An existing quarantine bucket, by name. Default: a new one (versioned, lifecycle, TLS only). */
  readonly quarantineBucketName?: string;
  /** Only keys under this prefix are announced and scanned (UNPROCESSED_PREFIX). */
  readonly unprocessedPrefix?: string;
  /** Put before the original key in the quarantine bucket (QUARANTINE_PREFIX). */
  readonly quarantinePrefix?: string;
  /** Role ARNs that may read a new quarantine bucket besides the scanner (a security team); a list token is accepted. */
  readonly quarantineReaders?: string[];
  /** The quarantine readers are used only where this condition holds (the template's empty-list case). */
  readonly quarantineReadersCondition?: CfnCondition;
  /** A new quarantine bucket expires objects (and noncurrent versions) after this many days; 0 keeps them. Default 365. */
  readonly quarantineExpirationDays?: number;
  /** Server access logs of the buckets this construct creates go here. Default: none. */
  readonly accessLogsBucket?: s3.IBucket;
  /** KMS keys (ARNs) of existing buckets that use SSE-KMS: the worker may use exactly these, through S3 only. */
  readonly kmsKeyArns?: string[];
  /** The keys are granted only where this condition holds (the template's empty-list case). */
  readonly kmsKeysCondition?: CfnCondition;
  /** Encrypt the queues and the notification topic with SSE-SQS / the AWS managed key (default), or a customer key this stack creates. */
  readonly messageEncryption?: 'sqs-managed' | 'customer-key';
  /** The customer key is used only where this condition holds (the template's switch). */
  readonly messageEncryptionCondition?: CfnCondition;

  /** MAX_FILE_SIZE (MB). Default: the worker's (100). */
  readonly maxFileSizeMb?: number;
  /** CONCURRENCY: scans in work per task. Default: the worker's (8). */
  readonly concurrency?: number;
  /** RECEIVE_AHEAD: messages a task holds beyond its scans. Default: as many as CONCURRENCY (the worker's rule). */
  readonly receiveAhead?: number;
  /** Messages a busy task holds, the scaling target. Default CONCURRENCY + RECEIVE_AHEAD (required when those are tokens). */
  readonly scalingTarget?: number;
  /** Task CPU, memory and storage. Default: computed from maxFileSizeMb and concurrency (sizing.ts). */
  readonly taskSize?: TaskSize;
  /** VISIBILITY_TIMEOUT and the queue's visibility timeout. Default: the worker's (120 s). */
  readonly visibilityTimeout?: Duration;
  /** SHUTDOWN_TIMEOUT. Default 105 s; at least maxScanTime + 15 s, at most 110 s (stopTimeout is 10-15 s more, at most 120 s). */
  readonly shutdownTimeout?: Duration;
  /** clamd's MaxScanTime: a scan in progress ends within it, so a stopping task can finish it. Default 90 s. */
  readonly maxScanTime?: Duration;
  /** UNSCANNABLE_ACTION. Default: the worker's (quarantine). */
  readonly unscannableAction?: 'quarantine' | 'forward';
  /** SCAN_STATUS_TAG; '' turns status tags off (and the tagging permissions with them). Default: the worker's (bucketscan-status). */
  readonly scanStatusTag?: string;
  /** LOG_LEVEL. Default info. */
  readonly logLevel?: string;
  /** METRICS_NAMESPACE for the worker's embedded metrics. Default `bucketscan/<stack name>`. */
  readonly metricsNamespace?: string;

  /** Fewest tasks. Default 0: no task runs while the queue is empty. */
  readonly minTasks?: number;
  /** Most tasks. Default 10. */
  readonly maxTasks?: number;
  /** Scale to zero after this long with no message in the queue, visible or in flight. Default 15 minutes. */
  readonly scaleToZeroAfter?: Duration;
  /** How a first upload wakes a fleet at zero: SQS metrics (default), or also a function on the upload event (docs/deploy.md). */
  readonly wakeUp?: 'metrics' | 'function';
  /** The wake-up function exists only where this condition holds (the template's switch). */
  readonly wakeUpCondition?: CfnCondition;

  /** Log retention. Default one month. */
  readonly logRetention?: logs.RetentionDays;

  /** An email address subscribed to the alarm topic. */
  readonly alarmEmail?: string;
  /** Alarm when the oldest inbound message is older than this. Default 30 minutes. */
  readonly maxMessageAge?: Duration;
  /** MAX_DEFINITIONS_AGE, and the alarm threshold on the definitions' age in tasks. Default: the worker's (48 hours). */
  readonly maxDefinitionsAge?: Duration;
  /** Alarm when the mirror's daily database is older than this. Default 24 hours. */
  readonly maxMirrorAge?: Duration;
  /** Alarm when this many AWS requests fail (after retries) in 5 minutes, twice running. Default 10. */
  readonly awsErrorsThreshold?: number;

  /** Apply the fail-closed read policy to the unprocessed bucket (requires scanStatusTag and a versioned bucket). Default off. */
  readonly failClosedReads?: {
    /** Role ARNs that may read objects whatever their status tag (a list token is accepted). */
    readonly readers?: string[];
    /** Create the policy only where this condition holds (the template's switch). */
    readonly condition?: CfnCondition;
    /** The readers are used only where this condition holds (the template's empty-list case). */
    readonly readersCondition?: CfnCondition;
    /** The switch as 'true'/'false' for the preflight's versioning check (the template's parameter). */
    readonly enabled?: string;
  };

  /** How often the updater asks the ClamAV CDN for new definitions. Default hourly, at minute 23 (ClamAV asks for at most once an hour, off the hour). */
  readonly definitionsSchedule?: events.Schedule;
  /** freshclam checks per day in each scanning task, against the private mirror. Default 24. */
  readonly mirrorChecksPerDay?: number;
}

/** The properties with their defaults applied and checked. */
interface Settings {
  maxFileSizeMb: number;
  concurrency: number;
  receiveAhead: number;
  scalingTarget: number;
  size: TaskSize;
  visibility: Duration;
  shutdown: Duration;
  stopTimeout: Duration;
  maxScanTime: Duration;
  statusTag: string;
  unprocessedPrefix: string;
  quarantinePrefix: string;
  maxDefinitionsAge: Duration;
  logRetention: logs.RetentionDays;
}

export class BucketScan extends Construct {
  public readonly queues: ScanQueues;
  public readonly quarantine: Quarantine;
  public readonly scanService: ScanService;
  public readonly mirror: DefinitionsMirror;
  public readonly scaling: Scaling;
  public readonly monitoring: Alarms;

  public readonly unprocessedBucket: s3.IBucket;
  public readonly quarantineBucket: s3.IBucket;
  public readonly mirrorBucket: s3.Bucket;
  public readonly inboundQueue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly validationQueue: sqs.Queue;
  public readonly validationDeadLetterQueue: sqs.Queue;
  /** Reports of quarantined files (README, "The report"): subscribe here. */
  public readonly notificationTopic: Quarantine['topic'];
  public readonly alarmTopic: Alarms['topic'];
  public readonly cluster: ScanService['cluster'];
  public readonly taskDefinition: ScanService['taskDefinition'];
  public readonly service: ScanService['service'];
  public readonly securityGroup: ScanService['securityGroup'];
  public readonly updaterTaskDefinition: DefinitionsMirror['updaterTaskDefinition'];
  public readonly updaterRule: events.Rule;
  /** Runs the updater once when the stack is created and waits for it. */
  public readonly initialDefinitions: CustomResource;
  /** The preflight check (absent with `preflight: false`). */
  public readonly preflight: CustomResource | undefined;
  /** The customer key for queues and topic (with messageEncryption 'customer-key'). */
  public readonly messageKey: kms.Key | undefined;
  public readonly alarms: Record<AlarmName, cloudwatch.Alarm>;
  public readonly dashboard: Alarms['dashboard'];
  public readonly metricsNamespace: string;
  /** UNPROCESSED_PREFIX and QUARANTINE_PREFIX as the worker gets them. */
  public readonly prefixes: { unprocessed: string; quarantine: string };
  /** The fail-closed statements, also when not applied: add them to your own bucket policy. */
  public readonly failClosedPolicy: iam.PolicyStatement[];
  /** What the `bucketscan rescan` and `dlq` commands need: attach it to the operators' role. */
  public readonly operatorPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: BucketScanProps) {
    super(scope, id);
    const settings = resolveSettings(props);
    this.metricsNamespace = props.metricsNamespace ?? `bucketscan/${Aws.STACK_NAME}`;
    this.prefixes = { unprocessed: settings.unprocessedPrefix, quarantine: settings.quarantinePrefix };
    const subnetIds = props.subnetIds ?? props.vpc.selectSubnets(props.vpcSubnets).subnetIds;
    const assignPublicIp = typeof props.assignPublicIp === 'string' ? props.assignPublicIp : props.assignPublicIp ? 'ENABLED' : 'DISABLED';

    this.unprocessedBucket = props.unprocessedBucketName
      ? s3.Bucket.fromBucketName(this, 'Unprocessed', props.unprocessedBucketName)
      : new s3.Bucket(this, 'Unprocessed', {
          ...secureBucketDefaults(props.accessLogsBucket, 'unprocessed/'),
          // Versioned so that events carry a versionId and the scan is pinned to it.
          versioned: true,
        });

    this.messageKey =
      props.messageEncryption === 'customer-key' || props.messageEncryptionCondition ? this.createMessageKey(props) : undefined;
    const keyed = { key: this.messageKey, keyCondition: props.messageEncryptionCondition };

    this.queues = new ScanQueues(this, 'Queues', {
      unprocessedBucket: this.unprocessedBucket,
      unprocessedPrefix: settings.unprocessedPrefix,
      visibilityTimeout: settings.visibility,
      ...keyed,
    });
    this.quarantine = new Quarantine(this, 'Quarantine', {
      bucketName: props.quarantineBucketName,
      expirationDays: props.quarantineExpirationDays ?? 365,
      accessLogsBucket: props.accessLogsBucket,
      ...keyed,
    });

    // The mirror's URL is known once the mirror exists, after the service it waits for.
    let mirror: DefinitionsMirror | undefined;
    this.scanService = new ScanService(this, 'Scanner', {
      vpc: props.vpc,
      subnetIds,
      vpcSubnets: props.vpcSubnets,
      assignPublicIp,
      size: settings.size,
      workerImage: props.workerImage,
      clamdImage: props.clamdImage,
      stopTimeout: settings.stopTimeout,
      logRetention: settings.logRetention,
      workerEnvironment: workerEnvironment(
        {
          region: Aws.REGION,
          unprocessedBucket: this.unprocessedBucket.bucketName,
          quarantineBucket: this.quarantine.bucket.bucketName,
          unprocessedPrefix: settings.unprocessedPrefix,
          quarantinePrefix: settings.quarantinePrefix,
          inboundQueueUrl: this.queues.inbound.queueUrl,
          validationQueueUrl: this.queues.validation.queueUrl,
          topicArn: this.quarantine.topic.topicArn,
          clamdHost: '127.0.0.1',
          clamdPort: CLAMD_PORT,
          maxFileSizeMb: settings.maxFileSizeMb,
          concurrency: settings.concurrency,
          receiveAhead: settings.receiveAhead,
          visibilityTimeoutSeconds: settings.visibility.toSeconds(),
          shutdownTimeoutSeconds: settings.shutdown.toSeconds(),
          ...(props.unscannableAction ? { unscannableAction: props.unscannableAction } : {}),
          healthPort: HEALTH_PORT,
          logLevel: props.logLevel ?? DEFAULTS.logLevel,
          statusTag: settings.statusTag,
          metrics: 'emf',
          metricsNamespace: this.metricsNamespace,
          maxDefinitionsAgeHours: settings.maxDefinitionsAge.toHours(),
          staleDefinitions: 'warn',
        },
        text,
      ),
      clamdEnvironment: {
        // The task's containers share one network namespace (awsvpc): loopback only.
        CLAMD_TCP_ADDR: '127.0.0.1',
        CLAMD_TCP_PORT: String(CLAMD_PORT),
        CLAMD_MAX_THREADS: text(settings.concurrency),
        CLAMD_STREAM_MAX_LENGTH_MB: text(settings.maxFileSizeMb),
        CLAMD_MAX_SCAN_TIME_MS: String(settings.maxScanTime.toMilliseconds()),
        FRESHCLAM: 'on',
        FRESHCLAM_CHECKS: String(props.mirrorChecksPerDay ?? 24),
        FRESHCLAM_PRIVATE_MIRROR: Lazy.string({ produce: () => mirror!.url }),
      },
      grants: {
        unprocessedBucket: this.unprocessedBucket,
        unprocessedPrefix: settings.unprocessedPrefix,
        quarantineBucket: this.quarantine.bucket,
        quarantinePrefix: settings.quarantinePrefix,
        inbound: this.queues.inbound,
        validation: this.queues.validation,
        topic: this.quarantine.topic,
        statusTag: settings.statusTag,
        kmsKeyArns: props.kmsKeyArns ?? [],
        kmsKeysCondition: props.kmsKeysCondition,
        messageKey: this.messageKey,
        messageKeyCondition: props.messageEncryptionCondition,
      },
    });

    this.quarantine.restrictReads(
      this.scanService.taskDefinition.taskRole.roleArn,
      props.quarantineReaders ?? [],
      props.quarantineReadersCondition,
    );
    this.operatorPolicy = this.createOperatorPolicy(props.messageEncryptionCondition);

    mirror = new DefinitionsMirror(this, 'Mirror', {
      vpcId: props.vpc.vpcId,
      cluster: this.scanService.cluster,
      securityGroup: this.scanService.securityGroup,
      subnetIds,
      assignPublicIp,
      logGroup: this.scanService.logGroup,
      logRetention: settings.logRetention,
      clamdImage: props.clamdImage,
      awsCliImage: props.awsCliImage ?? ecs.ContainerImage.fromRegistry(DEFAULT_AWS_CLI_IMAGE),
      ...(props.awsCliImageGrant ? { awsCliImageGrant: props.awsCliImageGrant } : {}),
      schedule: props.definitionsSchedule ?? events.Schedule.cron({ minute: '23' }),
      metricsNamespace: this.metricsNamespace,
      accessLogsBucket: props.accessLogsBucket,
    });
    this.mirror = mirror;
    // The first task starts only once the mirror holds a database.
    this.scanService.service.node.addDependency(mirror.initialDefinitions);

    const endpoint = props.s3Endpoint ? this.createS3Endpoint(props.vpc.vpcId, props.s3Endpoint) : undefined;
    this.preflight =
      props.preflight === false
        ? undefined
        : this.createPreflight(props, { subnetIds, assignPublicIp, endpoint, logRetention: settings.logRetention });
    if (this.preflight) {
      mirror.initialDefinitions.node.addDependency(this.preflight);
      this.scanService.service.node.addDependency(this.preflight);
    }

    this.scaling = new Scaling(this, 'Scaling', {
      cluster: this.scanService.cluster,
      service: this.scanService.service,
      inbound: this.queues.inbound,
      minTasks: props.minTasks ?? 0,
      maxTasks: props.maxTasks ?? 10,
      targetPerTask: settings.scalingTarget,
      scaleToZeroAfter: props.scaleToZeroAfter ?? Duration.minutes(15),
      wakeUp:
        props.wakeUp === 'function' || props.wakeUpCondition
          ? {
              bucket: this.unprocessedBucket,
              prefix: settings.unprocessedPrefix,
              logRetention: settings.logRetention,
              condition: props.wakeUpCondition,
            }
          : undefined,
    });

    this.monitoring = new Alarms(this, 'Alarms', {
      metricsNamespace: this.metricsNamespace,
      inbound: this.queues.inbound,
      deadLetters: this.queues.deadLetters,
      validationDeadLetters: this.queues.validationDeadLetters,
      ...this.scaling.metrics,
      maxMessageAge: props.maxMessageAge ?? Duration.minutes(30),
      maxDefinitionsAge: settings.maxDefinitionsAge,
      maxMirrorAge: props.maxMirrorAge ?? Duration.hours(24),
      awsErrorsThreshold: props.awsErrorsThreshold ?? 10,
      updater: { cluster: this.scanService.cluster, taskDefinition: mirror.updaterTaskDefinition, logGroup: this.scanService.logGroup },
      alarmEmail: props.alarmEmail,
    });

    // ---- fail-closed reads
    this.failClosedPolicy = settings.statusTag
      ? failClosedStatements({
          objectsArn: this.unprocessedBucket.arnForObjects(`${settings.unprocessedPrefix}*`),
          statusTag: settings.statusTag,
          scannerRoleArn: this.scanService.taskDefinition.taskRole.roleArn,
          readers: props.failClosedReads?.readers ?? [],
          readersCondition: props.failClosedReads?.readersCondition,
        })
      : [];
    if (props.failClosedReads) {
      if (props.unprocessedBucketName) {
        // An imported bucket's addToResourcePolicy is a no-op; CloudFormation's
        // bucket policy replaces whatever policy the bucket had (docs/deploy.md).
        const policy = new s3.BucketPolicy(this, 'UnprocessedPolicy', { bucket: this.unprocessedBucket });
        policy.document.addStatements(enforceTls(this.unprocessedBucket), ...this.failClosedPolicy);
        if (props.failClosedReads.condition)
          (policy.node.defaultChild as s3.CfnBucketPolicy).cfnOptions.condition = props.failClosedReads.condition;
        if (this.preflight) policy.node.addDependency(this.preflight);
      } else {
        for (const statement of this.failClosedPolicy) this.unprocessedBucket.addToResourcePolicy(statement);
      }
    }

    // ---- the names the template stack, the tests and CDK users read
    this.quarantineBucket = this.quarantine.bucket;
    this.mirrorBucket = mirror.bucket;
    this.inboundQueue = this.queues.inbound;
    this.deadLetterQueue = this.queues.deadLetters;
    this.validationQueue = this.queues.validation;
    this.validationDeadLetterQueue = this.queues.validationDeadLetters;
    this.notificationTopic = this.quarantine.topic;
    this.alarmTopic = this.monitoring.topic;
    this.cluster = this.scanService.cluster;
    this.taskDefinition = this.scanService.taskDefinition;
    this.service = this.scanService.service;
    this.securityGroup = this.scanService.securityGroup;
    this.updaterTaskDefinition = mirror.updaterTaskDefinition;
    this.updaterRule = mirror.schedule;
    this.initialDefinitions = mirror.initialDefinitions;
    this.alarms = this.monitoring.alarms;
    this.dashboard = this.monitoring.dashboard;

    this.acknowledge(props);
  }

  /**
   * Exactly what the operators' commands call (deploy/test/iam/operator.json, as the
   * moto tests record it): `bucketscan rescan` lists the bucket's versions and
   * queues events, `bucketscan dlq` reads, returns and redrives the dead-letter queue.
   */
  private createOperatorPolicy(keyCondition: CfnCondition | undefined): iam.ManagedPolicy {
    const dlq = this.queues.deadLetters.queueArn;
    const inbound = this.queues.inbound.queueArn;
    const policy = new iam.ManagedPolicy(this, 'OperatorPolicy', {
      description: 'bucketscan: what the rescan and dlq commands need (attach to the operators role)',
      statements: [
        new iam.PolicyStatement({
          sid: 'RescanListsVersions',
          actions: ['s3:ListBucket', 's3:ListBucketVersions', 's3:GetBucketVersioning'],
          resources: [this.unprocessedBucket.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'QueueEvents',
          actions: ['sqs:SendMessage', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes'],
          resources: [inbound],
        }),
        new iam.PolicyStatement({
          sid: 'ReadAndRedriveDeadLetters',
          // StartMessageMoveTask also needs Receive/Delete/GetQueueAttributes on the source and SendMessage on the destination.
          actions: [
            'sqs:ReceiveMessage',
            'sqs:DeleteMessage',
            'sqs:ChangeMessageVisibility',
            'sqs:GetQueueAttributes',
            'sqs:GetQueueUrl',
            'sqs:ListMessageMoveTasks',
            'sqs:StartMessageMoveTask',
          ],
          resources: [dlq],
        }),
        ...(this.messageKey
          ? [
              new iam.PolicyStatement({
                sid: 'UseMessageKey',
                actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
                resources: [this.messageKey.keyArn],
                conditions: { StringEquals: { 'kms:ViaService': `sqs.${Stack.of(this).region}.amazonaws.com` } },
              }),
            ]
          : []),
      ],
    });
    if (this.messageKey && keyCondition) {
      // The key exists only where the condition holds: so does the statement that names it.
      const cfn = policy.node.defaultChild as iam.CfnManagedPolicy;
      const document = Stack.of(this).resolve(policy.document.toJSON()) as { Statement: unknown[] };
      cfn.addPropertyOverride('PolicyDocument.Statement.3', Fn.conditionIf(keyCondition.logicalId, document.Statement[3], Aws.NO_VALUE));
    }
    return policy;
  }

  /** The S3 gateway endpoint on the task subnets' route tables (the mirror is read through it). */
  private createS3Endpoint(vpcId: string, options: NonNullable<BucketScanProps['s3Endpoint']>): ec2.CfnVPCEndpoint {
    const endpoint = new ec2.CfnVPCEndpoint(this, 'S3Endpoint', {
      vpcId,
      serviceName: `com.amazonaws.${Aws.REGION}.s3`,
      vpcEndpointType: 'Gateway',
      routeTableIds: options.routeTableIds,
    });
    if (options.condition) endpoint.cfnOptions.condition = options.condition;
    return endpoint;
  }

  /** The customer key for the queues and the notification topic, usable by S3 (notifications) and the worker. */
  private createMessageKey(props: BucketScanProps): kms.Key {
    const key = new kms.Key(this, 'MessageKey', {
      description: 'bucketscan: queues and virus-notification topic',
      enableKeyRotation: true,
    });
    // S3 encrypts each event it sends to the inbound queue, for this account's buckets only.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'S3SendsEvents',
        principals: [new iam.ServicePrincipal('s3.amazonaws.com')],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    if (props.messageEncryptionCondition) (key.node.defaultChild as kms.CfnKey).cfnOptions.condition = props.messageEncryptionCondition;
    return key;
  }

  /**
   * The preflight check (deploy/lambda/preflight.ts): one clear error at deploy time
   * for a network the updater or the tasks cannot use, and for fail-closed reads on
   * an unversioned bucket, instead of tasks crash-looping.
   */
  private createPreflight(
    props: BucketScanProps,
    network: { subnetIds: string[]; assignPublicIp: string; endpoint: ec2.CfnVPCEndpoint | undefined; logRetention: logs.RetentionDays },
  ): CustomResource {
    const scope = new Construct(this, 'Preflight');
    const { fn, role } = smallFunction(scope, {
      code: 'preflight',
      description: 'bucketscan: check the network path and bucket versioning before the stack starts tasks',
      timeout: Duration.minutes(1),
      statements: [
        new iam.PolicyStatement({ sid: 'ReadRoutes', actions: ['ec2:DescribeRouteTables', 'ec2:DescribeVpcEndpoints'], resources: ['*'] }),
        new iam.PolicyStatement({
          sid: 'ReadVersioning',
          actions: ['s3:GetBucketVersioning'],
          resources: [this.unprocessedBucket.bucketArn],
        }),
      ],
      logRetention: network.logRetention,
    });
    const failClosed = props.failClosedReads;
    const resource = new CustomResource(scope, 'Check', {
      serviceToken: fn.functionArn,
      resourceType: 'Custom::BucketScanPreflight',
      properties: {
        VpcId: props.vpc.vpcId,
        Subnets: network.subnetIds,
        AssignPublicIp: network.assignPublicIp,
        RequireVersioning: failClosed ? (failClosed.enabled ?? 'true') : 'false',
        Bucket: this.unprocessedBucket.bucketName,
      },
    });
    resource.node.addDependency(role);
    const endpoint = network.endpoint;
    if (endpoint?.cfnOptions.condition) {
      // A DependsOn on a resource that may not exist is a template error; a reference
      // inside Fn::If orders the two only where the endpoint is created.
      (resource.node.defaultChild as CfnResource).addPropertyOverride(
        'S3Endpoint',
        Fn.conditionIf(endpoint.cfnOptions.condition.logicalId, endpoint.ref, Aws.NO_VALUE),
      );
    } else if (endpoint) {
      resource.node.addDependency(endpoint);
    }
    return resource;
  }

  /** cdk-nag findings that are deliberate, each with its reason. */
  private acknowledge(props: BucketScanProps): void {
    const ack = (scope: Construct, id: string, reason: string) => Validations.of(scope).acknowledge({ id, reason });
    // A resource as cdk-nag names it in a finding id (its flattened CloudFormation reference).
    const nagArn = (arn: string) => flattenCfnReference(Stack.of(this).resolve(arn));
    if (!props.accessLogsBucket) {
      for (const bucket of [this.unprocessedBucket, this.quarantineBucket, this.mirrorBucket]) {
        if (bucket instanceof s3.Bucket) {
          ack(
            bucket,
            'AwsSolutions-S1',
            'Server access logging is optional (accessLogsBucket); CloudTrail data events are the alternative.',
          );
        }
      }
    }
    ack(
      this.taskDefinition,
      'AwsSolutions-ECS2',
      'The worker and clamd are configured through environment variables by design (README, Configuration); none is a secret: ' +
        'the task role provides the credentials.',
    );
    ack(
      this.updaterTaskDefinition,
      'AwsSolutions-ECS2',
      "No secret: the updater's containers get names of a bucket and a namespace, only the task role.",
    );
    const worker = this.scanService.workerPolicy;
    ack(
      worker,
      `AwsSolutions-IAM5[Resource::${nagArn(this.unprocessedBucket.arnForObjects(`${this.prefixes.unprocessed}*`))}]`,
      'The worker reads, tags and removes objects that do not exist yet: every key under the unprocessed prefix.',
    );
    ack(
      worker,
      `AwsSolutions-IAM5[Resource::${nagArn(this.quarantineBucket.arnForObjects(`${this.prefixes.quarantine}*`))}]`,
      'The worker writes quarantined files and reports under the quarantine prefix, keyed by the original key.',
    );
    const taskArns = Stack.of(this).formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.cluster.clusterName}/*` });
    ack(
      worker,
      `AwsSolutions-IAM5[Resource::${nagArn(taskArns)}]`,
      "Task scale-in protection is set on the worker's own task, whose id is known only at run time: any task of this cluster.",
    );
    ack(
      this.mirror.node.findChild('InitialDefinitionsStarter').node.findChild('Role').node.findChild('DefaultPolicy'),
      `AwsSolutions-IAM5[Resource::${nagArn(taskArns)}]`,
      'The initial run describes the updater task it started, whose id is known only at run time: any task of this cluster.',
    );
    const updaterPolicy = this.updaterTaskDefinition.taskRole.node.findChild('DefaultPolicy');
    ack(
      updaterPolicy,
      `AwsSolutions-IAM5[Resource::${nagArn(this.mirrorBucket.arnForObjects('*'))}]`,
      'The updater syncs the database files of its own mirror bucket.',
    );
    // ECR's GetAuthorizationToken has no resource-level permission: it takes only "*".
    for (const policy of [
      this.scanService.node.tryFindChild('ImagePull'),
      this.mirror.node.tryFindChild('UpdaterImagePull'),
      this.mirror.node.tryFindChild('AwsCliImagePull'),
    ]) {
      if (policy)
        ack(
          policy,
          'AwsSolutions-IAM5[Resource::*]',
          'ecr:GetAuthorizationToken takes only "*" (ECR has no narrower resource for it); the pulls are per repository.',
        );
    }
    if (this.preflight) {
      ack(
        this.node.findChild('Preflight').node.findChild('Role').node.findChild('DefaultPolicy'),
        'AwsSolutions-IAM5[Resource::*]',
        'ec2:DescribeRouteTables and ec2:DescribeVpcEndpoints have no resource-level permissions: they take only "*" (read-only).',
      );
    }
    // CDK's EcsTask target lets EventBridge tag the task it starts: task/<cluster>/*.
    const eventsPolicy = this.updaterTaskDefinition.node.findChild('EventsRole').node.findChild('DefaultPolicy');
    const document = Stack.of(this).resolve((eventsPolicy.node.defaultChild as iam.CfnPolicy).policyDocument) as {
      Statement: Array<{ Resource: unknown }>;
    };
    for (const resource of document.Statement.flatMap((statement) => [statement.Resource].flat())) {
      const flat = flattenCfnReference(resource);
      if (flat.includes(':task/')) {
        ack(
          eventsPolicy,
          `AwsSolutions-IAM5[Resource::${flat}]`,
          "Written by CDK's EcsTask target: EventBridge tags the task it starts, whose id is not known in advance.",
        );
      }
    }
    const handler = Stack.of(this).node.tryFindChild('BucketNotificationsHandler050a0587b7544547bf325f094a3db834');
    if (handler) {
      ack(
        handler,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        "CDK's own handler that sets S3 bucket notifications (it merges with existing ones); it only writes its logs with this policy.",
      );
    }
    ack(this.deadLetterQueue, 'AwsSolutions-SQS3', "This queue is the inbound queue's dead-letter queue.");
    ack(this.validationDeadLetterQueue, 'AwsSolutions-SQS3', "This queue is the validation queue's dead-letter queue.");
  }
}

/** A number as an environment value; a token (a template parameter) stays a token. */
function text(value: number): string {
  return Token.isUnresolved(value) ? Token.asString(value) : String(value);
}

function resolveSettings(props: BucketScanProps): Settings {
  const problem = (message: string): never => {
    throw new Error(`BucketScan: ${message}`);
  };
  const maxFileSizeMb = props.maxFileSizeMb ?? DEFAULTS.maxFileSizeMb;
  const concurrency = props.concurrency ?? DEFAULTS.concurrency;
  const receiveAhead = receiveAheadFor(concurrency, props.receiveAhead);
  const tokens = Token.isUnresolved(concurrency) || Token.isUnresolved(receiveAhead);
  if (props.scalingTarget === undefined && tokens) problem('scalingTarget is required when concurrency or receiveAhead is a token');
  const scalingTarget = props.scalingTarget ?? concurrency + receiveAhead;
  const statusTag = props.scanStatusTag ?? DEFAULT_STATUS_TAG;
  const shutdown = props.shutdownTimeout ?? Duration.seconds(105);
  const maxScanTime = props.maxScanTime ?? Duration.seconds(90);
  const stopTimeout = Duration.seconds(
    Math.min(FARGATE_MAX_STOP_TIMEOUT.toSeconds(), shutdown.toSeconds() + AFTER_SCAN_MARGIN.toSeconds()),
  );

  if (props.failClosedReads && !statusTag) problem('failClosedReads needs scanStatusTag: the policy reads the status tag');
  const min = props.minTasks ?? 0;
  const max = props.maxTasks ?? 10;
  if (!Token.isUnresolved(min) && !Token.isUnresolved(max) && (min < 0 || max < 1 || min > max)) {
    problem(`minTasks ${min} and maxTasks ${max} must satisfy 0 <= minTasks <= maxTasks, maxTasks >= 1`);
  }
  // A stopping task finishes what it scans: clamd ends a scan within MaxScanTime,
  // the worker's network steps follow, all within SHUTDOWN_TIMEOUT, and the worker
  // exits before Fargate's SIGKILL (stopTimeout, at most 120 s).
  if (shutdown.toSeconds() + EXIT_MARGIN.toSeconds() > FARGATE_MAX_STOP_TIMEOUT.toSeconds()) {
    problem(
      `shutdownTimeout must be at most ${FARGATE_MAX_STOP_TIMEOUT.toSeconds() - EXIT_MARGIN.toSeconds()} seconds (Fargate stops a container after 120 s at most)`,
    );
  }
  if (maxScanTime.toSeconds() + AFTER_SCAN_MARGIN.toSeconds() > shutdown.toSeconds()) {
    problem(
      `maxScanTime (${maxScanTime.toSeconds()} s) + ${AFTER_SCAN_MARGIN.toSeconds()} s must be at most shutdownTimeout (${shutdown.toSeconds()} s): ` +
        'a scan that a stopping task cannot finish counts as a receive, and five of those dead-letter a clean file',
    );
  }
  if (maxScanTime.toSeconds() >= DEFAULTS.clamdTimeoutSeconds) {
    problem(
      `maxScanTime must be below the worker's CLAMD_TIMEOUT (${DEFAULTS.clamdTimeoutSeconds} s), so clamd answers before the worker gives up`,
    );
  }
  return {
    maxFileSizeMb,
    concurrency,
    receiveAhead,
    scalingTarget,
    size: props.taskSize ?? taskSize(maxFileSizeMb, concurrency),
    visibility: props.visibilityTimeout ?? Duration.seconds(DEFAULTS.visibilityTimeoutSeconds),
    shutdown,
    stopTimeout,
    maxScanTime,
    statusTag,
    unprocessedPrefix: normalisePrefix(props.unprocessedPrefix),
    quarantinePrefix: normalisePrefix(props.quarantinePrefix),
    maxDefinitionsAge: props.maxDefinitionsAge ?? Duration.hours(DEFAULTS.maxDefinitionsAgeHours),
    logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
  };
}
