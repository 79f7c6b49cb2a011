/**
 * `bucketscan policy`: prints the fail-closed bucket policy for the unprocessed
 * bucket (src/policy/bucket-policy.ts) as JSON, ready for
 * `aws s3api put-bucket-policy --policy file://…`; with SOURCES_FILE, one per
 * source bucket. Reads its arguments, SCAN_STATUS_TAG, STATUS_TAG_STYLE and SOURCES_FILE; with AWS
 * credentials in the environment it also reads each bucket's versioning and warns
 * when it is off (policy-versioning.ts).
 */
import { bucketPolicy, PolicyInputError, type PolicyDocument, type PolicyInput } from '../policy/bucket-policy.ts';
import { cleanTagValue, DEFAULT_STATUS_TAG, GUARDDUTY_STATUS_TAG } from '../verdict/verdict.ts';
import { commandSettings } from '../config/config.ts';
import { readEnvironment, type Env } from '../config/env-file.ts';
import type { Source } from '../config/sources.ts';
import { ConfigError, UsageError } from './common.ts';
import { parseCommandArgs } from './parse-args.ts';
import { versioningWarning } from './policy-versioning.ts';

export const summary = 'Print the bucket policy that keeps unscanned files unreadable (JSON on stdout).';
export const synopsis = 'policy [--bucket <name>] --scanner-role <arn> [--reader <arn>]… [--releaser <arn>]… [--tag-key <key>]';
export const help = `Prints a bucket policy for the unprocessed bucket, or with SOURCES_FILE one per
bucket the sources name. It denies, to everyone except the scanner role and the
readers:

  - s3:GetObject and s3:GetObjectVersion of any object whose status tag is not
    CLEAN, including objects with no status tag yet (fail-closed);

and to everyone except the scanner role (and the releasers, for the first and
the last):

  - setting the status tag key (PutObject, POST uploads, PutObjectTagging);
  - changing or deleting the tags of an object that carries a status;
  - copying objects into the bucket (CopyObject would carry a forged tag along).

Options:
  --bucket <name>        the unprocessed bucket (UNPROCESSED_BUCKET_NAME); with
                         SOURCES_FILE, the one source bucket to print (default: all)
  --scanner-role <arn>   the worker's role, e.g. its ECS task role:
                         arn:aws:iam::<account>:role/<path/><name>; its sessions count as it
  --reader <arn>         a role or user that may read any object whatever its status
                         (repeatable), e.g. an incident-response role
  --releaser <arn>       a role or user that runs bucketscan release (repeatable):
                         it may copy a quarantined file back with its status tag
                         set (CLEAN and bucketscan-released, in one request); it
                         gets no read exemption
  --tag-key <key>        the status tag's key; default SCAN_STATUS_TAG, else ${DEFAULT_STATUS_TAG}
                         (${GUARDDUTY_STATUS_TAG} with STATUS_TAG_STYLE=guardduty)

With STATUS_TAG_STYLE=guardduty (the worker then tags in GuardDuty's words), the
read statement allows ${cleanTagValue('guardduty')} where it otherwise allows ${cleanTagValue('bucketscan')}: set it as
the worker has it, or every scanned file stays unreadable.

Apply it with:
  bucketscan policy --bucket B --scanner-role ARN > policy.json
  aws s3api put-bucket-policy --bucket B --policy file://policy.json

It replaces any policy the bucket has: merge its statements into an existing one by
hand (aws s3api get-bucket-policy prints it). The local emulators do not enforce bucket policies.

With SOURCES_FILE or SOURCES (docs/configuration.md), each bucket's policy covers the folders
bucketscan scans there (each source's prefix, arn:aws:s3:::<bucket>/<prefix>*) and
any quarantine area in that bucket; the rest of the bucket is never scanned, so it
is left alone. A source whose statusTag is false is left out (nothing there is ever
tagged CLEAN), and a bucket with no other source gets no policy: a note on stderr,
or with --bucket an error. Without --bucket, stdout holds one JSON object whose
keys are the buckets and whose values are their policies; apply each with
  bucketscan policy --bucket B --scanner-role ARN > B.json
  aws s3api put-bucket-policy --bucket B --policy file://B.json
Without SOURCES_FILE the policy covers the whole of --bucket, as before.

The statements, in the order above: DenyReadUnlessScannedClean,
DenyStatusTagWritesExceptScanner, DenyTagChangesOnScannedObjectsExceptScanner,
DenyCopiesInExceptScanner. The read statement denies when the object's status tag
is not CLEAN (StringNotEquals on s3:ExistingObjectTag/<key>), which IAM also
applies when the tag is absent: an object not scanned yet is denied like an
infected one. Files enter by upload (PutObject, POST, multipart) only.

Who is exempt (ArnNotLike on aws:PrincipalArn, which for a role session is the
role's ARN): every session of the scanner role and of each reader role (and, from
the tag-write and copy-in statements, of each releaser), whatever the session
name. Give a role's full ARN with its path, as aws iam get-role prints it; a
session ARN (arn:aws:sts::…:assumed-role/…) is refused. The scanner role must be
the role the worker runs as: otherwise the worker cannot read the
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
    AWS credentials in the environment, this command reads the versioning of each
    bucket it prints a policy for and warns on stderr when it is off;
  - S3 caps a bucket policy at 20 KB; a longer one is refused;
  - tags replicated in by S3 Replication (s3:ReplicateTags) are not covered: do
    not make the unprocessed bucket a replication destination.
Check the document with aws accessanalyzer validate-policy --policy-type
RESOURCE_POLICY --validate-policy-resource-type AWS::S3::Bucket --policy-document
file://policy.json, and on AWS that a non-exempt download of an untagged object
answers 403.

Bad input (a missing or invalid --bucket, or with SOURCES_FILE one that no source
names or whose sources all have statusTag false, a scanner that is not a role ARN,
a reader or releaser that is not a role or user ARN, a tag key longer than 128
characters or with characters S3 refuses, a bad SOURCES_FILE): one line on stderr
naming the option or setting, exit 2.`;

const FLAGS: Record<PolicyInput, string> = {
  bucket: '--bucket',
  scannerRoleArn: '--scanner-role',
  readerArns: '--reader',
  releaserArns: '--releaser',
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
      releaser: { type: 'string', multiple: true },
      'tag-key': { type: 'string' },
    },
    false,
  );
  const env = readEnvironment();
  const settings = commandSettings(env);
  const file = await settings.sources();
  const statusTagStyle = settings.statusTagStyle();
  const bucket = values.bucket;
  if (bucket === undefined && !file) throw new UsageError('policy: --bucket <name> is required (the unprocessed bucket)');
  const scannerRoleArn = values['scanner-role'];
  if (scannerRoleArn === undefined) throw new UsageError("policy: --scanner-role <arn> is required (the worker's role)");
  const readerArns = values.reader ?? [];
  const releaserArns = values.releaser ?? [];

  try {
    if (!file) {
      const document = bucketPolicy({
        bucket: bucket!,
        scannerRoleArn,
        readerArns,
        releaserArns,
        tagKey: values['tag-key'] ?? configuredTagKey(settings.statusTag()),
        statusTagStyle,
      });
      process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
      await warnIfUnversioned([bucket!], env);
      return 0;
    }
    const plans = bucketPlans(file.sources, file.origin, bucket, values['tag-key']);
    const documents = new Map<string, PolicyDocument>();
    const notes: string[] = [];
    for (const plan of plans) {
      if (plan.prefixes.length === 0) notes.push(`policy: note: no policy for bucket ${plan.bucket}: ${plan.why}`);
      else
        documents.set(
          plan.bucket,
          bucketPolicy({
            bucket: plan.bucket,
            prefixes: plan.prefixes,
            scannerRoleArn,
            readerArns,
            releaserArns,
            tagKey: plan.tagKey,
            statusTagStyle,
          }),
        );
    }
    if (documents.size === 0) throw new UsageError('policy: no source writes the status tag: there is no policy to print');
    for (const note of notes) process.stderr.write(`${note}\n`);
    const printed = bucket === undefined ? Object.fromEntries(documents) : documents.get(bucket);
    process.stdout.write(`${JSON.stringify(printed, null, 2)}\n`);
    await warnIfUnversioned([...documents.keys()], env);
    return 0;
  } catch (error) {
    if (error instanceof PolicyInputError) throw new UsageError(`policy: ${FLAGS[error.input]}: ${error.message}`);
    throw error;
  }
}

async function warnIfUnversioned(buckets: readonly string[], env: Env): Promise<void> {
  for (const name of buckets) {
    const warning = await versioningWarning(name, env);
    if (warning) process.stderr.write(`${warning}\n`);
  }
}

/** One bucket's policy as the sources file describes it: the folders it covers, or why it gets none. */
interface BucketPlan {
  bucket: string;
  prefixes: string[];
  tagKey: string;
  why: string;
}

/**
 * The buckets of the sources file (or the one --bucket names), each with the
 * folders its policy covers: the scanned prefixes of its sources that write the
 * status tag, and the quarantine areas in it.
 */
export function bucketPlans(
  sources: readonly Source[],
  origin: string,
  only: string | undefined,
  tagKeyOption: string | undefined,
): BucketPlan[] {
  const buckets = [...new Set(sources.map((source) => source.bucket))];
  if (only !== undefined && !buckets.includes(only)) {
    throw new UsageError(`policy: --bucket: bucket "${only}" is in no source of ${origin}: bucketscan does not scan it`);
  }
  const plans: BucketPlan[] = [];
  for (const name of only === undefined ? buckets : [only]) {
    const scanned = sources.filter((source) => source.bucket === name);
    // A source's statusTag is the key the worker writes there (undefined: it writes none).
    const tagged = scanned.filter((source) => source.statusTag !== undefined);
    const quarantines = sources.filter((source) => source.quarantine.bucket === name).map((source) => source.quarantine.prefix);
    const why = `${scanned.map((source) => source.label).join(', ')} ${scanned.length === 1 ? 'writes' : 'write'} no status tag (statusTag false, or SCAN_STATUS_TAG empty), so nothing there would ever be readable`;
    if (tagged.length === 0 && only !== undefined) throw new UsageError(`policy: --bucket: ${why}`);
    const keys = [...new Set(tagged.map((source) => source.statusTag!))];
    if (keys.length > 1 && tagKeyOption === undefined) {
      throw new UsageError(
        `policy: bucket "${name}": its sources write different status tags (${keys.join(', ')}): pass --tag-key, or give them one key`,
      );
    }
    const tagKey = (tagKeyOption ?? keys[0] ?? DEFAULT_STATUS_TAG).trim();
    plans.push({
      bucket: name,
      prefixes: tagged.length === 0 ? [] : [...tagged.map((source) => source.prefix), ...quarantines],
      tagKey,
      why,
    });
  }
  return plans;
}

/**
 * SCAN_STATUS_TAG as the worker reads it (the style's key when unset); set but empty
 * means tagging is off, and then no object would ever be tagged CLEAN and this
 * policy would make the whole bucket unreadable, so that is refused.
 */
function configuredTagKey(key: string | undefined): string {
  if (key !== undefined) return key;
  throw new ConfigError(
    'SCAN_STATUS_TAG',
    'is empty, which turns status tags off: with this policy nothing could be read; set it (or pass --tag-key) to the key the worker writes',
  );
}
