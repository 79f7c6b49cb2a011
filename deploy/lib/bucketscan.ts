/**
 * BucketScan: everything a bucketscan deployment needs in one AWS account, as a
 * CDK construct made of one construct per concern:
 * - queues.ts: the inbound queue (S3 ObjectCreated events, by S3 notification or
 *   one EventBridge rule), the rescan queue (RESCAN_QUEUE) and the validation
 *   queue, with dead-letter queues;
 * - quarantine.ts: the quarantine bucket and the virus-notification topic;
 * - service.ts: the ECS Fargate service (worker + clamd per task) and its IAM;
 * - mirror.ts: the private ClamAV definitions mirror and its one updater;
 * - scaling.ts: scaling on the backlog, down to zero and back;
 * - alarms.ts: alarms, the failed-updater announcement, the dashboard.
 * This file holds the properties, their defaults and checks, the sources (one
 * bucket by the single-bucket properties, or several: `sources`), the preflight
 * check of the network path, and the fail-closed read policy per bucket.
 * docs/deploy.md explains each choice.
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
import { DEFAULTS } from '../../src/config/defaults.ts';
import { checkAreas, SourcesError } from '../../src/config/source-areas.ts';
import { receiveAheadFor, workerEnvironment } from '../../src/config/worker-environment.ts';
import { cleanTagValue, defaultStatusTag, STATUS_TAG_STYLES, type StatusTagStyle } from '../../src/verdict/verdict.ts';
import { Alarms, type AlarmName } from './alarms.ts';
import { enforceTls, normalisePrefix, secureBucketDefaults } from './buckets.ts';
import { failClosedStatements } from './fail-closed-policy.ts';
import { feedSettings, type FeedName, type FeedSettings } from './feeds.ts';
import { smallFunction } from './lambda-code.ts';
import { CUSTOM_DATABASES_FOLDER, DEFAULT_AWS_CLI_IMAGE, DefinitionsMirror } from './mirror.ts';
import { Quarantine } from './quarantine.ts';
import { ScanQueues } from './queues.ts';
import { Scaling } from './scaling.ts';
import { CLAMD_PORT, HEALTH_PORT, ScanService } from './service.ts';
import { CLAMD_RELOAD_MIB, taskSize, type TaskSize } from './sizing.ts';

export { MAX_RECEIVE_COUNT } from './queues.ts';
export { CLAMD_CONTAINER, CLAMD_HEALTHCHECK, CLAMD_PORT, HEALTH_PORT, WORKER_CONTAINER } from './service.ts';
export { DEFAULT_AWS_CLI_IMAGE } from './mirror.ts';

/** Fargate stops a container at most this long after SIGTERM. */
export const FARGATE_MAX_STOP_TIMEOUT = Duration.seconds(120);
/** Room after a scan for its network steps (tag, copy, forward, delete) within SHUTDOWN_TIMEOUT. */
export const AFTER_SCAN_MARGIN = Duration.seconds(15);
/** Room after SHUTDOWN_TIMEOUT for the worker to return the rest and exit before SIGKILL. */
export const EXIT_MARGIN = Duration.seconds(10);

/**
 * One bucket (or folder of one) the deployment scans: the fields of a sources file
 * entry (docs/configuration.md, SOURCES_FILE), and how the bucket announces uploads.
 */
export interface ScanSource {
  /** A bucket of yours (new or imported); else `bucketName`; neither: a new, versioned bucket. */
  readonly bucket?: s3.IBucket;
  /** An existing bucket, by name. Its other notification configurations are kept. */
  readonly bucketName?: string;
  /** Only keys under this folder are announced and scanned. Default: the whole bucket. */
  readonly prefix?: string;
  /** `submission` (`<uuid>/<filename>`, the default) or `any` (every key S3 allows). */
  readonly keyLayout?: 'submission' | 'any';
  /** Where its bad files go, in the quarantine bucket (quarantineBucketName, or the one this construct creates). */
  readonly quarantinePrefix: string;
  /** Clean files' events go to this queue; 'none': clean files are only tagged and announced. Default: the deployment's validation queue. */
  readonly validationQueue?: sqs.IQueue | 'none';
  /** Write the status tag on this source's files (SCAN_STATUS_TAG). Default: as scanStatusTag says. */
  readonly statusTag?: boolean;
  /**
   * How the bucket announces uploads: 'S3' event notifications to the inbound
   * queue (default), or 'EventBridge': EventBridge delivery turned on for the
   * bucket (on an existing bucket by CDK's notification handler, which keeps its
   * other configurations) and one rule listing every such source.
   */
  readonly notifications?: 'S3' | 'EventBridge';
  /** With failClosedReads set: apply it to this source's folder (default true; never where no status tag is written). */
  readonly failClosedReads?: boolean;
  /**
   * This source's file rules, as a sources file gives them (docs/detection.md#file-type-rules):
   * a lower MAX_FILE_SIZE (MB; never above maxFileSizeMb), the types allowed or
   * denied by their first bytes, and its own UNSCANNABLE_ACTION. Checked again by
   * the worker at start.
   */
  readonly fileRules?: SourceFileRules;
}

/** A source's file rules: the sources file's `maxFileSize`, `allowTypes`, `denyTypes`, `unscannableAction`. */
export interface SourceFileRules {
  readonly maxFileSize?: number;
  readonly allowTypes?: readonly string[];
  readonly denyTypes?: readonly string[];
  readonly unscannableAction?: 'quarantine' | 'forward';
}

/** A source with its bucket and quarantine bucket in hand, as the construct uses it. */
export interface ResolvedSource {
  /** `sources[2]`, or UNPROCESSED_BUCKET_NAME for the single-bucket properties. */
  readonly label: string;
  readonly bucket: s3.IBucket;
  readonly prefix: string;
  readonly keyLayout: 'submission' | 'any';
  readonly quarantineBucket: s3.IBucket;
  readonly quarantinePrefix: string;
  readonly validationQueue: sqs.IQueue | undefined;
  readonly statusTag: boolean;
  readonly notifications: 'S3' | 'EventBridge';
  /** Covered by the fail-closed policy when failClosedReads is set (and the source writes the status tag). */
  readonly failClosedReads: boolean;
  readonly fileRules: SourceFileRules | undefined;
}

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

  /**
   * Several buckets (or folders) to scan, each with its own key rules, quarantine
   * area, validation queue and notification mode; the worker gets them as SOURCES.
   * Replaces unprocessedBucketName, unprocessedPrefix and quarantinePrefix.
   */
  readonly sources?: ScanSource[];
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
  /** SCAN_STATUS_TAG; '' turns status tags off (and the tagging permissions with them). Default: the style's (bucketscan-status, or GuardDutyMalwareScanStatus). */
  readonly scanStatusTag?: string;
  /**
   * STATUS_TAG_STYLE: `guardduty` tags in GuardDuty's words (NO_THREATS_FOUND,
   * THREATS_FOUND…), so that policies written for GuardDuty Malware Protection keep
   * working; the fail-closed statements then open files tagged NO_THREATS_FOUND.
   * Default `bucketscan` (CLEAN, INFECTED…).
   */
  readonly statusTagStyle?: StatusTagStyle;
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

  /**
   * An EventBridge bus (name, ARN or bus) for one result event per verdict
   * (RESULT_EVENT_BUS); the worker may PutEvents on it and no other. Default: none.
   */
  readonly resultEventBus?: string | events.IEventBus;
  /** The bus's ARN when resultEventBus is a token that may be a name or an ARN (the template computes it). */
  readonly resultEventBusArn?: string;
  /** The result bus is used only where this condition holds (the template's empty case). */
  readonly resultEventBusCondition?: CfnCondition;

  /** Apply the fail-closed read policy to each scanned bucket's folders (requires scanStatusTag and versioned buckets). Default off. */
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

  /**
   * Role ARNs that run `bucketscan release` (and the other detection commands:
   * attach the DetectionPolicy to them): they may read the quarantine, and the
   * fail-closed policy lets them copy a released file back with its status set.
   * A list token is accepted.
   */
  readonly releasers?: string[];
  /** The releasers are used only where this condition holds (the template's empty-list case). */
  readonly releasersCondition?: CfnCondition;
  /**
   * Third-party ClamAV databases the updater mirrors, opt-in (feeds.ts, docs/detection.md
   * for their licences); or, for the template, the settings as tokens. Default none.
   */
  readonly feeds?: readonly FeedName[] | FeedSettings;
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
  statusTagStyle: StatusTagStyle;
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

  /** The first source's bucket (the only one without `sources`). */
  public readonly unprocessedBucket: s3.IBucket;
  /** Every source, in order. */
  public readonly sources: ResolvedSource[];
  /** RESCAN_QUEUE: where `bucketscan rescan` puts its events. */
  public readonly rescanQueue: sqs.Queue;
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
  /** The first bucket's fail-closed statements, also when not applied: add them to your own bucket policy. */
  public readonly failClosedPolicy: iam.PolicyStatement[];
  /** Each scanned bucket's fail-closed statements, by bucket name (a token for a new bucket). */
  public readonly failClosedPolicies: Map<string, iam.PolicyStatement[]>;
  /** What the `bucketscan rescan` and `dlq` commands need: attach it to the operators' role. */
  public readonly operatorPolicy: iam.ManagedPolicy;
  /**
   * What `bucketscan signatures`, `allow`, `quarantine list` and `release` need:
   * attach it to the releasers' role (name that role in `releasers` too).
   */
  public readonly detectionPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: BucketScanProps) {
    super(scope, id);
    const settings = resolveSettings(props);
    this.metricsNamespace = props.metricsNamespace ?? `bucketscan/${Aws.STACK_NAME}`;
    this.prefixes = { unprocessed: settings.unprocessedPrefix, quarantine: settings.quarantinePrefix };
    const subnetIds = props.subnetIds ?? props.vpc.selectSubnets(props.vpcSubnets).subnetIds;
    const assignPublicIp = typeof props.assignPublicIp === 'string' ? props.assignPublicIp : props.assignPublicIp ? 'ENABLED' : 'DISABLED';

    const sourceBuckets = this.sourceBuckets(props);
    this.unprocessedBucket = sourceBuckets[0]!;

    this.messageKey =
      props.messageEncryption === 'customer-key' || props.messageEncryptionCondition ? this.createMessageKey(props) : undefined;
    const keyed = { key: this.messageKey, keyCondition: props.messageEncryptionCondition };

    const announced = (mode: 'S3' | 'EventBridge') =>
      (props.sources ?? [{ quarantinePrefix: '' }]).flatMap((source, index) =>
        (source.notifications ?? 'S3') === mode
          ? [{ bucket: sourceBuckets[index]!, prefix: props.sources ? normalisePrefix(source.prefix) : settings.unprocessedPrefix }]
          : [],
      );
    this.queues = new ScanQueues(this, 'Queues', {
      s3Sources: announced('S3'),
      eventBridgeSources: announced('EventBridge'),
      visibilityTimeout: settings.visibility,
      ...keyed,
    });
    this.quarantine = new Quarantine(this, 'Quarantine', {
      bucketName: props.quarantineBucketName,
      expirationDays: props.quarantineExpirationDays ?? 365,
      accessLogsBucket: props.accessLogsBucket,
      ...keyed,
    });
    this.sources = this.resolveSources(props, settings, sourceBuckets);
    const resultBus = resultBusOf(this, props);

    // The mirror's URL is known once the mirror exists, after the service it waits for.
    let mirror: DefinitionsMirror | undefined;
    const feeds =
      props.feeds === undefined
        ? undefined
        : Array.isArray(props.feeds)
          ? feedSettings(props.feeds as FeedName[])
          : (props.feeds as FeedSettings);
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
          // The first source, as the single-bucket variables (the worker reads SOURCES when given).
          unprocessedBucket: this.unprocessedBucket.bucketName,
          quarantineBucket: this.sources[0]!.quarantineBucket.bucketName,
          unprocessedPrefix: this.sources[0]!.prefix,
          quarantinePrefix: this.sources[0]!.quarantinePrefix,
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
          ...(props.statusTagStyle ? { statusTagStyle: props.statusTagStyle } : {}),
          metrics: 'emf',
          metricsNamespace: this.metricsNamespace,
          maxDefinitionsAgeHours: settings.maxDefinitionsAge.toHours(),
          staleDefinitions: 'warn',
          rescanQueueUrl: this.queues.rescan.queueUrl,
          ...(props.sources ? { sources: this.sourcesDocument() } : {}),
          ...(resultBus ? { resultEventBus: resultBus.name } : {}),
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
        // The detection set (custom signatures, the allow list) that bucketscan publishes to the mirror.
        FRESHCLAM_CUSTOM_DATABASES_URL: Lazy.string({ produce: () => mirror!.customDatabasesUrl }),
        ...(feeds ? { FRESHCLAM_FEEDS_URL: Lazy.string({ produce: () => mirror!.feedsUrl }), FRESHCLAM_FEEDS: feeds.files } : {}),
      },
      grants: {
        sources: this.sources,
        inbound: this.queues.inbound,
        rescan: this.queues.rescan,
        validation: this.sources.flatMap((source) => (source.validationQueue ? [source.validationQueue] : [])),
        topic: this.quarantine.topic,
        resultBusArn: resultBus?.arn,
        resultBusCondition: props.resultEventBusCondition,
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
      { arns: props.releasers ?? [], condition: props.releasersCondition },
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
      feeds,
      databaseMemoryMiB: CLAMD_RELOAD_MIB,
      clamdMemoryMiB: settings.size.clamdMemoryMiB,
    });
    this.mirror = mirror;
    this.detectionPolicy = this.createDetectionPolicy(props);
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
      rescan: this.queues.rescan,
      minTasks: props.minTasks ?? 0,
      maxTasks: props.maxTasks ?? 10,
      targetPerTask: settings.scalingTarget,
      scaleToZeroAfter: props.scaleToZeroAfter ?? Duration.minutes(15),
      wakeUp:
        props.wakeUp === 'function' || props.wakeUpCondition
          ? {
              sources: this.sources.map((source) => ({ bucket: source.bucket, prefix: source.prefix })),
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

    // ---- fail-closed reads, per bucket
    this.failClosedPolicies = this.failClosedStatementsByBucket(props, settings);
    this.failClosedPolicy = [...this.failClosedPolicies.values()][0] ?? [];
    if (props.failClosedReads) this.applyFailClosed(props);

    // ---- the names the template stack, the tests and CDK users read
    this.quarantineBucket = this.quarantine.bucket;
    this.mirrorBucket = mirror.bucket;
    this.inboundQueue = this.queues.inbound;
    this.rescanQueue = this.queues.rescan;
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

  /** The sources' buckets, in order: created here, imported by name (once per name), or given. */
  private sourceBuckets(props: BucketScanProps): s3.IBucket[] {
    if (!props.sources) {
      return [
        props.unprocessedBucketName
          ? s3.Bucket.fromBucketName(this, 'Unprocessed', props.unprocessedBucketName)
          : new s3.Bucket(this, 'Unprocessed', {
              ...secureBucketDefaults(props.accessLogsBucket, 'unprocessed/'),
              // Versioned so that events carry a versionId and the scan is pinned to it.
              versioned: true,
            }),
      ];
    }
    if (props.sources.length === 0) throw new Error('BucketScan: sources lists no source');
    if (props.unprocessedBucketName !== undefined || props.unprocessedPrefix !== undefined || props.quarantinePrefix !== undefined) {
      throw new Error(
        'BucketScan: sources replaces unprocessedBucketName, unprocessedPrefix and quarantinePrefix: give each source its own',
      );
    }
    const imported = new Map<string, s3.IBucket>();
    return props.sources.map((source, index) => {
      if (source.bucket && source.bucketName) throw new Error(`BucketScan: sources[${index}]: give bucket or bucketName, not both`);
      const eventBridge = source.notifications === 'EventBridge';
      let bucket: s3.IBucket;
      if (source.bucket) {
        bucket = source.bucket;
      } else if (source.bucketName) {
        bucket = imported.get(source.bucketName) ?? s3.Bucket.fromBucketName(this, `Source${index}Bucket`, source.bucketName);
        imported.set(source.bucketName, bucket);
      } else {
        return new s3.Bucket(this, `Source${index}Bucket`, {
          ...secureBucketDefaults(props.accessLogsBucket, `source-${index}/`),
          versioned: true,
          eventBridgeEnabled: eventBridge,
        });
      }
      // On an existing bucket, CDK's notification handler turns EventBridge delivery on
      // and keeps the bucket's other notification configurations.
      if (eventBridge) bucket.enableEventBridgeNotification();
      return bucket;
    });
  }

  /** The sources with their quarantine buckets and settings; checked as a sources file is (src/config/source-areas.ts). */
  private resolveSources(props: BucketScanProps, settings: Settings, buckets: s3.IBucket[]): ResolvedSource[] {
    const statusTagOn = settings.statusTag !== '';
    if (!props.sources) {
      return [
        {
          label: 'UNPROCESSED_BUCKET_NAME',
          bucket: buckets[0]!,
          prefix: settings.unprocessedPrefix,
          keyLayout: 'submission',
          quarantineBucket: this.quarantine.bucket,
          quarantinePrefix: settings.quarantinePrefix,
          validationQueue: this.queues.validation,
          statusTag: statusTagOn,
          notifications: 'S3',
          failClosedReads: true,
          fileRules: undefined,
        },
      ];
    }
    const sources = props.sources.map((source, index): ResolvedSource => {
      const statusTag = source.statusTag ?? statusTagOn;
      if (statusTag && !statusTagOn)
        throw new Error(`BucketScan: sources[${index}].statusTag is true, but scanStatusTag '' names no tag key`);
      const validation = source.validationQueue === 'none' ? undefined : (source.validationQueue ?? this.queues.validation);
      return {
        label: `sources[${index}]`,
        bucket: buckets[index]!,
        prefix: normalisePrefix(source.prefix),
        keyLayout: source.keyLayout ?? 'submission',
        quarantineBucket: this.quarantine.bucket,
        quarantinePrefix: normalisePrefix(source.quarantinePrefix),
        validationQueue: validation,
        statusTag,
        notifications: source.notifications ?? 'S3',
        failClosedReads: source.failClosedReads !== false,
        fileRules: checkFileRules(`sources[${index}]`, source.fileRules, settings.maxFileSizeMb),
      };
    });
    try {
      checkAreas(
        sources.map((source) => ({
          label: source.label,
          bucket: source.bucket.bucketName,
          prefix: source.prefix,
          quarantineBucket: source.quarantineBucket.bucketName,
          quarantinePrefix: source.quarantinePrefix,
        })),
      );
    } catch (error) {
      if (error instanceof SourcesError) throw new Error(`BucketScan: ${error.message}`);
      throw error;
    }
    return sources;
  }

  /** SOURCES: the sources document the worker reads (docs/configuration.md), with the deployment's names. */
  private sourcesDocument(): string {
    return Stack.of(this).toJsonString({
      sources: this.sources.map((source) => ({
        bucket: source.bucket.bucketName,
        ...(source.prefix ? { prefix: source.prefix } : {}),
        keyLayout: source.keyLayout,
        quarantineBucket: source.quarantineBucket.bucketName,
        quarantinePrefix: source.quarantinePrefix,
        ...(source.validationQueue ? { validationQueue: source.validationQueue.queueUrl } : {}),
        statusTag: source.statusTag,
        ...source.fileRules,
      })),
    });
  }

  /**
   * Each scanned bucket's fail-closed statements: its sources' folders that write
   * the status tag, and any quarantine area in it (only the scanner and the
   * readers may read those either). Buckets whose sources write no tag get none.
   */
  private failClosedStatementsByBucket(props: BucketScanProps, settings: Settings): Map<string, iam.PolicyStatement[]> {
    const byBucket = new Map<string, iam.PolicyStatement[]>();
    if (!settings.statusTag) return byBucket;
    for (const bucket of [...new Set(this.sources.map((source) => source.bucket))]) {
      const tagged = this.sources.filter((source) => source.bucket === bucket && source.statusTag && source.failClosedReads);
      if (tagged.length === 0) continue;
      const quarantined = this.sources.filter((source) => source.quarantineBucket.bucketName === bucket.bucketName);
      const objects = [...new Set([...tagged.map((s) => s.prefix), ...quarantined.map((s) => s.quarantinePrefix)])].map((prefix) =>
        bucket.arnForObjects(`${prefix}*`),
      );
      byBucket.set(
        bucket.bucketName,
        failClosedStatements({
          objectsArn: objects.length === 1 ? objects[0]! : objects,
          statusTag: settings.statusTag,
          cleanValue: cleanTagValue(settings.statusTagStyle),
          scannerRoleArn: this.scanService.taskDefinition.taskRole.roleArn,
          readers: props.failClosedReads?.readers ?? [],
          readersCondition: props.failClosedReads?.readersCondition,
          releasers: props.releasers ?? [],
          releasersCondition: props.releasersCondition,
        }),
      );
    }
    return byBucket;
  }

  /**
   * The fail-closed policy on each bucket with statements: added to the policy of a
   * bucket this stack owns; on an existing bucket a bucket policy of its own, which
   * replaces whatever policy the bucket had (docs/deploy.md).
   */
  private applyFailClosed(props: BucketScanProps): void {
    const failClosed = props.failClosedReads!;
    let index = 0;
    for (const bucket of [...new Set(this.sources.map((source) => source.bucket))]) {
      const statements = this.failClosedPolicies.get(bucket.bucketName);
      if (!statements) continue;
      const id = props.sources ? `FailClosedPolicy${index++}` : 'UnprocessedPolicy';
      if (bucket instanceof s3.Bucket) {
        for (const statement of statements) bucket.addToResourcePolicy(statement);
        continue;
      }
      // An imported bucket's addToResourcePolicy is a no-op.
      const policy = new s3.BucketPolicy(this, id, { bucket });
      policy.document.addStatements(enforceTls(bucket), ...statements);
      if (failClosed.condition) (policy.node.defaultChild as s3.CfnBucketPolicy).cfnOptions.condition = failClosed.condition;
      if (this.preflight) policy.node.addDependency(this.preflight);
    }
  }

  /**
   * Exactly what the operators' commands call (deploy/test/iam/operator.json, as the
   * moto tests record it): `bucketscan rescan` lists the bucket's versions and
   * queues events, `bucketscan dlq` reads, returns and redrives the dead-letter queue.
   */
  private createOperatorPolicy(keyCondition: CfnCondition | undefined): iam.ManagedPolicy {
    const dlq = this.queues.deadLetters.queueArn;
    const inbound = this.queues.inbound.queueArn;
    const sourceBuckets = [...new Set(this.sources.map((source) => source.bucket.bucketArn))];
    const policy = new iam.ManagedPolicy(this, 'OperatorPolicy', {
      description: 'bucketscan: what the rescan and dlq commands need (attach to the operators role)',
      statements: [
        new iam.PolicyStatement({
          sid: 'RescanListsVersions',
          actions: ['s3:ListBucket', 's3:ListBucketVersions', 's3:GetBucketVersioning'],
          resources: sourceBuckets,
        }),
        new iam.PolicyStatement({
          sid: 'QueueEvents',
          // The rescan queue (RESCAN_QUEUE), and the inbound queue for rescan --queue and
          // the fleet size --dry-run reads.
          actions: ['sqs:SendMessage', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes'],
          resources: [inbound, this.queues.rescan.queueArn],
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

  /**
   * Exactly what the detection commands call (deploy/test/iam/detection.json, as the
   * moto tests record them): `signatures publish` and `allow` read and write the
   * mirror's custom/ folder; `quarantine list` lists and reads the quarantine;
   * `release` reads a quarantined file, writes its audit record beside it, copies it
   * back with its tags, and forwards its event. sts:GetCallerIdentity needs no grant.
   */
  private createDetectionPolicy(props: BucketScanProps): iam.ManagedPolicy {
    const region = Stack.of(this).region;
    const unique = (arns: string[]) => [...new Set(arns)];
    const quarantineAreas = unique(this.sources.map((source) => source.quarantineBucket.arnForObjects(`${source.quarantinePrefix}*`)));
    const statements = [
      new iam.PolicyStatement({
        sid: 'PublishDetectionSet',
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [this.mirror.bucket.arnForObjects(`${CUSTOM_DATABASES_FOLDER}*`)],
      }),
      new iam.PolicyStatement({
        // A missing file then reads as 404, not 403; quarantine list and release list what they read.
        sid: 'ListMirrorQuarantineAndUploads',
        actions: ['s3:ListBucket'],
        resources: unique([
          this.mirror.bucket.bucketArn,
          ...this.sources.map((source) => source.quarantineBucket.bucketArn),
          ...this.sources.map((source) => source.bucket.bucketArn),
        ]),
      }),
      new iam.PolicyStatement({
        sid: 'ReadQuarantine',
        actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectTagging', 's3:GetObjectVersionTagging'],
        resources: quarantineAreas,
      }),
      new iam.PolicyStatement({
        sid: 'WriteReleaseRecords',
        actions: ['s3:PutObject'],
        resources: unique(
          this.sources.map((source) => source.quarantineBucket.arnForObjects(`${source.quarantinePrefix}*.release-*.json`)),
        ),
      }),
      new iam.PolicyStatement({
        // Back to where each source's files are uploaded, as a new version.
        sid: 'RestoreReleasedFiles',
        actions: ['s3:PutObject', 's3:PutObjectTagging'],
        resources: unique(this.sources.map((source) => source.bucket.arnForObjects(`${source.prefix}*`))),
      }),
      new iam.PolicyStatement({
        sid: 'ForwardReleasedFiles',
        actions: ['sqs:SendMessage', 'sqs:GetQueueUrl'],
        resources: unique([
          this.queues.validation.queueArn,
          ...this.sources.flatMap((source) => (source.validationQueue ? [source.validationQueue.queueArn] : [])),
        ]),
      }),
    ];
    const policy = new iam.ManagedPolicy(this, 'DetectionPolicy', {
      description: 'bucketscan: what signatures, allow, quarantine list and release need (attach to the releasers role)',
      statements,
    });
    const conditional: Array<[iam.PolicyStatement, CfnCondition | undefined]> = [];
    if ((props.kmsKeyArns ?? []).length > 0) {
      conditional.push([
        new iam.PolicyStatement({
          sid: 'UseBucketKeys',
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: props.kmsKeyArns!,
          conditions: { StringEquals: { 'kms:ViaService': `s3.${region}.amazonaws.com` } },
        }),
        props.kmsKeysCondition,
      ]);
    }
    if (this.messageKey) {
      conditional.push([
        new iam.PolicyStatement({
          sid: 'UseMessageKey',
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [this.messageKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `sqs.${region}.amazonaws.com` } },
        }),
        props.messageEncryptionCondition,
      ]);
    }
    for (const [statement] of conditional) policy.addStatements(statement);
    // A statement that names something that may not exist is there only where its condition holds.
    const cfn = policy.node.defaultChild as iam.CfnManagedPolicy;
    const document = Stack.of(this).resolve(policy.document.toJSON()) as { Statement: unknown[] };
    conditional.forEach(([, condition], index) => {
      if (!condition) return;
      const at = statements.length + index;
      cfn.addPropertyOverride(`PolicyDocument.Statement.${at}`, Fn.conditionIf(condition.logicalId, document.Statement[at], Aws.NO_VALUE));
    });
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
    // EventBridge encrypts each event it delivers to the inbound queue from a rule of this account (EventBridge sources).
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'EventBridgeSendsEvents',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
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
    // Fail-closed reads lock every file out of an unversioned bucket: each bucket they cover must be versioned.
    const versioned = [
      ...new Set(this.sources.filter((source) => source.statusTag && source.failClosedReads).map((source) => source.bucket)),
    ];
    const { fn, role } = smallFunction(scope, {
      code: 'preflight',
      description: 'bucketscan: check the network path and bucket versioning before the stack starts tasks',
      timeout: Duration.minutes(1),
      statements: [
        new iam.PolicyStatement({ sid: 'ReadRoutes', actions: ['ec2:DescribeRouteTables', 'ec2:DescribeVpcEndpoints'], resources: ['*'] }),
        new iam.PolicyStatement({
          sid: 'ReadVersioning',
          actions: ['s3:GetBucketVersioning'],
          resources: (versioned.length > 0 ? versioned : [this.unprocessedBucket]).map((bucket) => bucket.bucketArn),
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
        ...(props.sources ? { Buckets: versioned.map((bucket) => bucket.bucketName) } : { Bucket: this.unprocessedBucket.bucketName }),
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
      const created = [...new Set(this.sources.map((source) => source.bucket))].filter((bucket) => bucket.node.scope === this);
      for (const bucket of [...created, this.quarantineBucket, this.mirrorBucket]) {
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
    for (const objects of new Set(this.sources.map((source) => source.bucket.arnForObjects(`${source.prefix}*`)))) {
      ack(
        worker,
        `AwsSolutions-IAM5[Resource::${nagArn(objects)}]`,
        "The worker reads, tags and removes objects that do not exist yet: every key under a source's prefix.",
      );
    }
    for (const objects of new Set(this.sources.map((source) => source.quarantineBucket.arnForObjects(`${source.quarantinePrefix}*`)))) {
      ack(
        worker,
        `AwsSolutions-IAM5[Resource::${nagArn(objects)}]`,
        'The worker writes quarantined files and reports under the quarantine prefix, keyed by the original key.',
      );
    }
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
    const detection = this.detectionPolicy;
    const detectionReasons = new Map<string, string>([
      [
        this.mirrorBucket.arnForObjects('custom/*'),
        'bucketscan signatures publish and allow write the files of the detection set, and only those, in the mirror.',
      ],
    ]);
    for (const source of this.sources) {
      detectionReasons.set(
        source.quarantineBucket.arnForObjects(`${source.quarantinePrefix}*`),
        'quarantine list and release read the quarantined files and their reports, keyed by the original key.',
      );
      detectionReasons.set(
        source.quarantineBucket.arnForObjects(`${source.quarantinePrefix}*.release-*.json`),
        "release writes its audit record beside a quarantined file's report: release records only.",
      );
      detectionReasons.set(
        source.bucket.arnForObjects(`${source.prefix}*`),
        "release copies a quarantined file back to its original key, which can be any key under a source's prefix.",
      );
    }
    for (const [arn, reason] of detectionReasons) ack(detection, `AwsSolutions-IAM5[Resource::${nagArn(arn)}]`, reason);
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
  const statusTagStyle = props.statusTagStyle ?? 'bucketscan';
  if (!STATUS_TAG_STYLES.includes(statusTagStyle)) problem(`statusTagStyle must be one of ${STATUS_TAG_STYLES.join(', ')}`);
  const statusTag = props.scanStatusTag ?? defaultStatusTag(statusTagStyle);
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
    statusTagStyle,
    unprocessedPrefix: normalisePrefix(props.unprocessedPrefix),
    quarantinePrefix: normalisePrefix(props.quarantinePrefix),
    maxDefinitionsAge: props.maxDefinitionsAge ?? Duration.hours(DEFAULTS.maxDefinitionsAgeHours),
    logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
  };
}

/** RESULT_EVENT_BUS as the worker gets it (a name or an ARN) and the ARN IAM grants PutEvents on. */
function resultBusOf(scope: Construct, props: BucketScanProps): { name: string; arn: string } | undefined {
  const bus = props.resultEventBus;
  if (bus === undefined) return undefined;
  if (typeof bus !== 'string') return { name: bus.eventBusArn, arn: bus.eventBusArn };
  if (props.resultEventBusArn) return { name: bus, arn: props.resultEventBusArn };
  if (Token.isUnresolved(bus)) throw new Error('BucketScan: a token resultEventBus needs resultEventBusArn');
  if (bus.startsWith('arn:')) return { name: bus, arn: bus };
  return { name: bus, arn: Stack.of(scope).formatArn({ service: 'events', resource: 'event-bus', resourceName: bus }) };
}

/**
 * A source's file rules, refused at synth when the worker would refuse them at
 * start (a task that never starts is found late): a size above the deployment's
 * maxFileSizeMb, an empty or malformed type list, a type both allowed and denied.
 */
function checkFileRules(label: string, rules: SourceFileRules | undefined, maxFileSizeMb: number): SourceFileRules | undefined {
  if (rules === undefined) return undefined;
  const problem = (field: string, what: string) => new Error(`BucketScan: ${label}.fileRules.${field}: ${what}`);
  if (rules.maxFileSize !== undefined && !(rules.maxFileSize > 0 && rules.maxFileSize <= maxFileSizeMb)) {
    throw problem('maxFileSize', `must be above 0 and at most maxFileSizeMb (${maxFileSizeMb}), got ${rules.maxFileSize}`);
  }
  for (const field of ['allowTypes', 'denyTypes'] as const) {
    const list = rules[field];
    if (list === undefined) continue;
    if (list.length === 0) throw problem(field, 'must name at least one type (or leave it out)');
    const bad = list.find((type) => !/^[a-z0-9][a-z0-9.+-]{0,31}$/.test(type));
    if (bad !== undefined)
      throw problem(field, `${JSON.stringify(bad)} is not a file type (lower-case extensions such as pdf, docx, exe, or unknown)`);
  }
  const both = rules.allowTypes?.find((type) => rules.denyTypes?.includes(type));
  if (both !== undefined) throw problem('denyTypes', `${JSON.stringify(both)} is in allowTypes too`);
  return rules;
}
