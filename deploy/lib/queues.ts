/**
 * The queues: inbound (S3 ObjectCreated events, with its dead-letter queue),
 * rescan (the backfill lane `bucketscan rescan` fills, RESCAN_QUEUE, sharing that
 * dead-letter queue) and validation (clean files for the next stage, with its own),
 * TLS only, encrypted with SSE-SQS or the deployment's customer key; and what
 * feeds the inbound queue: the S3 notifications of the sources that use them,
 * admitted only for those buckets of this account, and one EventBridge rule
 * listing the buckets that announce uploads through EventBridge.
 */
import { Aws, type CfnCondition, Duration, Fn } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** The redrive policy's receive count, as the README's retry table describes. */
export const MAX_RECEIVE_COUNT = 5;

/** A bucket (or folder of one) whose ObjectCreated events reach the inbound queue. */
export interface AnnouncedSource {
  bucket: s3.IBucket;
  /** '' for the whole bucket. */
  prefix: string;
}

export interface ScanQueuesProps {
  /** Sources announced by S3 event notifications to the inbound queue. */
  s3Sources: AnnouncedSource[];
  /** Sources announced through EventBridge: one rule lists them (their buckets' EventBridge delivery is turned on elsewhere). */
  eventBridgeSources: AnnouncedSource[];
  visibilityTimeout: Duration;
  /** Encrypt with this key instead of SSE-SQS (under `keyCondition` when given: the template's switch). */
  key?: kms.IKey | undefined;
  keyCondition?: CfnCondition | undefined;
}

export class ScanQueues extends Construct {
  public readonly inbound: sqs.Queue;
  /** RESCAN_QUEUE: rescan events, read with the capacity uploads leave free. */
  public readonly rescan: sqs.Queue;
  public readonly deadLetters: sqs.Queue;
  /** The rule that sends the EventBridge sources' Object Created events to the inbound queue (when there are any). */
  public readonly eventBridgeRule: events.Rule | undefined;
  public readonly validation: sqs.Queue;
  public readonly validationDeadLetters: sqs.Queue;

  constructor(scope: Construct, id: string, props: ScanQueuesProps) {
    super(scope, id);
    const queue = (name: string, options: sqs.QueueProps) => {
      const created = new sqs.Queue(this, name, {
        // SSE-SQS by default: S3 can deliver events to it without a key policy, and
        // the worker needs no KMS permission to read it.
        ...(props.key && !props.keyCondition
          ? { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: props.key }
          : { encryption: sqs.QueueEncryption.SQS_MANAGED }),
        enforceSSL: true,
        ...options,
      });
      if (props.key && props.keyCondition) {
        const cfn = created.node.defaultChild as sqs.CfnQueue;
        cfn.addPropertyOverride('KmsMasterKeyId', Fn.conditionIf(props.keyCondition.logicalId, props.key.keyArn, Aws.NO_VALUE));
        cfn.addPropertyOverride('SqsManagedSseEnabled', Fn.conditionIf(props.keyCondition.logicalId, Aws.NO_VALUE, true));
      }
      return created;
    };
    // A message keeps its first enqueue time when it is dead-lettered, so a
    // dead-letter queue must keep messages longer than its source queue does.
    this.deadLetters = queue('InboundDeadLetters', { retentionPeriod: Duration.days(14) });
    this.inbound = queue('Inbound', {
      visibilityTimeout: props.visibilityTimeout,
      receiveMessageWaitTime: Duration.seconds(20),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    // A backfill of millions of objects may wait days for spare capacity; a message
    // that fails there lands in the inbound queue's dead-letter queue like any other.
    this.rescan = queue('Rescan', {
      visibilityTimeout: props.visibilityTimeout,
      receiveMessageWaitTime: Duration.seconds(20),
      retentionPeriod: Duration.days(14),
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    this.validationDeadLetters = queue('ValidationDeadLetters', { retentionPeriod: Duration.days(14) });
    this.validation = queue('Validation', {
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.validationDeadLetters, maxReceiveCount: MAX_RECEIVE_COUNT },
    });

    if (props.s3Sources.length > 0) this.announceByS3(props.s3Sources);
    this.eventBridgeRule = props.eventBridgeSources.length > 0 ? this.announceByEventBridge(props.eventBridgeSources) : undefined;
  }

  /**
   * S3 may send to the inbound queue only on behalf of the sources' buckets in
   * this account (the confused-deputy guard); each source's ObjectCreated events,
   * under its prefix, go there.
   */
  private announceByS3(sources: AnnouncedSource[]): void {
    const arns = [...new Set(sources.map((source) => source.bucket.bucketArn))];
    const s3MaySend = this.inbound.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowUnprocessedBucketNotifications',
        principals: [new iam.ServicePrincipal('s3.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [this.inbound.queueArn],
        conditions: {
          ArnEquals: { 'aws:SourceArn': arns.length === 1 ? arns[0]! : arns },
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        },
      }),
    );
    for (const source of sources) {
      source.bucket.addEventNotification(
        s3.EventType.OBJECT_CREATED,
        {
          bind: () => ({
            arn: this.inbound.queueArn,
            type: s3.BucketNotificationDestinationType.QUEUE,
            // S3 checks that it may send when the notification is saved.
            dependencies: s3MaySend.policyDependable ? [s3MaySend.policyDependable] : [],
          }),
        },
        ...(source.prefix ? [{ prefix: source.prefix }] : []),
      );
    }
  }

  /**
   * One rule for every bucket that announces uploads through EventBridge: its
   * "Object Created" events under each source's prefix go to the inbound queue,
   * which admits EventBridge for this rule only.
   */
  private announceByEventBridge(sources: AnnouncedSource[]): events.Rule {
    const match = (source: AnnouncedSource) => ({
      bucket: { name: [source.bucket.bucketName] },
      ...(source.prefix ? { object: { key: [{ prefix: source.prefix }] } } : {}),
    });
    const rule = new events.Rule(this, 'EventBridgeSources', {
      description: 'bucketscan: Object Created events of the EventBridge sources, to the inbound queue',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: sources.length === 1 ? match(sources[0]!) : { $or: sources.map(match) },
      },
    });
    rule.addTarget(new targets.SqsQueue(this.inbound));
    return rule;
  }

  /** The dead-letter queues, for acknowledgements and alarms. */
  get deadLetterQueues(): sqs.Queue[] {
    return [this.deadLetters, this.validationDeadLetters];
  }
}
