/** Settings shared by every bucket the construct creates. */
import { Duration, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';

export function secureBucketDefaults(logs: s3.IBucket | undefined, logPrefix: string): s3.BucketProps {
  return {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    ...(logs ? { serverAccessLogsBucket: logs, serverAccessLogsPrefix: logPrefix } : {}),
  };
}

export function enforceTls(bucket: s3.IBucket): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'DenyInsecureTransport',
    effect: iam.Effect.DENY,
    principals: [new iam.AnyPrincipal()],
    actions: ['s3:*'],
    resources: [bucket.bucketArn, bucket.arnForObjects('*')],
    conditions: { Bool: { 'aws:SecureTransport': 'false' } },
  });
}

export function quarantineLifecycle(days: number): s3.LifecycleRule[] {
  const rules: s3.LifecycleRule[] = [
    // A multipart copy that failed and could not be aborted leaves parts behind.
    { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
  ];
  if (Token.isUnresolved(days) || days > 0) {
    rules.push({ id: 'expire-quarantined', expiration: Duration.days(days), noncurrentVersionExpiration: Duration.days(days) });
  }
  return rules;
}

export function normalisePrefix(prefix: string | undefined): string {
  if (prefix === undefined || Token.isUnresolved(prefix)) return prefix ?? '';
  const trimmed = prefix.trim().replace(/^\/+/, '');
  return trimmed === '' || trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}
