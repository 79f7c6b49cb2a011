/**
 * Where infected files go: the quarantine bucket (created versioned, with a
 * lifecycle, or an existing one by name) and the virus-notification topic that
 * carries each report.
 */
import { type CfnCondition, Fn } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { quarantineLifecycle, secureBucketDefaults } from './buckets.ts';
import { exemptScannerAndReaders } from './fail-closed-policy.ts';

export interface QuarantineProps {
  bucketName?: string | undefined;
  expirationDays: number;
  accessLogsBucket?: s3.IBucket | undefined;
  /** The deployment's customer key for the topic (under `keyCondition`: the template's switch). */
  key?: kms.IKey | undefined;
  keyCondition?: CfnCondition | undefined;
}

export class Quarantine extends Construct {
  public readonly bucket: s3.IBucket;
  /** Reports of quarantined files (README, "The report"): subscribe here. */
  public readonly topic: sns.Topic;

  /**
   * On a bucket this construct created: only the scanner, and the named readers
   * (a security team), may read quarantined files and reports, whatever else their
   * own policies allow. An existing bucket's policy is its owner's to set (docs/deploy.md).
   */
  restrictReads(scannerRoleArn: string, readers: string[], readersCondition?: CfnCondition): void {
    if (!(this.bucket instanceof s3.Bucket)) return;
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyReadsExceptScannerAndReaders',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: exemptScannerAndReaders(scannerRoleArn, readers, readersCondition),
      }),
    );
  }

  constructor(scope: Construct, id: string, props: QuarantineProps) {
    super(scope, id);
    this.bucket = props.bucketName
      ? s3.Bucket.fromBucketName(this, 'Bucket', props.bucketName)
      : new s3.Bucket(this, 'Bucket', {
          ...secureBucketDefaults(props.accessLogsBucket, 'quarantine/'),
          versioned: true,
          lifecycleRules: quarantineLifecycle(props.expirationDays),
        });
    // The AWS managed key by default: reports name files and submissions, and
    // publishing needs no KMS permission in IAM (the key's policy admits the account
    // through SNS). With the deployment's customer key, the worker is granted its use.
    const managed = kms.Alias.fromAliasName(this, 'SnsManagedKey', 'alias/aws/sns');
    this.topic = new sns.Topic(this, 'VirusNotifications', {
      masterKey: props.key && !props.keyCondition ? props.key : managed,
      enforceSSL: true,
    });
    if (props.key && props.keyCondition) {
      (this.topic.node.defaultChild as sns.CfnTopic).addPropertyOverride(
        'KmsMasterKeyId',
        Fn.conditionIf(props.keyCondition.logicalId, props.key.keyArn, managed.keyArn),
      );
    }
  }
}
