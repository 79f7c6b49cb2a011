/**
 * The optional wake-up function (deploy/lib/scaling.ts, `wakeUp: 'function'`): an
 * EventBridge rule on the unprocessed bucket's Object Created events invokes it,
 * and it raises the service's desired count from 0 to 1 at once, instead of
 * waiting for SQS metrics (which can lag up to about 15 minutes after a quiet
 * spell). It never lowers a count and never raises one above 0: target tracking
 * owns every other change.
 */
import { DescribeServicesCommand, ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';

export interface WakeUpTarget {
  cluster: string;
  service: string;
}

export type WakeUpResult = 'started' | 'already-running' | 'missing';

/** Sets the desired count to 1 if, and only if, it is 0. */
export async function wakeUp(ecs: Pick<ECSClient, 'send'>, target: WakeUpTarget): Promise<WakeUpResult> {
  const { services } = await ecs.send(new DescribeServicesCommand({ cluster: target.cluster, services: [target.service] }));
  const service = services?.[0];
  if (service?.status !== 'ACTIVE') return 'missing';
  if ((service.desiredCount ?? 0) > 0) return 'already-running';
  await ecs.send(new UpdateServiceCommand({ cluster: target.cluster, service: target.service, desiredCount: 1 }));
  return 'started';
}

export function targetFromEnvironment(env: Record<string, string | undefined>): WakeUpTarget {
  const cluster = env['CLUSTER'];
  const service = env['SERVICE'];
  if (!cluster || !service) throw new Error('CLUSTER and SERVICE must be set');
  return { cluster, service };
}

const client = new ECSClient({});

export async function handler(event: { detail?: { object?: { key?: string } } }): Promise<WakeUpResult> {
  const result = await wakeUp(client, targetFromEnvironment(process.env));
  console.log(JSON.stringify({ result, key: event.detail?.object?.key }));
  return result;
}
