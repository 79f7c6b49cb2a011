/**
 * `bucketscan policy`: prints the fail-closed bucket policy for the unprocessed
 * bucket (src/policy/bucket-policy.ts) as JSON, ready for
 * `aws s3api put-bucket-policy --policy file://…`. Reads its arguments and
 * SCAN_STATUS_TAG; with AWS credentials in the environment it also reads the
 * bucket's versioning and warns when it is off (policy-versioning.ts).
 */
import { bucketPolicy, PolicyInputError, type PolicyInput } from '../policy/bucket-policy.ts';
import { DEFAULT_STATUS_TAG } from '../verdict/verdict.ts';
import { readEnvironment } from '../config/env-file.ts';
import { ConfigError, UsageError } from './common.ts';
import { parseCommandArgs } from './parse-args.ts';
import { versioningWarning } from './policy-versioning.ts';

export const summary = 'Print the bucket policy that keeps unscanned files unreadable (JSON on stdout).';
export const synopsis = 'policy --bucket <name> --scanner-role <arn> [--reader <arn>]… [--tag-key <key>]';
export const help = `Prints a bucket policy for the unprocessed bucket. It denies, to everyone except
the scanner role and the readers:

  - s3:GetObject and s3:GetObjectVersion of any object whose status tag is not
    CLEAN, including objects with no status tag yet (fail-closed);

and to everyone except the scanner role:

  - setting the status tag key (PutObject, POST uploads, PutObjectTagging);
  - changing or deleting the tags of an object that carries a status;
  - copying objects into the bucket (CopyObject would carry a forged tag along).

Options:
  --bucket <name>        the unprocessed bucket (UNPROCESSED_BUCKET_NAME)
  --scanner-role <arn>   the worker's role, e.g. its ECS task role:
                         arn:aws:iam::<account>:role/<path/><name>; its sessions count as it
  --reader <arn>         a role or user that may read any object whatever its status
                         (repeatable), e.g. an incident-response role
  --tag-key <key>        the status tag's key; default SCAN_STATUS_TAG, else ${DEFAULT_STATUS_TAG}

Apply it with:
  bucketscan policy --bucket B --scanner-role ARN > policy.json
  aws s3api put-bucket-policy --bucket B --policy file://policy.json

It replaces any policy the bucket has: merge its statements into an existing one by
hand (aws s3api get-bucket-policy prints it). The local emulators do not enforce bucket policies.

The statements, in the order above: DenyReadUnlessScannedClean,
DenyStatusTagWritesExceptScanner, DenyTagChangesOnScannedObjectsExceptScanner,
DenyCopiesInExceptScanner. The read statement denies when the object's status tag
is not CLEAN (StringNotEquals on s3:ExistingObjectTag/<key>), which IAM also
applies when the tag is absent: an object not scanned yet is denied like an
infected one. Files enter by upload (PutObject, POST, multipart) only.

Who is exempt (ArnNotLike on aws:PrincipalArn, which for a role session is the
role's ARN): every session of the scanner role and of each reader role, whatever
the session name. Give a role's full ARN with its path, as aws iam get-role
prints it; a session ARN (arn:aws:sts::…:assumed-role/…) is refused. The scanner
role must be the role the worker runs as: otherwise the worker cannot read the
files it must scan (every scan fails with AccessDenied and ends in the dead-letter
queue) or tag them. Readers get no tagging rights. Anonymous requests carry no
aws:PrincipalArn and are denied.

Before applying it:
  - it only denies: IAM policies must still allow what each principal does (the
    scanner's s3:GetObject, s3:GetObjectVersion and tagging permissions);
  - status tags must be on in the worker with the same key: an empty
    SCAN_STATUS_TAG is refused, since no object would ever be readable;
  - objects already in the bucket carry no status: they stay unreadable until
    rescanned (bucketscan rescan);
  - the bucket must be versioned (the worker tags the version it scanned): with
    AWS credentials in the environment, this command reads its versioning and
    warns on stderr when it is off;
  - S3 caps a bucket policy at 20 KB; a longer one is refused;
  - tags replicated in by S3 Replication (s3:ReplicateTags) are not covered: do
    not make the unprocessed bucket a replication destination.
Check the document with aws accessanalyzer validate-policy --policy-type
RESOURCE_POLICY --validate-policy-resource-type AWS::S3::Bucket --policy-document
file://policy.json, and on AWS that a non-exempt download of an untagged object
answers 403.

Bad input (a missing or invalid --bucket, a scanner that is not a role ARN, a
reader that is not a role or user ARN, a tag key longer than 128 characters or
with characters S3 refuses): one line on stderr naming the option, exit 2.`;

const FLAGS: Record<PolicyInput, string> = {
  bucket: '--bucket',
  scannerRoleArn: '--scanner-role',
  readerArns: '--reader',
  tagKey: '--tag-key',
  partition: '--scanner-role',
};

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    'policy',
    argv,
    {
      bucket: { type: 'string' },
      'scanner-role': { type: 'string' },
      reader: { type: 'string', multiple: true },
      'tag-key': { type: 'string' },
    },
    false,
  );
  const bucket = values.bucket;
  if (bucket === undefined) throw new UsageError('policy: --bucket <name> is required (the unprocessed bucket)');
  const scannerRoleArn = values['scanner-role'];
  if (scannerRoleArn === undefined) throw new UsageError("policy: --scanner-role <arn> is required (the worker's role)");

  try {
    const document = bucketPolicy({
      bucket,
      scannerRoleArn,
      readerArns: values.reader ?? [],
      tagKey: values['tag-key'] ?? statusTagFromEnvironment(),
    });
    process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
    const warning = await versioningWarning(bucket, readEnvironment());
    if (warning) process.stderr.write(`${warning}\n`);
    return 0;
  } catch (error) {
    if (error instanceof PolicyInputError) throw new UsageError(`policy: ${FLAGS[error.input]}: ${error.message}`);
    throw error;
  }
}

/**
 * SCAN_STATUS_TAG as the worker reads it: unset means the default key; set but empty
 * means tagging is off, and then no object would ever be tagged CLEAN and this
 * policy would make the whole bucket unreadable, so that is refused.
 */
function statusTagFromEnvironment(): string {
  const value = readEnvironment()['SCAN_STATUS_TAG'];
  if (value === undefined) return DEFAULT_STATUS_TAG;
  if (value.trim() === '') {
    throw new ConfigError(
      'SCAN_STATUS_TAG',
      'is empty, which turns status tags off: with this policy nothing could be read; set it (or pass --tag-key) to the key the worker writes',
    );
  }
  return value.trim();
}
