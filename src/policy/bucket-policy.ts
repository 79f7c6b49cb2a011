/**
 * The bucket policy that makes the unprocessed bucket fail closed: nobody but the
 * scanner (and readers named on purpose) can download an object until the scanner
 * has tagged it CLEAN, and nobody but the scanner can write that tag.
 *
 * Pure: `bucketscan policy` prints it, and a deployment (CDK, Terraform via a
 * script) can import `bucketPolicy` and attach the same document.
 *
 * The IAM rules this rests on (AWS IAM User Guide and Amazon S3 User Guide):
 *
 * - A negated operator is true when its key is absent from the request. "If the key
 *   that you specify in a policy condition is not present in the request context, the
 *   values do not match and the condition is false. If the policy condition requires
 *   that the key is not matched, such as StringNotLike or ArnNotLike, and the right key
 *   is not present, the condition is true."
 *   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
 *   So `StringNotEquals s3:ExistingObjectTag/<key> CLEAN` holds for an object with no
 *   status tag at all: the Deny applies to untagged objects, which is what makes
 *   the policy fail closed (cdk-serverless-clamscan's policy, written as an Allow
 *   on the tag, or as a Deny on the "infected" value, leaves them readable).
 * - Several values under one negated operator are a NOR: `ArnNotLike aws:PrincipalArn
 *   [scanner, reader…]` holds only when the caller is none of them.
 *   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html
 *   Conditions of a statement are ANDed, so the Deny hits "not CLEAN and not exempt".
 * - aws:PrincipalArn of a role session is the role's ARN ("For IAM roles, the request
 *   context returns the ARN of the role, not the ARN of the user that assumed the
 *   role"), path included, so exempting the role's ARN exempts every session of it:
 *   the worker's ECS task role, whatever its session names. An anonymous request has
 *   no aws:PrincipalArn, so the negated condition is true and it is denied too.
 *   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
 * - s3:ExistingObjectTag is evaluated for GetObject/GetObjectVersion and the object
 *   tagging actions, but not for PutObject or DeleteObject; s3:RequestObjectTagKeys
 *   carries the tag keys a PutObject, POST upload or PutObjectTagging sets.
 *   https://docs.aws.amazon.com/AmazonS3/latest/userguide/tagging-and-policies.html
 */
import { bucketNameProblem } from '../aws/s3-url.ts';

import { cleanTagValue, defaultStatusTag, type StatusTagStyle } from '../verdict/verdict.ts';
/** S3 refuses bucket policies above 20 KB. */
export const MAX_BUCKET_POLICY_BYTES = 20 * 1024;

export interface BucketPolicyOptions {
  /** The unprocessed bucket. */
  bucket: string;
  /**
   * The folders covered ('' or ending in '/'): the scanned areas, and any quarantine
   * area, in the bucket. Default [''], the whole bucket. Objects elsewhere in it are
   * never scanned, so a deny there would lock them out for good.
   */
  prefixes?: readonly string[];
  /** The worker's role (its ECS task role): reads everything, alone writes the status tag. */
  scannerRoleArn: string;
  /** Roles or users that may read objects whatever their status (e.g. an incident-response role). */
  readerArns?: readonly string[];
  /**
   * Roles or users that run `bucketscan release`: they may copy a file back in
   * with its status tag set (CLEAN and the release marker, one request), which the
   * tag-write and copy-in statements otherwise refuse to everyone but the scanner.
   * They get no read exemption.
   */
  releaserArns?: readonly string[];
  /** The status tag's key. Default: the style's (bucketscan-status, or GuardDutyMalwareScanStatus). */
  tagKey?: string;
  /**
   * The words the worker tags with (STATUS_TAG_STYLE): reads are allowed only when
   * the tag says that style's clean (CLEAN, or GuardDuty's NO_THREATS_FOUND). Default bucketscan.
   */
  statusTagStyle?: StatusTagStyle;
  /** The AWS partition (aws, aws-cn, aws-us-gov…). Default: the scanner role's. */
  partition?: string;
}

export interface PolicyStatement {
  Sid: string;
  Effect: 'Deny';
  Principal: '*';
  Action: string[];
  /** One ARN, or several (a bucket's folders). */
  Resource: string | string[];
  Condition: Record<string, unknown>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

export type PolicyInput = 'bucket' | 'scannerRoleArn' | 'readerArns' | 'releaserArns' | 'tagKey' | 'partition';

/** An option the policy cannot be built from; `input` names it, the message says why. */
export class PolicyInputError extends Error {
  readonly input: PolicyInput;
  constructor(input: PolicyInput, message: string) {
    super(message);
    this.name = 'PolicyInputError';
    this.input = input;
  }
}

const PARTITION = /^aws(?:-[a-z]+)*$/;
/**
 * arn:<partition>:iam::<account>:role|user/<path/><name>. Path segments and names
 * are held to IAM's name characters: IAM paths may hold more (any printable ASCII),
 * but `*` and `?` there would be read as wildcards by ArnNotLike.
 */
const PRINCIPAL_ARN = /^arn:(aws(?:-[a-z]+)*):iam::(\d{12}):(role|user)\/((?:[\w+=,.@-]+\/)*)([\w+=,.@-]+)$/;
const MAX_PATH_CHARS = 512;
const MAX_NAME_CHARS = 64;

export interface ParsedPrincipal {
  arn: string;
  partition: string;
  account: string;
  type: 'role' | 'user';
}

/** Reads a role (or, with `allowUser`, a user) ARN; throws PolicyInputError naming `input`. */
export function parsePrincipalArn(arn: string, input: PolicyInput, allowUser: boolean): ParsedPrincipal {
  const wanted = allowUser
    ? 'an IAM role or user ARN (arn:aws:iam::<account>:role/<name> or :user/<name>)'
    : 'an IAM role ARN (arn:aws:iam::<account>:role/<name>)';
  const shown = JSON.stringify(arn.length > 200 ? `${arn.slice(0, 200)}…` : arn);
  if (/^arn:[^:]*:sts::\d*:assumed-role\//.test(arn)) {
    throw new PolicyInputError(input, `${shown} is a role session, not a role: give ${wanted}; every session of a role counts as the role`);
  }
  const match = PRINCIPAL_ARN.exec(arn);
  if (!match) throw new PolicyInputError(input, `${shown} is not ${wanted}`);
  const [, partition = '', account = '', type = '', path = '', name = ''] = match;
  if (type === 'user' && !allowUser) throw new PolicyInputError(input, `${shown} is a user: the scanner must be the worker's role`);
  if (name.length > MAX_NAME_CHARS) throw new PolicyInputError(input, `${shown}: IAM names are at most ${MAX_NAME_CHARS} characters`);
  if (path.length + 1 > MAX_PATH_CHARS) throw new PolicyInputError(input, `${shown}: IAM paths are at most ${MAX_PATH_CHARS} characters`);
  return { arn, partition, account, type: type as 'role' | 'user' };
}

/**
 * Why `key` cannot be an S3 object tag key, or undefined: 1 to 128 Unicode
 * characters among letters, digits, spaces and `+ - = . _ : / @`, not starting with
 * the reserved `aws:`. Leading or trailing spaces are refused too: S3 would keep
 * them, and a policy keyed on them would never match what anyone means to type.
 */
export function tagKeyProblem(key: string): string | undefined {
  const length = [...key].length;
  if (length === 0) return 'a tag key cannot be empty';
  if (length > 128) return `S3 tag keys are at most 128 characters, not ${length}`;
  if (!/^[\p{L}\p{N}\p{Zs}+\-=._:/@]+$/u.test(key)) return 'S3 tag keys hold only letters, digits, spaces and + - = . _ : / @';
  if (/^\s|\s$/u.test(key)) return 'a tag key should not begin or end with a space';
  if (/^aws:/i.test(key)) return 'tag keys starting with aws: are reserved for AWS';
  return undefined;
}

/** The bucket policy document; throws PolicyInputError for an option it cannot use. */
export function bucketPolicy(options: BucketPolicyOptions): PolicyDocument {
  const bucketProblem = bucketNameProblem(options.bucket);
  if (bucketProblem) throw new PolicyInputError('bucket', `${JSON.stringify(options.bucket)} is not a bucket name: ${bucketProblem}`);
  const style = options.statusTagStyle ?? 'bucketscan';
  const tagKey = options.tagKey ?? defaultStatusTag(style);
  const tagProblem = tagKeyProblem(tagKey);
  if (tagProblem) throw new PolicyInputError('tagKey', `${JSON.stringify(tagKey)}: ${tagProblem}`);

  const scanner = parsePrincipalArn(options.scannerRoleArn, 'scannerRoleArn', false);
  const partition = options.partition ?? scanner.partition;
  if (!PARTITION.test(partition))
    throw new PolicyInputError('partition', `${JSON.stringify(partition)} is not an AWS partition (aws, aws-cn, aws-us-gov…)`);
  if (scanner.partition !== partition) {
    throw new PolicyInputError('scannerRoleArn', `the scanner role is in partition ${scanner.partition}, the bucket in ${partition}`);
  }
  const readers: string[] = [];
  for (const arn of options.readerArns ?? []) {
    const reader = parsePrincipalArn(arn, 'readerArns', true);
    if (reader.partition !== partition) {
      throw new PolicyInputError('readerArns', `reader ${reader.arn} is in partition ${reader.partition}, the bucket in ${partition}`);
    }
    if (reader.arn !== scanner.arn && !readers.includes(reader.arn)) readers.push(reader.arn);
  }
  const releasers: string[] = [];
  for (const arn of options.releaserArns ?? []) {
    const releaser = parsePrincipalArn(arn, 'releaserArns', true);
    if (releaser.partition !== partition) {
      throw new PolicyInputError(
        'releaserArns',
        `releaser ${releaser.arn} is in partition ${releaser.partition}, the bucket in ${partition}`,
      );
    }
    if (releaser.arn !== scanner.arn && !releasers.includes(releaser.arn)) releasers.push(releaser.arn);
  }

  const prefixes = [...new Set(options.prefixes ?? [''])];
  if (prefixes.length === 0) throw new PolicyInputError('bucket', `no folder of bucket ${options.bucket} to cover`);
  const wild = prefixes.find((prefix) => /[*?]/.test(prefix));
  if (wild !== undefined) {
    throw new PolicyInputError('bucket', `folder ${JSON.stringify(wild)} holds * or ?, which a policy's Resource would read as wildcards`);
  }
  const objects = prefixes.map((prefix) => `arn:${partition}:s3:::${options.bucket}/${prefix}*`);
  const document: PolicyDocument = {
    Version: '2012-10-17',
    Statement: policyStatements({
      objectsArn: objects.length === 1 ? objects[0]! : objects,
      scannerArn: scanner.arn,
      readerArns: readers,
      releaserArns: releasers,
      tagKey,
      cleanValue: cleanTagValue(style),
    }),
  };
  const bytes = Buffer.byteLength(JSON.stringify(document));
  if (bytes > MAX_BUCKET_POLICY_BYTES) {
    throw new PolicyInputError(
      'readerArns',
      `the policy would be ${bytes} bytes, over S3's ${MAX_BUCKET_POLICY_BYTES}-byte limit: name fewer readers`,
    );
  }
  return document;
}

export interface StatementsInput {
  /** The objects covered, e.g. arn:aws:s3:::bucket/* (or a prefix's, or several prefixes'). */
  objectsArn: string | string[];
  scannerArn: string;
  readerArns: readonly string[];
  /** Exempt, with the scanner, from the status-tag-write and copy-in statements (bucketscan release). */
  releaserArns?: readonly string[];
  tagKey: string;
  /** The one tag value that opens a file for reading: cleanTagValue(style). */
  cleanValue: string;
  /**
   * Replaces the tag-write and copy-in statements' exemption (ArnNotLike on the
   * scanner and releasers), as readExemption does for reads.
   */
  writeExemption?: Record<string, unknown>;
  /**
   * Replaces the read deny's exemption (ArnNotLike on the scanner and readers)
   * with other condition operators: the deployment's template names its readers
   * with a list parameter, which cannot be joined to the scanner in one list.
   */
  readExemption?: Record<string, unknown>;
}

/**
 * The four statements, unchecked: `bucketPolicy` validates its inputs first; the
 * CDK construct (deploy/) passes CloudFormation references instead of literal ARNs.
 */
export function policyStatements(input: StatementsInput): PolicyStatement[] {
  const { objectsArn: objects, scannerArn, readerArns, tagKey } = input;
  const statusTag = `s3:ExistingObjectTag/${tagKey}`;
  const exceptScanner = { 'aws:PrincipalArn': [scannerArn] };
  const exceptWriters = input.writeExemption ?? { ArnNotLike: { 'aws:PrincipalArn': [scannerArn, ...(input.releaserArns ?? [])] } };
  return [
    {
      // Fail closed: an object with no status tag, or any status but CLEAN (in GuardDuty's
      // words NO_THREATS_FOUND), cannot be downloaded (HTTP 403), whatever the caller's
      // own permissions say.
      Sid: 'DenyReadUnlessScannedClean',
      Effect: 'Deny',
      Principal: '*',
      Action: ['s3:GetObject', 's3:GetObjectVersion'],
      Resource: objects,
      Condition: {
        StringNotEquals: { [statusTag]: input.cleanValue },
        ...(input.readExemption ?? { ArnNotLike: { 'aws:PrincipalArn': [scannerArn, ...readerArns] } }),
      },
    },
    {
      // An uploader cannot pre-tag its own file CLEAN: no one but the scanner sets the
      // status key, at upload (PutObject, POST, CreateMultipartUpload) or afterwards
      // (and the releasers, whose one write is bucketscan release's audited copy back).
      Sid: 'DenyStatusTagWritesExceptScanner',
      Effect: 'Deny',
      Principal: '*',
      Action: ['s3:PutObject', 's3:PutObjectTagging', 's3:PutObjectVersionTagging'],
      Resource: objects,
      Condition: {
        'ForAnyValue:StringEquals': { 's3:RequestObjectTagKeys': [tagKey] },
        ...exceptWriters,
      },
    },
    {
      // S3 replaces or deletes the whole tag set on every tagging write, so once an
      // object carries a status, any tag change by someone else would drop it. That
      // would fail closed (the object becomes unreadable) but lose the scan's record;
      // refuse it outright instead.
      Sid: 'DenyTagChangesOnScannedObjectsExceptScanner',
      Effect: 'Deny',
      Principal: '*',
      Action: ['s3:PutObjectTagging', 's3:PutObjectVersionTagging', 's3:DeleteObjectTagging', 's3:DeleteObjectVersionTagging'],
      Resource: objects,
      Condition: {
        Null: { [statusTag]: 'false' },
        ArnNotLike: exceptScanner,
      },
    },
    {
      // CopyObject keeps the source's tags by default (x-amz-tagging-directive COPY),
      // so a file tagged CLEAN in some other bucket would arrive pre-tagged, and such a
      // request sets no s3:RequestObjectTagKeys for the statement above to see. Files
      // enter this bucket by upload only (and by bucketscan release's copy back, for the releasers).
      Sid: 'DenyCopiesInExceptScanner',
      Effect: 'Deny',
      Principal: '*',
      Action: ['s3:PutObject'],
      Resource: objects,
      Condition: {
        Null: { 's3:x-amz-copy-source': 'false' },
        ...exceptWriters,
      },
    },
  ];
}
