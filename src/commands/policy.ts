/**
 * `bucketscan policy`: prints the fail-closed bucket policy for the unprocessed
 * bucket (src/policy/bucket-policy.ts) as JSON, ready for
 * `aws s3api put-bucket-policy --policy file://…`. Reads its arguments and
 * SCAN_STATUS_TAG; with AWS credentials in the environment it also reads the
 * bucket's versioning and warns when it is off (policy-versioning.ts).
 */
import { bucketPolicy, DEFAULT_STATUS_TAG, PolicyInputError, type PolicyInput } from '../policy/bucket-policy.ts';
import { ConfigError, readEnvironment, UsageError } from './common.ts';
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
hand. The bucket must be versioned (bucketscan tags the version it scanned): with
AWS credentials in the environment, the command checks and warns on stderr. The
local emulators do not enforce bucket policies.`;

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
