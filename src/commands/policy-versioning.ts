/**
 * `bucketscan policy`'s check of the bucket it writes a policy for: the fail-closed
 * policy locks every file out of an unversioned bucket (bucketscan tags only the
 * version it scanned, so no CLEAN tag is ever written there). When the environment
 * names AWS credentials, the command reads the bucket's versioning and warns; with
 * none it reads nothing, as before.
 */
import { GetBucketVersioningCommand } from '@aws-sdk/client-s3';
import type { Env } from '../config/env-file.ts';
import { commandSettings } from '../config/config.ts';
import { createS3Client, type ServiceConnection } from '../aws/clients.ts';
import { errorMessage } from '../shared/errors.ts';

/** Variables that say credentials are meant to be used (the SDK's chain would find them). */
const CREDENTIAL_HINTS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_PROFILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
];

/** The warning to print for this bucket, or undefined (versioned, or nothing to read it with). */
export async function versioningWarning(bucket: string, env: Env): Promise<string | undefined> {
  if (!CREDENTIAL_HINTS.some((name) => (env[name] ?? '').trim() !== '')) return undefined;
  let connection: ServiceConnection;
  try {
    connection = commandSettings(env).aws('s3');
  } catch {
    return undefined; // no region: nothing to ask
  }
  const s3 = createS3Client(connection);
  try {
    const { Status } = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }), { abortSignal: AbortSignal.timeout(10_000) });
    if (Status === 'Enabled') return undefined;
    return (
      `policy: warning: bucket ${bucket} is not versioned (versioning ${Status ?? 'never enabled'}): bucketscan tags only the version it ` +
      'scanned, so with this policy every file would stay unreadable; enable versioning first ' +
      `(aws s3api put-bucket-versioning --bucket ${bucket} --versioning-configuration Status=Enabled)`
    );
  } catch (error) {
    return `policy: note: could not read the versioning of bucket ${bucket} (${errorMessage(error)}); this policy needs it Enabled`;
  } finally {
    s3.destroy();
  }
}
