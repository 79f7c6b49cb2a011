/**
 * BucketScan: everything a bucketscan deployment needs in one AWS account, as a
 * CDK construct. S3 ObjectCreated events go to an encrypted SQS queue (with a
 * dead-letter queue); an ECS Fargate service runs the worker with clamd beside
 * it, scaled on the backlog down to zero; infected files go to a quarantine
 * bucket and an SNS topic; alarms go to a second topic; ClamAV definitions come
 * from one scheduled updater through a private mirror, never from every task to
 * the public CDN. docs/deploy.md explains each choice.
 */
import { Aws, type CfnCondition, CustomResource, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import { Construct } from 'constructs';
import { failClosedStatements } from './fail-closed-policy.ts';
import { taskSize, type TaskSize } from './sizing.ts';

/** The clamd container listens here; the worker reaches it over the task's shared loopback. */
export const CLAMD_PORT = 3310;
/** The worker's /healthz and /readyz (HEALTH_PORT), used by the container health check only. */
export const HEALTH_PORT = 8080;
/** The redrive policy's receive count, as the README's retry table describes. */
export const MAX_RECEIVE_COUNT = 5;
export const WORKER_CONTAINER = 'worker';
export const CLAMD_CONTAINER = 'clamd';
/** Inside the clamd image (images/clamd): sends zPING and expects PONG. */
export const CLAMD_HEALTHCHECK = '/usr/local/bin/clamd-healthcheck';
/** The official CDN that only the updater talks to. */
export const CLAMAV_CDN = 'database.clamav.net';

export interface BucketScanProps {
  /** The VPC the tasks run in. It needs an S3 gateway endpoint: the tasks' freshclam reads the definitions mirror through it. */
  readonly vpc: ec2.IVpc;
  /** Subnets for the tasks (default: the VPC's private subnets with egress). */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** Give the tasks a public IP (public subnets without a NAT gateway). Default false. A string is 'ENABLED' or 'DISABLED' (a template parameter). */
  readonly assignPublicIp?: boolean | string;

  /** The worker image (the repository's Dockerfile). */
  readonly workerImage: ecs.ContainerImage;
  /** The clamd image (images/clamd/Dockerfile). It also runs the updater's freshclam. */
  readonly clamdImage: ecs.ContainerImage;
  /** An image with the AWS CLI v2 (`aws s3 sync`) for the updater. Default: public.ecr.aws/aws-cli/aws-cli, pinned. */
  readonly awsCliImage?: ecs.ContainerImage;

  /** An existing bucket to watch, by name. Default: a new, versioned bucket. */
  readonly unprocessedBucketName?: string;
  /** An existing quarantine bucket, by name. Default: a new one (versioned, lifecycle, TLS only). */
  readonly quarantineBucketName?: string;
  /** Only keys under this prefix are announced and scanned (UNPROCESSED_PREFIX). */
  readonly unprocessedPrefix?: string;
  /** Put before the original key in the quarantine bucket (QUARANTINE_PREFIX). */
  readonly quarantinePrefix?: string;
  /** A new quarantine bucket expires objects (and noncurrent versions) after this many days; 0 keeps them. Default 365. */
  readonly quarantineExpirationDays?: number;
  /** Server access logs of the buckets this construct creates go here. Default: none. */
  readonly accessLogsBucket?: s3.IBucket;
  /** KMS keys (ARNs) of existing buckets that use SSE-KMS: the worker may use exactly these. */
  readonly kmsKeyArns?: string[];

  /** MAX_FILE_SIZE (MB). Default 100. */
  readonly maxFileSizeMb?: number;
  /** CONCURRENCY: scans in work per task. Default 4. */
  readonly concurrency?: number;
  /** Task CPU, memory and storage. Default: computed from maxFileSizeMb and concurrency (sizing.ts). */
  readonly taskSize?: TaskSize;
  /** VISIBILITY_TIMEOUT and the queue's visibility timeout. Default 120 s. */
  readonly visibilityTimeout?: Duration;
  /** SHUTDOWN_TIMEOUT. Default 25 s; the container's stopTimeout is 10 s more. */
  readonly shutdownTimeout?: Duration;
  /** UNSCANNABLE_ACTION. Default quarantine. */
  readonly unscannableAction?: 'quarantine' | 'forward';
  /** SCAN_STATUS_TAG; '' turns status tags off (and the tagging permissions with them). Default bucketscan-status. */
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

  /** Log retention. Default one month. */
  readonly logRetention?: logs.RetentionDays;

  /** An email address subscribed to the alarm topic. */
  readonly alarmEmail?: string;
  /** Alarm when the oldest inbound message is older than this. Default 30 minutes. */
  readonly maxMessageAge?: Duration;
  /** MAX_DEFINITIONS_AGE, and the alarm threshold on the definitions' age. Default 48 hours. */
  readonly maxDefinitionsAge?: Duration;

  /** Apply the fail-closed read policy to the unprocessed bucket (requires scanStatusTag). Default off. */
  readonly failClosedReads?: {
    /** Role ARNs that may read objects whatever their status tag (a list token is accepted). */
    readonly readers?: string[];
    /** Create the policy only where this condition holds (the template's switch). */
    readonly condition?: CfnCondition;
    /** The readers are used only where this condition holds (the template's empty-list case). */
    readonly readersCondition?: CfnCondition;
  };

  /** How often the updater asks the ClamAV CDN for new definitions. Default hourly, at minute 23 (ClamAV asks for at most once an hour, off the hour). */
  readonly definitionsSchedule?: events.Schedule;
  /** freshclam checks per day in each scanning task, against the private mirror. Default 24. */
  readonly mirrorChecksPerDay?: number;
}

/** What the container environments are made of, for tests that run the images with exactly these values. */
export interface ContainerEnvironments {
  worker: Record<string, string>;
  clamd: Record<string, string>;
}

export class BucketScan extends Construct {
  public readonly unprocessedBucket: s3.IBucket;
  public readonly quarantineBucket: s3.IBucket;
  public readonly mirrorBucket: s3.Bucket;
  public readonly inboundQueue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly validationQueue: sqs.Queue;
  public readonly validationDeadLetterQueue: sqs.Queue;
  /** Reports of quarantined files (README, "The report"): subscribe here. */
  public readonly notificationTopic: sns.Topic;
  public readonly alarmTopic: sns.Topic;
  public readonly cluster: ecs.Cluster;
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly service: ecs.FargateService;
  public readonly updaterTaskDefinition: ecs.FargateTaskDefinition;
  public readonly updaterRule: events.Rule;
  /** Runs the updater once when the stack is created. */
  public readonly initialDefinitions: CustomResource;
  public readonly securityGroup: ec2.SecurityGroup;
  public readonly alarms: Record<'deadLetters' | 'oldestMessage' | 'staleDefinitions' | 'noTaskWithBacklog', cloudwatch.Alarm>;
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly metricsNamespace: string;
  /** UNPROCESSED_PREFIX and QUARANTINE_PREFIX as the worker gets them. */
  public readonly prefixes: { unprocessed: string; quarantine: string };
  /** The fail-closed statements, also when not applied: add them to your own bucket policy. */
  public readonly failClosedPolicy: iam.PolicyStatement[];

  constructor(scope: Construct, id: string, props: BucketScanProps) {
    super(scope, id);
    const maxFileSizeMb = props.maxFileSizeMb ?? 100;
    const concurrency = props.concurrency ?? 4;
    const size = props.taskSize ?? taskSize(maxFileSizeMb, concurrency);
    const visibility = props.visibilityTimeout ?? Duration.seconds(120);
    const shutdown = props.shutdownTimeout ?? Duration.seconds(25);
    const statusTag = props.scanStatusTag ?? 'bucketscan-status';
    const unprocessedPrefix = normalisePrefix(props.unprocessedPrefix);
    const quarantinePrefix = normalisePrefix(props.quarantinePrefix);
    const maxDefinitionsAge = props.maxDefinitionsAge ?? Duration.hours(48);
    this.metricsNamespace = props.metricsNamespace ?? `bucketscan/${Aws.STACK_NAME}`;
    checkProps(props, statusTag, shutdown);
    this.prefixes = { unprocessed: unprocessedPrefix, quarantine: quarantinePrefix };

    // ---------------------------------------------------------------- buckets
    this.unprocessedBucket = props.unprocessedBucketName
      ? s3.Bucket.fromBucketName(this, 'Unprocessed', props.unprocessedBucketName)
      : new s3.Bucket(this, 'Unprocessed', {
          ...secureBucketDefaults(props.accessLogsBucket, 'unprocessed/'),
          // Versioned so that events carry a versionId and the scan is pinned to it.
          versioned: true,
        });

    this.quarantineBucket = props.quarantineBucketName
      ? s3.Bucket.fromBucketName(this, 'Quarantine', props.quarantineBucketName)
      : new s3.Bucket(this, 'Quarantine', {
          ...secureBucketDefaults(props.accessLogsBucket, 'quarantine/'),
          versioned: true,
          lifecycleRules: quarantineLifecycle(props.quarantineExpirationDays ?? 365),
        });

    // The definitions mirror: freshclam in every task reads it over HTTPS, through
    // the VPC's S3 gateway endpoint. See definitionsMirrorPolicy below.
    this.mirrorBucket = new s3.Bucket(this, 'DefinitionsMirror', {
      ...secureBucketDefaults(props.accessLogsBucket, 'definitions-mirror/'),
      versioned: false,
    });

    // ----------------------------------------------------------------- queues
    this.deadLetterQueue = new sqs.Queue(this, 'InboundDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // A message keeps its first enqueue time when it is dead-lettered, so the
      // dead-letter queue must keep messages longer than the inbound queue does.
      retentionPeriod: Duration.days(14),
    });
    this.inboundQueue = new sqs.Queue(this, 'Inbound', {
      // SSE-SQS: S3 can deliver events to it without a customer key policy, and the
      // worker needs no KMS permission to read it.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: visibility,
      receiveMessageWaitTime: Duration.seconds(20),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    this.validationDeadLetterQueue = new sqs.Queue(this, 'ValidationDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.validationQueue = new sqs.Queue(this, 'Validation', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.validationDeadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });

    // S3 may send to the inbound queue only on behalf of the watched bucket in
    // this account (the confused-deputy guard).
    const s3MaySend = this.inboundQueue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowUnprocessedBucketNotifications',
        principals: [new iam.ServicePrincipal('s3.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [this.inboundQueue.queueArn],
        conditions: {
          ArnEquals: { 'aws:SourceArn': this.unprocessedBucket.bucketArn },
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        },
      }),
    );
    this.unprocessedBucket.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      {
        bind: () => ({
          arn: this.inboundQueue.queueArn,
          type: s3.BucketNotificationDestinationType.QUEUE,
          // S3 checks that it may send when the notification is saved.
          dependencies: s3MaySend.policyDependable ? [s3MaySend.policyDependable] : [],
        }),
      },
      ...(unprocessedPrefix ? [{ prefix: unprocessedPrefix }] : []),
    );

    // ----------------------------------------------------------------- topics
    this.notificationTopic = new sns.Topic(this, 'VirusNotifications', {
      // The AWS managed key: reports name files and submissions. Publishing needs
      // no KMS permission in IAM (the key's policy admits the account through SNS).
      masterKey: kms.Alias.fromAliasName(this, 'SnsManagedKey', 'alias/aws/sns'),
      enforceSSL: true,
    });
    this.alarmTopic = new sns.Topic(this, 'Alarms', { enforceSSL: true });
    Validations.of(this.alarmTopic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason:
        'CloudWatch alarms cannot publish to a topic encrypted with the AWS managed SNS key, and a customer key would be the only ' +
        'per-month cost of an idle deployment; alarm messages name alarms and thresholds, never files.',
    });
    if (props.alarmEmail) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }

    // ------------------------------------------------------------------- logs
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH });

    // -------------------------------------------------------------------- ECS
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.securityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: props.vpc,
      description: 'bucketscan tasks: no inbound; outbound HTTPS only (S3, SQS, SNS, CloudWatch Logs, ECR, the definitions mirror)',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS endpoints');

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: size.cpu,
      memoryLimitMiB: size.memoryMiB,
      ephemeralStorageGiB: size.ephemeralStorageGiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    this.taskDefinition.addVolume({ name: 'clamav-database' });
    this.taskDefinition.addVolume({ name: 'clamd-spool' });

    const mirrorUrl = `https://${this.mirrorBucket.bucketRegionalDomainName}`;
    const clamdEnvironment: Record<string, string> = {
      // The task's containers share one network namespace (awsvpc): loopback only.
      CLAMD_TCP_ADDR: '127.0.0.1',
      CLAMD_TCP_PORT: String(CLAMD_PORT),
      CLAMD_MAX_THREADS: text(concurrency),
      CLAMD_STREAM_MAX_LENGTH_MB: text(maxFileSizeMb),
      FRESHCLAM: 'on',
      FRESHCLAM_CHECKS: String(props.mirrorChecksPerDay ?? 24),
      FRESHCLAM_PRIVATE_MIRROR: mirrorUrl,
    };
    const clamd = this.taskDefinition.addContainer(CLAMD_CONTAINER, {
      image: props.clamdImage,
      essential: true,
      // A soft limit: clamd may use more while it reloads the database, as long as
      // the task has it; the worker has a hard limit so it cannot take it away.
      memoryReservationMiB: size.clamdMemoryMiB,
      environment: clamdEnvironment,
      healthCheck: {
        command: ['CMD', CLAMD_HEALTHCHECK],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        // The first start downloads the database from the mirror and loads it.
        startPeriod: Duration.seconds(300),
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: CLAMD_CONTAINER, mode: ecs.AwsLogDriverMode.BLOCKING }),
    });
    clamd.addMountPoints(
      { sourceVolume: 'clamav-database', containerPath: '/var/lib/clamav', readOnly: false },
      { sourceVolume: 'clamd-spool', containerPath: '/var/spool/clamd', readOnly: false },
    );

    const workerEnvironment: Record<string, string> = {
      BUCKETSCAN_ENV_FILE: 'none',
      AWS_REGION: Aws.REGION,
      UNPROCESSED_BUCKET_NAME: this.unprocessedBucket.bucketName,
      QUARANTINE_BUCKET_NAME: this.quarantineBucket.bucketName,
      UNPROCESSED_PREFIX: unprocessedPrefix,
      QUARANTINE_PREFIX: quarantinePrefix,
      VIRUS_SCANNING_QUEUE_URL: this.inboundQueue.queueUrl,
      VALIDATION_QUEUE_URL: this.validationQueue.queueUrl,
      VIRUS_NOTIFICATION_TOPIC_ARN: this.notificationTopic.topicArn,
      CLAMD_HOST: '127.0.0.1',
      CLAMD_PORT: String(CLAMD_PORT),
      MAX_FILE_SIZE: text(maxFileSizeMb),
      CONCURRENCY: text(concurrency),
      VISIBILITY_TIMEOUT: String(visibility.toSeconds()),
      SHUTDOWN_TIMEOUT: String(shutdown.toSeconds()),
      UNSCANNABLE_ACTION: props.unscannableAction ?? 'quarantine',
      HEALTH_PORT: String(HEALTH_PORT),
      LOG_LEVEL: props.logLevel ?? 'info',
      SCAN_STATUS_TAG: statusTag,
      METRICS: 'emf',
      METRICS_NAMESPACE: this.metricsNamespace,
      MAX_DEFINITIONS_AGE: String(maxDefinitionsAge.toHours()),
      STALE_DEFINITIONS: 'warn',
    };
    const worker = this.taskDefinition.addContainer(WORKER_CONTAINER, {
      image: props.workerImage,
      essential: true,
      memoryLimitMiB: 512,
      readonlyRootFilesystem: true,
      environment: workerEnvironment,
      // ECS sends SIGTERM, waits stopTimeout, then SIGKILL: give the worker its
      // SHUTDOWN_TIMEOUT to finish work in progress and return the rest.
      stopTimeout: shutdown.plus(Duration.seconds(10)),
      healthCheck: {
        command: [
          'CMD',
          'node',
          '-e',
          `fetch('http://127.0.0.1:${HEALTH_PORT}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
        ],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: WORKER_CONTAINER, mode: ecs.AwsLogDriverMode.BLOCKING }),
    });
    // Started once clamd answers PING with its database loaded; ECS stops
    // containers in the reverse order, so clamd outlives the worker's drain.
    worker.addContainerDependencies({ container: clamd, condition: ecs.ContainerDependencyCondition.HEALTHY });

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      vpcSubnets: props.vpcSubnets,
      assignPublicIp: props.assignPublicIp === true,
      securityGroups: [this.securityGroup],
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      enableExecuteCommand: false,
    });

    const publicIp = publicIpSetting(props.assignPublicIp);
    if (typeof props.assignPublicIp === 'string') {
      (this.service.node.defaultChild as ecs.CfnService).addPropertyOverride(
        'NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp',
        publicIp,
      );
    }

    // -------------------------------------------------------------------- IAM
    this.grantWorker(this.taskDefinition.taskRole, {
      unprocessedPrefix,
      quarantinePrefix,
      statusTag,
      kmsKeyArns: props.kmsKeyArns ?? [],
    });

    // -------------------------------------------------- fail-closed reads
    this.failClosedPolicy = statusTag
      ? failClosedStatements({
          objectsArn: this.unprocessedBucket.arnForObjects(`${unprocessedPrefix}*`),
          statusTag,
          scannerRoleArn: this.taskDefinition.taskRole.roleArn,
          readers: props.failClosedReads?.readers ?? [],
          readersCondition: props.failClosedReads?.readersCondition,
        })
      : [];
    if (props.failClosedReads) {
      if (props.unprocessedBucketName) {
        // An imported bucket's addToResourcePolicy is a no-op; CloudFormation's
        // bucket policy replaces whatever policy the bucket had (docs/deploy.md).
        const policy = new s3.BucketPolicy(this, 'UnprocessedPolicy', { bucket: this.unprocessedBucket });
        policy.document.addStatements(...enforceTls(this.unprocessedBucket), ...this.failClosedPolicy);
        if (props.failClosedReads.condition)
          (policy.node.defaultChild as s3.CfnBucketPolicy).cfnOptions.condition = props.failClosedReads.condition;
      } else {
        for (const statement of this.failClosedPolicy) this.unprocessedBucket.addToResourcePolicy(statement);
      }
    }

    // ---------------------------------------------------------- definitions
    const updater = this.definitionsUpdater(props, logGroup);
    this.updaterTaskDefinition = updater.taskDefinition;
    this.updaterRule = updater.rule;
    this.initialDefinitions = updater.initial;

    // ------------------------------------------------------------- scaling
    const running = new cloudwatch.Metric({
      namespace: 'ECS/ContainerInsights',
      metricName: 'RunningTaskCount',
      dimensionsMap: { ClusterName: this.cluster.clusterName, ServiceName: this.service.serviceName },
      statistic: 'Average',
      period: Duration.minutes(1),
    });
    const visible = this.inboundQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: Duration.minutes(1) });
    const inFlight = this.inboundQueue.metricApproximateNumberOfMessagesNotVisible({ statistic: 'Maximum', period: Duration.minutes(1) });
    this.addScaling(props, concurrency, { running, visible, inFlight });

    // -------------------------------------------------------------- alarms
    const alarmAction = new cwActions.SnsAction(this.alarmTopic);
    const deadLetters = new cloudwatch.Alarm(this, 'DeadLettersAlarm', {
      alarmDescription: 'bucketscan: messages in the inbound dead-letter queue (see `bucketscan dlq list`)',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: Duration.minutes(5) }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const maxAge = props.maxMessageAge ?? Duration.minutes(30);
    const oldestMessage = new cloudwatch.Alarm(this, 'OldestMessageAlarm', {
      alarmDescription: `bucketscan: an inbound message has waited more than ${maxAge.toHumanString()}`,
      metric: this.inboundQueue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: Duration.minutes(5) }),
      threshold: maxAge.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const definitionsAge = new cloudwatch.Metric({
      namespace: this.metricsNamespace,
      metricName: 'bucketscan_definitions_age_seconds',
      statistic: 'Maximum',
      period: Duration.minutes(15),
    });
    const staleDefinitions = new cloudwatch.Alarm(this, 'StaleDefinitionsAlarm', {
      alarmDescription: `bucketscan: the ClamAV definitions a task uses are older than ${maxDefinitionsAge.toHumanString()}`,
      metric: definitionsAge,
      threshold: maxDefinitionsAge.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // No task, no metric: scaled to zero is not stale.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const noTask = new cloudwatch.Alarm(this, 'NoTaskWithBacklogAlarm', {
      alarmDescription: 'bucketscan: messages are waiting and no task has been running for 10 minutes',
      metric: new cloudwatch.MathExpression({
        expression: 'IF(FILL(running, 0) < 1 AND visible >= 1, 1, 0)',
        usingMetrics: { running, visible },
        period: Duration.minutes(1),
        label: 'backlog without a running task',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 10,
      datapointsToAlarm: 10,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarms = { deadLetters, oldestMessage, staleDefinitions, noTaskWithBacklog: noTask };
    for (const alarm of Object.values(this.alarms)) {
      alarm.addAlarmAction(alarmAction);
      alarm.addOkAction(alarmAction);
    }

    // ------------------------------------------------------------ dashboard
    this.dashboard = this.addDashboard({ visible, inFlight, running, definitionsAge });

    // ------------------------------------------------------ acknowledgements
    this.acknowledge(props);
  }

  /**
   * The task role's permissions, exactly what the worker's code calls (docs/deploy.md
   * lists each action with the SDK command that needs it).
   */
  private grantWorker(
    role: iam.IRole,
    options: { unprocessedPrefix: string; quarantinePrefix: string; statusTag: string; kmsKeyArns: string[] },
  ): void {
    const unprocessedObjects = this.unprocessedBucket.arnForObjects(`${options.unprocessedPrefix}*`);
    const quarantineObjects = this.quarantineBucket.arnForObjects(`${options.quarantinePrefix}*`);
    const statements = [
      new iam.PolicyStatement({
        sid: 'ReadAndRemoveScannedObjects',
        // GetObject pinned to a version (and the source side of CopyObject /
        // UploadPartCopy); DeleteObject with a VersionId removes the infected version.
        // Get*Tagging: a copy carries the source's tags (TaggingDirective COPY), and
        // the status tag is merged into the object's other tags.
        actions: [
          's3:GetObject',
          's3:GetObjectVersion',
          's3:GetObjectTagging',
          's3:GetObjectVersionTagging',
          's3:DeleteObject',
          's3:DeleteObjectVersion',
        ],
        resources: [unprocessedObjects],
      }),
      new iam.PolicyStatement({
        sid: 'KnowMissingObjects',
        // Without ListBucket S3 answers 403 instead of 404 for a missing key: a file
        // deleted before its scan would be retried into the dead-letter queue
        // instead of being dropped, and a missing report would fail every quarantine.
        actions: ['s3:ListBucket'],
        resources: [this.unprocessedBucket.bucketArn, this.quarantineBucket.bucketArn],
      }),
      new iam.PolicyStatement({
        sid: 'WriteQuarantine',
        // PutObject: CopyObject, the multipart copy (Create/UploadPartCopy/Complete)
        // and the report. GetObject: HeadObject and GetObject of a stored report
        // (resuming an interrupted quarantine) and the report's metadata update
        // (a copy onto itself). Tagging: copies keep their tags; the status tag.
        actions: ['s3:PutObject', 's3:PutObjectTagging', 's3:GetObject', 's3:GetObjectTagging', 's3:AbortMultipartUpload'],
        resources: [quarantineObjects],
      }),
      new iam.PolicyStatement({
        sid: 'ConsumeInboundQueue',
        // DeleteMessageBatch and ChangeMessageVisibility(Batch) use these actions;
        // GetQueueAttributes reads the redrive policy's maxReceiveCount.
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes'],
        resources: [this.inboundQueue.queueArn],
      }),
      new iam.PolicyStatement({
        sid: 'ForwardCleanFiles',
        // SendMessageBatch uses sqs:SendMessage.
        actions: ['sqs:SendMessage', 'sqs:GetQueueUrl'],
        resources: [this.validationQueue.queueArn],
      }),
      new iam.PolicyStatement({
        sid: 'PublishReports',
        actions: ['sns:Publish'],
        resources: [this.notificationTopic.topicArn],
      }),
    ];
    if (options.statusTag) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'WriteStatusTag',
          // S3 replaces the whole tag set on every write, so the worker rewrites the
          // object's other tags too; what IAM can enforce is that every tag write
          // it makes sets the status tag.
          actions: ['s3:PutObjectTagging', 's3:PutObjectVersionTagging'],
          resources: [unprocessedObjects],
          conditions: { 'ForAnyValue:StringEquals': { 's3:RequestObjectTagKeys': [options.statusTag] } },
        }),
      );
    }
    if (options.kmsKeyArns.length > 0) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'UseBucketKeys',
          // Decrypt to read an SSE-KMS object; GenerateDataKey to write its
          // quarantined copy under the same key; only through S3.
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: options.kmsKeyArns,
          conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
        }),
      );
    }
    const policy = new iam.Policy(this, 'WorkerPolicy', { statements });
    policy.attachToRole(role);
  }

  /**
   * One updater for the whole fleet: an hourly Fargate task restores the mirror
   * from its bucket, lets freshclam fetch what the CDN has that is newer (DNS
   * first, then only the changed files), and publishes the signed .cvd files back.
   * The scanning tasks' freshclam reads the bucket as its PrivateMirror.
   */
  private definitionsUpdater(props: BucketScanProps, logGroup: logs.ILogGroup) {
    const vpcId = props.vpc.vpcId;
    // freshclam cannot sign requests, so the mirror is read anonymously, but only
    // from inside this VPC (through its S3 gateway endpoint): aws:SourceVpc is a
    // fixed value, so S3's Block Public Access does not count this as public.
    // ListBucket makes S3 answer 404, not 403, for a file the mirror lacks, which
    // freshclam treats as "try the .cvd" rather than as being blocked.
    this.mirrorBucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ReadMirrorFromTheVpc',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject', 's3:ListBucket'],
        resources: [this.mirrorBucket.bucketArn, this.mirrorBucket.arnForObjects('*')],
        conditions: { StringEquals: { 'aws:SourceVpc': vpcId } },
      }),
    );

    const taskDefinition = new ecs.FargateTaskDefinition(this, 'UpdaterTask', {
      cpu: 1024,
      // freshclam test-loads a new database before it keeps it (about 1.2 GiB).
      memoryLimitMiB: 3072,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    taskDefinition.addVolume({ name: 'database' });
    const awsCli = props.awsCliImage ?? ecs.ContainerImage.fromRegistry(DEFAULT_AWS_CLI_IMAGE);
    const bucket = `s3://${this.mirrorBucket.bucketName}`;
    const logging = (prefix: string) => ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: `updater-${prefix}` });

    const restore = taskDefinition.addContainer('restore', {
      image: awsCli,
      essential: false,
      entryPoint: ['/bin/sh', '-c'],
      // freshclam.dat keeps freshclam's cool-down state (a 429 from the CDN) across runs.
      command: [
        `aws s3 sync ${bucket}/ /database/ --no-progress --exclude '*' --include '*.cvd' --include 'freshclam.dat' && chmod -R a+rwX /database`,
      ],
      logging: logging('restore'),
    });
    restore.addMountPoints({ sourceVolume: 'database', containerPath: '/database', readOnly: false });

    const freshclam = taskDefinition.addContainer('freshclam', {
      image: props.clamdImage,
      essential: false,
      entryPoint: ['/bin/sh', '-c'],
      command: [FRESHCLAM_SCRIPT],
      logging: logging('freshclam'),
    });
    freshclam.addMountPoints({ sourceVolume: 'database', containerPath: '/var/lib/clamav', readOnly: false });
    freshclam.addContainerDependencies({ container: restore, condition: ecs.ContainerDependencyCondition.SUCCESS });

    const publish = taskDefinition.addContainer('publish', {
      image: awsCli,
      essential: true,
      entryPoint: ['/bin/sh', '-c'],
      // Only the signed .cvd files are served: freshclam verifies their signature,
      // so the mirror cannot hand a task a database the CDN did not sign.
      command: [`aws s3 sync /database/ ${bucket}/ --no-progress --exclude '*' --include '*.cvd' --include 'freshclam.dat'`],
      logging: logging('publish'),
    });
    publish.addMountPoints({ sourceVolume: 'database', containerPath: '/database', readOnly: true });
    publish.addContainerDependencies({ container: freshclam, condition: ecs.ContainerDependencyCondition.SUCCESS });

    // `aws s3 sync` lists, reads and writes; nothing else.
    taskDefinition.addToTaskRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.mirrorBucket.bucketArn] }));
    taskDefinition.addToTaskRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [this.mirrorBucket.arnForObjects('*')] }),
    );

    const rule: events.Rule = new events.Rule(this, 'UpdaterSchedule', {
      description: 'bucketscan: refresh the ClamAV definitions mirror',
      schedule: props.definitionsSchedule ?? events.Schedule.cron({ minute: '23' }),
      targets: [
        new targets.EcsTask({
          cluster: this.cluster,
          taskDefinition,
          subnetSelection: props.vpcSubnets,
          securityGroups: [this.securityGroup],
          assignPublicIp: props.assignPublicIp === true,
          launchType: ecs.LaunchType.FARGATE,
          platformVersion: ecs.FargatePlatformVersion.LATEST,
        }),
      ],
    });

    if (typeof props.assignPublicIp === 'string') {
      (rule.node.defaultChild as events.CfnRule).addPropertyOverride(
        'Targets.0.EcsParameters.NetworkConfiguration.AwsVpcConfiguration.AssignPublicIp',
        publicIpSetting(props.assignPublicIp),
      );
    }

    // Fill the mirror once at creation, so that the first scanning task does not
    // wait for the first scheduled run (up to an hour). Inline code, so that the
    // template needs no asset bucket: `aws cloudformation deploy` takes it as is.
    const subnets = props.vpc.selectSubnets(props.vpcSubnets).subnetIds;
    const starterLogs = new logs.LogGroup(this, 'InitialDefinitionsLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });
    const starterRole = new iam.Role(this, 'InitialDefinitionsRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'bucketscan: start the definitions updater once when the stack is created',
    });
    starterRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['ecs:RunTask'],
        resources: [taskDefinition.taskDefinitionArn],
        conditions: { ArnEquals: { 'ecs:cluster': this.cluster.clusterArn } },
      }),
    );
    starterRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [taskDefinition.taskRole.roleArn, taskDefinition.obtainExecutionRole().roleArn],
      }),
    );
    starterRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [starterLogs.logGroupArn],
      }),
    );
    const starter = new lambda.Function(this, 'InitialDefinitionsFunction', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline(START_UPDATER_SOURCE),
      timeout: Duration.minutes(1),
      role: starterRole,
      logGroup: starterLogs,
      description: 'bucketscan: start the definitions updater once when the stack is created',
    });
    const initial = new CustomResource(this, 'InitialDefinitions', {
      serviceToken: starter.functionArn,
      resourceType: 'Custom::BucketScanInitialDefinitions',
      properties: {
        Cluster: this.cluster.clusterArn,
        TaskDefinition: taskDefinition.taskDefinitionArn,
        Subnets: subnets,
        SecurityGroups: [this.securityGroup.securityGroupId],
        AssignPublicIp: publicIpSetting(props.assignPublicIp),
      },
    });
    return { taskDefinition, rule, initial };
  }

  /**
   * Backlog per task, target tracking on the L1 policy (the L2 refuses metric
   * math), plus two step policies for the edges target tracking cannot handle:
   * out of zero (its proportional rule multiplies zero tasks) and down to zero.
   */
  private addScaling(
    props: BucketScanProps,
    concurrency: number,
    m: { running: cloudwatch.Metric; visible: cloudwatch.Metric; inFlight: cloudwatch.Metric },
  ): void {
    const scaling = new appscaling.ScalableTarget(this, 'TaskCount', {
      serviceNamespace: appscaling.ServiceNamespace.ECS,
      resourceId: `service/${this.cluster.clusterName}/${this.service.serviceName}`,
      scalableDimension: 'ecs:service:DesiredCount',
      minCapacity: props.minTasks ?? 0,
      maxCapacity: props.maxTasks ?? 10,
    });

    // Load per task = (visible + in flight) / running tasks. Counting the
    // messages in flight is what keeps scale-in from going below the work in
    // progress: with the target at CONCURRENCY the fleet keeps at least enough
    // slots for every message being scanned.
    new appscaling.CfnScalingPolicy(this, 'BacklogPerTaskPolicy', {
      policyName: `${Stack.of(this).stackName}-backlog-per-task`,
      policyType: 'TargetTrackingScaling',
      scalingTargetId: scaling.scalableTargetId,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: Token.asNumber(concurrency),
        scaleOutCooldown: 60,
        scaleInCooldown: 300,
        customizedMetricSpecification: {
          metrics: [
            { id: 'visible', metricStat: metricStat(m.visible, 'Sum'), returnData: false },
            { id: 'inflight', metricStat: metricStat(m.inFlight, 'Sum'), returnData: false },
            { id: 'running', metricStat: metricStat(m.running, 'Average'), returnData: false },
            {
              id: 'backlogpertask',
              expression: 'IF(FILL(running, 0) >= 1, (visible + inflight) / FILL(running, 0), visible + inflight)',
              label: 'messages per running task',
              returnData: true,
            },
          ],
        },
      },
    });

    // Out of zero on the first visible message (target tracking multiplies the
    // current count, which is zero). Exact capacity 1 is set only while no task
    // runs, so it can never lower a running fleet.
    const fromZero = new appscaling.StepScalingAction(this, 'ScaleOutFromZero', {
      scalingTarget: scaling,
      adjustmentType: appscaling.AdjustmentType.EXACT_CAPACITY,
      cooldown: Duration.minutes(2),
      metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
    });
    fromZero.addAdjustment({ adjustment: 1, lowerBound: 0 });
    new cloudwatch.Alarm(this, 'ScaleOutFromZeroAlarm', {
      alarmDescription: 'bucketscan scaling: messages visible while no task runs',
      metric: new cloudwatch.MathExpression({
        expression: 'IF(FILL(running, 0) < 1, visible, 0)',
        usingMetrics: { running: m.running, visible: m.visible },
        period: Duration.minutes(1),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(new cwActions.ApplicationScalingAction(fromZero));

    // Down to zero only when nothing is visible and nothing is in flight for the
    // whole period: no task is stopped with work in hand.
    const idle = props.scaleToZeroAfter ?? Duration.minutes(15);
    const toZero = new appscaling.StepScalingAction(this, 'ScaleInToZero', {
      scalingTarget: scaling,
      adjustmentType: appscaling.AdjustmentType.EXACT_CAPACITY,
      cooldown: Duration.minutes(5),
      metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
    });
    toZero.addAdjustment({ adjustment: 0, upperBound: 0 });
    new cloudwatch.Alarm(this, 'ScaleInToZeroAlarm', {
      alarmDescription: `bucketscan scaling: no message visible or in flight for ${idle.toHumanString()}`,
      metric: new cloudwatch.MathExpression({
        expression: 'visible + inflight',
        usingMetrics: { visible: m.visible, inflight: m.inFlight },
        period: Duration.minutes(1),
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: Math.max(1, Math.round(idle.toMinutes())),
      datapointsToAlarm: Math.max(1, Math.round(idle.toMinutes())),
      // SQS stops sending metrics for a queue idle for hours: that is not "busy".
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(new cwActions.ApplicationScalingAction(toZero));
  }

  private addDashboard(m: {
    visible: cloudwatch.Metric;
    inFlight: cloudwatch.Metric;
    running: cloudwatch.Metric;
    definitionsAge: cloudwatch.Metric;
  }): cloudwatch.Dashboard {
    const outcomes = ['clean', 'infected', 'too-large', 'unscannable', 'invalid', 'dropped', 'retry', 'test-event'];
    const byOutcome = outcomes.map(
      (outcome) =>
        new cloudwatch.Metric({
          namespace: this.metricsNamespace,
          metricName: 'bucketscan_records_total',
          dimensionsMap: { outcome },
          statistic: 'Sum',
          period: Duration.minutes(5),
          label: outcome,
        }),
    );
    const duration = (statistic: string) =>
      new cloudwatch.Metric({
        namespace: this.metricsNamespace,
        metricName: 'bucketscan_scan_duration_seconds',
        statistic,
        period: Duration.minutes(5),
        label: statistic,
      });
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(6),
    });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Records by outcome (per 5 minutes)', left: byOutcome, stacked: true, width: 12 }),
      new cloudwatch.GraphWidget({ title: 'Scan duration (s)', left: [duration('p50'), duration('p99'), duration('Maximum')], width: 12 }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Backlog and tasks',
        left: [m.visible.with({ label: 'visible' }), m.inFlight.with({ label: 'in flight' })],
        right: [m.running.with({ label: 'running tasks' })],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Definitions age (hours)',
        left: [
          new cloudwatch.MathExpression({
            expression: 'age / 3600',
            usingMetrics: { age: m.definitionsAge },
            label: 'oldest definitions in use (h)',
          }),
        ],
        width: 12,
      }),
    );
    dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(this.alarms), width: 24 }));
    return dashboard;
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
    ack(this.updaterTaskDefinition, 'AwsSolutions-ECS2', "No secret: the updater's containers get none, only the task role.");
    const worker = this.node.findChild('WorkerPolicy');
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
    const updaterPolicy = this.updaterTaskDefinition.taskRole.node.findChild('DefaultPolicy');
    ack(
      updaterPolicy,
      `AwsSolutions-IAM5[Resource::${nagArn(this.mirrorBucket.arnForObjects('*'))}]`,
      'The updater syncs the database files of its own mirror bucket.',
    );
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

/**
 * The custom resource's handler (inline, CommonJS; the runtime has the AWS SDK v3
 * and CloudFormation's cfn-response module for inline code). Create: start one
 * updater task; a refused RunTask fails the stack with ECS's reason. Update and
 * Delete: nothing to do.
 */
export const START_UPDATER_SOURCE = `
const response = require('cfn-response');
const { ECSClient, RunTaskCommand } = require('@aws-sdk/client-ecs');
exports.handler = async (event, context) => {
  const p = event.ResourceProperties;
  try {
    if (event.RequestType === 'Create') {
      const out = await new ECSClient({}).send(new RunTaskCommand({
        cluster: p.Cluster,
        taskDefinition: p.TaskDefinition,
        launchType: 'FARGATE',
        networkConfiguration: { awsvpcConfiguration: { subnets: p.Subnets, securityGroups: p.SecurityGroups, assignPublicIp: p.AssignPublicIp } },
      }));
      if (out.failures && out.failures.length > 0) throw new Error('RunTask: ' + JSON.stringify(out.failures));
      console.log('started', out.tasks && out.tasks.map((t) => t.taskArn));
    }
    await new Promise((resolve) => { response.send(event, { ...context, done: resolve }, response.SUCCESS, {}, 'bucketscan-initial-definitions'); });
  } catch (error) {
    console.error(error);
    await new Promise((resolve) => { response.send(event, { ...context, done: resolve }, response.FAILED, { Error: String(error) }, 'bucketscan-initial-definitions'); });
  }
};
`;

/** Pinned: an image tag that moves would change the updater without a deploy. */
export const DEFAULT_AWS_CLI_IMAGE = 'public.ecr.aws/aws-cli/aws-cli:2.27.50';

/**
 * The updater's freshclam: one run against the CDN with DNS checks and whole
 * signed .cvd files (ScriptedUpdates off, so no unsigned .cld is produced).
 * Exit code 1 means "already up to date", which is a success here.
 */
export const FRESHCLAM_SCRIPT = [
  'cat > /tmp/freshclam.conf <<EOF',
  'DatabaseDirectory /var/lib/clamav',
  `DatabaseMirror ${CLAMAV_CDN}`,
  'ScriptedUpdates no',
  'Foreground yes',
  'LogTime yes',
  'EOF',
  'freshclam --config-file=/tmp/freshclam.conf --stdout',
  'rc=$?',
  'if [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; then exit 0; fi',
  'exit "$rc"',
].join('\n');

function metricStat(metric: cloudwatch.Metric, stat: string): appscaling.CfnScalingPolicy.TargetTrackingMetricStatProperty {
  return {
    metric: {
      namespace: metric.namespace,
      metricName: metric.metricName,
      dimensions: Object.entries(metric.dimensions ?? {}).map(([name, value]) => ({ name, value: String(value) })),
    },
    stat,
  };
}

function publicIpSetting(value: boolean | string | undefined): string {
  if (typeof value === 'string') return value;
  return value ? 'ENABLED' : 'DISABLED';
}

/** A number as an environment value; a token (a template parameter) stays a token. */
function text(value: number): string {
  return Token.isUnresolved(value) ? Token.asString(value) : String(value);
}

function normalisePrefix(prefix: string | undefined): string {
  if (prefix === undefined || Token.isUnresolved(prefix)) return prefix ?? '';
  const trimmed = prefix.trim().replace(/^\/+/, '');
  return trimmed === '' || trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}

function secureBucketDefaults(logs: s3.IBucket | undefined, logPrefix: string): s3.BucketProps {
  return {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    ...(logs ? { serverAccessLogsBucket: logs, serverAccessLogsPrefix: logPrefix } : {}),
  };
}

function quarantineLifecycle(days: number): s3.LifecycleRule[] {
  const rules: s3.LifecycleRule[] = [
    // A multipart copy that failed and could not be aborted leaves parts behind.
    { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
  ];
  if (Token.isUnresolved(days) || days > 0) {
    rules.push({
      id: 'expire-quarantined',
      expiration: Duration.days(days),
      noncurrentVersionExpiration: Duration.days(days),
    });
  }
  return rules;
}

function enforceTls(bucket: s3.IBucket): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: 'DenyInsecureTransport',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['s3:*'],
      resources: [bucket.bucketArn, bucket.arnForObjects('*')],
      conditions: { Bool: { 'aws:SecureTransport': 'false' } },
    }),
  ];
}

function checkProps(props: BucketScanProps, statusTag: string, shutdown: Duration): void {
  const problem = (message: string) => {
    throw new Error(`BucketScan: ${message}`);
  };
  if (props.failClosedReads && !statusTag) problem('failClosedReads needs scanStatusTag: the policy reads the status tag');
  const min = props.minTasks ?? 0;
  const max = props.maxTasks ?? 10;
  if (!Token.isUnresolved(min) && !Token.isUnresolved(max) && (min < 0 || max < 1 || min > max)) {
    problem(`minTasks ${min} and maxTasks ${max} must satisfy 0 <= minTasks <= maxTasks, maxTasks >= 1`);
  }
  // Fargate's stopTimeout is at most 120 s, and it must exceed SHUTDOWN_TIMEOUT.
  if (shutdown.toSeconds() + 10 > 120)
    problem('shutdownTimeout must be at most 110 seconds (Fargate stops a container after 120 s at most)');
}
