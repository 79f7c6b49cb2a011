/**
 * The InitialDefinitions custom resource (deploy/lib/mirror.ts): on Create it runs
 * the definitions updater once and waits for it to finish, so that the scanning
 * service (which depends on this resource) starts with a seeded mirror. When the
 * updater fails, the stack fails with the updater's own reason, once, instead of
 * clamd tasks crash-looping on an empty mirror. Update and Delete: nothing to do.
 */
import { DescribeTasksCommand, ECSClient, RunTaskCommand, type Task } from '@aws-sdk/client-ecs';
import { type CustomResourceEvent, errorText, type Fetch, type LambdaContext, sendResponse } from './cfn-response.ts';

export interface InitialDefinitionsProperties {
  Cluster: string;
  TaskDefinition: string;
  Subnets: string[];
  SecurityGroups: string[];
  AssignPublicIp: string;
  /** Where the updater's containers log (for the error message). */
  LogGroup?: string;
}

export interface Dependencies {
  ecs: Pick<ECSClient, 'send'>;
  sleep(ms: number): Promise<void>;
  now(): number;
  fetch?: Fetch;
  pollMs?: number;
}

/** The updater's containers, in the order they run (mirror.ts). */
const STEPS: Record<string, string> = {
  restore: 'copying the mirror bucket into the task',
  freshclam: 'downloading the definitions from database.clamav.net',
  publish: 'copying the definitions to the mirror bucket',
};

/** Why a stopped updater task failed, or undefined when every step succeeded. Pure. */
export function updaterFailure(task: Task, logGroup?: string): string | undefined {
  const containers = task.containers ?? [];
  const failed = containers.find((c) => c.exitCode !== undefined && c.exitCode !== 0);
  const where = logGroup ? ` (log group ${logGroup}, stream prefix updater-)` : '';
  if (failed) {
    const step = STEPS[failed.name ?? ''] ?? failed.name;
    const hint =
      failed.name === 'freshclam'
        ? ': the updater needs the internet, through a NAT gateway or a public IP (AssignPublicIp=ENABLED in a public subnet)'
        : '';
    return `the definitions updater failed while ${step} (container ${failed.name} exited ${failed.exitCode}${failed.reason ? `: ${failed.reason}` : ''})${hint}${where}`;
  }
  const missing = containers.filter((c) => c.exitCode === undefined);
  if (missing.length > 0 || containers.length === 0) {
    const reason = [task.stopCode, task.stoppedReason, ...missing.map((c) => c.reason)].filter(Boolean).join('; ');
    return `the definitions updater task stopped before its steps ran: ${reason || 'no reason given'}${where}`;
  }
  return undefined;
}

/** Runs the updater task and waits until it stops or `deadline` passes; the failure, if any. */
export async function runUpdater(
  properties: InitialDefinitionsProperties,
  deps: Dependencies,
  deadline: number,
): Promise<{ taskArn: string; failure?: string }> {
  const run = await deps.ecs.send(
    new RunTaskCommand({
      cluster: properties.Cluster,
      taskDefinition: properties.TaskDefinition,
      launchType: 'FARGATE',
      count: 1,
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: properties.Subnets,
          securityGroups: properties.SecurityGroups,
          assignPublicIp: properties.AssignPublicIp === 'ENABLED' ? 'ENABLED' : 'DISABLED',
        },
      },
    }),
  );
  const refused = run.failures?.[0];
  const taskArn = run.tasks?.[0]?.taskArn;
  if (refused || !taskArn) {
    return {
      taskArn: '',
      failure: `ECS refused to start the definitions updater: ${refused?.reason ?? 'no task'} ${refused?.detail ?? ''}`.trim(),
    };
  }
  for (;;) {
    const { tasks } = await deps.ecs.send(new DescribeTasksCommand({ cluster: properties.Cluster, tasks: [taskArn] }));
    const task = tasks?.[0];
    if (task?.lastStatus === 'STOPPED') {
      const failure = updaterFailure(task, properties.LogGroup);
      return failure ? { taskArn, failure } : { taskArn };
    }
    if (deps.now() >= deadline) {
      return {
        taskArn,
        failure: `the definitions updater (${taskArn}) did not finish in time (still ${task?.lastStatus ?? 'unknown'}); see its logs`,
      };
    }
    await deps.sleep(deps.pollMs ?? 10_000);
  }
}

export async function handle(
  event: CustomResourceEvent<InitialDefinitionsProperties>,
  context: LambdaContext,
  deps: Dependencies,
): Promise<void> {
  const physicalResourceId = event.PhysicalResourceId ?? `initial-definitions-${event.RequestId}`;
  if (event.RequestType !== 'Create') {
    await sendResponse(event, { status: 'SUCCESS', physicalResourceId }, deps.fetch);
    return;
  }
  try {
    // Leave a minute to answer before Lambda's own timeout.
    const deadline = deps.now() + context.getRemainingTimeInMillis() - 60_000;
    const { taskArn, failure } = await runUpdater(event.ResourceProperties, deps, deadline);
    console.log(JSON.stringify({ taskArn, failure }));
    await sendResponse(
      event,
      failure
        ? { status: 'FAILED', reason: failure, physicalResourceId }
        : { status: 'SUCCESS', physicalResourceId, data: { TaskArn: taskArn } },
      deps.fetch,
    );
  } catch (error) {
    console.error(error);
    await sendResponse(
      event,
      { status: 'FAILED', reason: `starting the definitions updater failed: ${errorText(error)}`, physicalResourceId },
      deps.fetch,
    );
  }
}

export async function handler(event: CustomResourceEvent<InitialDefinitionsProperties>, context: LambdaContext): Promise<void> {
  await handle(event, context, {
    ecs: new ECSClient({}),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => Date.now(),
  });
}
