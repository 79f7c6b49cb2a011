/**
 * Who is calling: STS GetCallerIdentity, for the audit trail of the commands that
 * change what clamd detects or what a quarantine holds (`release`, `allow`,
 * `signatures publish`). It needs no permission: AWS answers it for any valid
 * credentials, so an audit record never lacks its "who" for want of a grant.
 */
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { ServiceConnection } from './clients.ts';

export interface CallerIdentity {
  /** arn:aws:iam::…:user/… or arn:aws:sts::…:assumed-role/<role>/<session>. */
  arn: string;
  account: string;
  userId: string;
}

export async function callerIdentity(connection: ServiceConnection): Promise<CallerIdentity> {
  const sts = new STSClient({
    region: connection.region,
    ...(connection.endpoint ? { endpoint: connection.endpoint } : {}),
    ...(connection.credentials ? { credentials: connection.credentials } : {}),
    maxAttempts: 5,
  });
  try {
    const response = await sts.send(new GetCallerIdentityCommand({}));
    if (!response.Arn || !response.Account) throw new Error('STS GetCallerIdentity answered without an ARN or account');
    return { arn: response.Arn, account: response.Account, userId: response.UserId ?? '' };
  } finally {
    sts.destroy();
  }
}
