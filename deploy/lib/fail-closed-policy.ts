/**
 * The fail-closed policy for the unprocessed bucket as IAM statements: the very
 * statements `bucketscan policy` prints (src/policy/bucket-policy.ts), with the
 * deployment's references in place of literal ARNs. Reads of an object are denied
 * unless the scanner tagged it CLEAN (untagged included), only the scanner may
 * write or change the status tag, and copies in (which would carry a source's
 * tags) are the scanner's alone.
 */
import { Aws, type CfnCondition, Fn } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { policyStatements } from '../../src/policy/bucket-policy.ts';

export interface FailClosedPolicyOptions {
  /** The objects it covers: `<bucket ARN>/<prefix>*`, or several folders of one bucket. */
  objectsArn: string | string[];
  /** The status tag key (SCAN_STATUS_TAG). */
  statusTag: string;
  /** The tag value that opens a file: cleanTagValue of STATUS_TAG_STYLE. */
  cleanValue: string;
  /** The scanner's task role: it reads every object and alone writes the tag. */
  scannerRoleArn: string;
  /** Role ARNs that may read objects whatever their tag (a backup, an auditor); a list token is accepted. */
  readers: string[];
  /** When given, the readers exception applies only where it holds (a template whose reader list may be empty). */
  readersCondition?: CfnCondition | undefined;
  /** Role ARNs that run bucketscan release: exempt from the status-tag-write and copy-in statements only. */
  releasers?: string[];
  releasersCondition?: CfnCondition | undefined;
}

export function failClosedStatements(options: FailClosedPolicyOptions): iam.PolicyStatement[] {
  const { objectsArn, statusTag, cleanValue, scannerRoleArn, readers, readersCondition } = options;
  const readExemption = exemptScannerAndReaders(scannerRoleArn, readers, readersCondition);
  const writeExemption = exemptScannerAndReaders(scannerRoleArn, options.releasers ?? [], options.releasersCondition);
  return policyStatements({
    objectsArn,
    scannerArn: scannerRoleArn,
    readerArns: [],
    tagKey: statusTag,
    cleanValue,
    readExemption,
    writeExemption,
  }).map((statement) => iam.PolicyStatement.fromJson(statement));
}

/**
 * The condition of a deny that spares the scanner and the named readers. Two
 * operators on one key, both must hold for the deny: not the scanner, and none of
 * the readers (ArnNotLike with a list is true when no entry matches). With
 * `readersCondition`, the readers clause exists only where it holds (the template's
 * empty-list case).
 */
export function exemptScannerAndReaders(
  scannerRoleArn: string,
  readers: string[],
  readersCondition?: CfnCondition,
  others?: { arns: string[]; condition?: CfnCondition | undefined },
): Record<string, unknown> {
  const clause = (operator: string, arns: string[], condition: CfnCondition | undefined) => {
    if (!arns.some((arn) => arn !== '')) return {};
    const value = { 'aws:PrincipalArn': arns };
    return { [operator]: condition ? Fn.conditionIf(condition.logicalId, value, Aws.NO_VALUE) : value };
  };
  return {
    ArnNotEquals: { 'aws:PrincipalArn': scannerRoleArn },
    ...clause('ArnNotLike', readers, readersCondition),
    // A second list (the releasers) needs an operator of its own: one key per operator. StringNotLike
    // compares an ARN as ArnNotLike does when the values hold no wildcards.
    ...(others ? clause('StringNotLike', others.arns, others.condition) : {}),
  };
}
