/**
 * The fail-closed read policy for the unprocessed bucket (issue 8's
 * `bucketscan policy`), as IAM statements. Reads of an object are denied unless
 * the scanner tagged it CLEAN, so nothing is readable before its scan, not even
 * in the window between the upload and the first tag; and only the scanner may
 * write that tag, so an uploader cannot pre-tag its own file clean.
 */
import { Aws, type CfnCondition, Fn } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';

export interface FailClosedPolicyOptions {
  /** ARN of the bucket the policy is for. */
  bucketArn: string;
  /** The objects it covers: `<bucket ARN>/<prefix>*`. */
  objectsArn: string;
  /** The status tag key (SCAN_STATUS_TAG). */
  statusTag: string;
  /** The scanner's task role: it reads every object and alone writes the tag. */
  scannerRoleArn: string;
  /** Role ARNs that may read objects whatever their tag (a backup, an auditor); a list token is accepted. */
  readers: string[];
  /** When given, the readers exception applies only where it holds (a template whose reader list may be empty). */
  readersCondition?: CfnCondition | undefined;
}

export function failClosedStatements(options: FailClosedPolicyOptions): iam.PolicyStatement[] {
  const { objectsArn, statusTag, scannerRoleArn, readers, readersCondition } = options;
  // Two operators on one key, both must hold for the deny: not the scanner, and
  // none of the readers (ArnNotLike with a list is true when no entry matches).
  const hasReaders = readers.some((reader) => reader !== '');
  const readersClause = { 'aws:PrincipalArn': readers };
  const exceptReaders = !hasReaders
    ? {}
    : readersCondition
      ? { ArnNotLike: Fn.conditionIf(readersCondition.logicalId, readersClause, Aws.NO_VALUE) }
      : { ArnNotLike: readersClause };
  return [
    new iam.PolicyStatement({
      sid: 'DenyReadUnlessScannedClean',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resources: [objectsArn],
      conditions: {
        // An object without the tag has no value for the key: StringNotEquals is
        // then true, so an untagged object is denied too (fail-closed).
        StringNotEquals: { [`s3:ExistingObjectTag/${statusTag}`]: 'CLEAN' },
        // aws:PrincipalArn of an assumed-role session is the role's ARN.
        ArnNotEquals: { 'aws:PrincipalArn': scannerRoleArn },
        ...exceptReaders,
      },
    }),
    new iam.PolicyStatement({
      sid: 'DenyStatusTagWritesExceptScanner',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['s3:PutObject', 's3:PutObjectTagging', 's3:PutObjectVersionTagging'],
      resources: [objectsArn],
      conditions: {
        'ForAnyValue:StringEquals': { 's3:RequestObjectTagKeys': [statusTag] },
        ArnNotEquals: { 'aws:PrincipalArn': scannerRoleArn },
      },
    }),
  ];
}
