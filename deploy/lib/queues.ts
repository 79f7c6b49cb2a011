/**
 * The queues: inbound (S3 ObjectCreated events, with its dead-letter queue) and
 * validation (clean files for the next stage, with its own), TLS only, encrypted
 * with SSE-SQS or the deployment's customer key, and the S3 notification that
 * feeds the inbound queue, admitted only for the watched bucket of this account.
 */
import { Aws, type CfnCondition, Duration, Fn } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** The redrive policy's receive count, as the README's retry table describes. */
export const MAX_RECEIVE_COUNT = 5;

export interface ScanQueuesProps {
  unprocessedBucket: s3.IBucket;
  unprocessedPrefix: string;
  visibilityTimeout: Duration;
  /** Encrypt with this key instead of SSE-SQS (under `keyCondition` when given: the template's switch). */
  key?: kms.IKey | undefined;
  keyCondition?: CfnCondition | undefined;
}

export class ScanQueues extends Construct {
  public readonly inbound: sqs.Queue;
  public readonly deadLetters: sqs.Queue;
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
    this.validationDeadLetters = queue('ValidationDeadLetters', { retentionPeriod: Duration.days(14) });
    this.validation = queue('Validation', {
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.validationDeadLetters, maxReceiveCount: MAX_RECEIVE_COUNT },
    });

    // S3 may send to the inbound queue only on behalf of the watched bucket in
    // this account (the confused-deputy guard).
    const s3MaySend = this.inbound.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowUnprocessedBucketNotifications',
        principals: [new iam.ServicePrincipal('s3.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [this.inbound.queueArn],
        conditions: {
          ArnEquals: { 'aws:SourceArn': props.unprocessedBucket.bucketArn },
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        },
      }),
    );
    props.unprocessedBucket.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      {
        bind: () => ({
          arn: this.inbound.queueArn,
          type: s3.BucketNotificationDestinationType.QUEUE,
          // S3 checks that it may send when the notification is saved.
          dependencies: s3MaySend.policyDependable ? [s3MaySend.policyDependable] : [],
        }),
      },
      ...(props.unprocessedPrefix ? [{ prefix: props.unprocessedPrefix }] : []),
    );
  }

  /** The dead-letter queues, for acknowledgements and alarms. */
  get deadLetterQueues(): sqs.Queue[] {
    return [this.deadLetters, this.validationDeadLetters];
  }
}
