/**
 * The EventBridgeSources custom resource of the template (deploy/lib/template-stack.ts):
 * the template takes a comma-separated list of existing buckets whose uploads
 * arrive through EventBridge, a list CloudFormation cannot loop over. For each
 * bucket this function
 * - turns on its EventBridge delivery: it reads the bucket's notification
 *   configuration and writes it back with EventBridgeConfiguration added, so the
 *   bucket's queue, topic and function notifications (anyone's) are kept;
 * - and answers what the template cannot build from the list: the worker's
 *   sources document (SOURCES: the UnprocessedBucketName source first, then one
 *   source per bucket, quarantined under <QuarantinePrefix><bucket>/, where each
 *   bucket's name appears twice).
 * On delete it leaves EventBridge delivery on: other rules may use it, and it costs
 * nothing by itself (docs/deploy.md).
 */
import {
  GetBucketNotificationConfigurationCommand,
  PutBucketNotificationConfigurationCommand,
  type S3Client,
  S3Client as Client,
} from '@aws-sdk/client-s3';
import { bucketNameProblem } from '../../src/aws/s3-url.ts';
import { type CustomResourceEvent, errorText, type Fetch, type LambdaContext, sendResponse } from './cfn-response.ts';

export interface EventBridgeSourcesProperties {
  /** EventBridgeBucketNames. */
  Buckets: string[];
  /** EventBridgeKeyLayout: submission or any. */
  KeyLayout: string;
  UnprocessedBucket: string;
  UnprocessedPrefix: string;
  QuarantineBucket: string;
  QuarantinePrefix: string;
  ValidationQueueUrl: string;
}

export interface EventBridgeSources {
  /** The buckets, trimmed. */
  buckets: string[];
  /** The worker's SOURCES document. */
  sources: string;
}

/** CloudFormation passes at most 4 KiB of answer: the sources document must fit. */
const MAX_ANSWER = 3_800;

const folder = (prefix: string) => {
  const trimmed = prefix.trim().replace(/^\/+/, '');
  return trimmed === '' || trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
};

/** What the template needs from the list, or the one reason it cannot be used. Pure. */
export function eventBridgeSources(properties: EventBridgeSourcesProperties): EventBridgeSources {
  const buckets = properties.Buckets.map((bucket) => bucket.trim()).filter((bucket) => bucket !== '');
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const bucket of buckets) {
    const problem = bucketNameProblem(bucket);
    if (problem) problems.push(`"${bucket}" is not an S3 bucket name: ${problem}`);
    else if (bucket === properties.UnprocessedBucket)
      problems.push(`${bucket} is UnprocessedBucketName already (announced by S3 notifications)`);
    else if (seen.has(bucket)) problems.push(`${bucket} is listed twice`);
    seen.add(bucket);
  }
  if (!['submission', 'any'].includes(properties.KeyLayout))
    problems.push(`EventBridgeKeyLayout "${properties.KeyLayout}" is not submission or any`);
  if (problems.length > 0) throw new Error(`EventBridgeBucketNames: ${problems.join('; ')}`);
  const quarantinePrefix = folder(properties.QuarantinePrefix);
  const unprocessedPrefix = folder(properties.UnprocessedPrefix);
  const shared = { quarantineBucket: properties.QuarantineBucket, validationQueue: properties.ValidationQueueUrl };
  const document = {
    sources: [
      {
        bucket: properties.UnprocessedBucket,
        ...(unprocessedPrefix ? { prefix: unprocessedPrefix } : {}),
        keyLayout: 'submission',
        ...shared,
        quarantinePrefix,
      },
      ...buckets.map((bucket) => ({
        bucket,
        keyLayout: properties.KeyLayout,
        ...shared,
        quarantinePrefix: `${quarantinePrefix}${bucket}/`,
      })),
    ],
  };
  const answer = { buckets, sources: JSON.stringify(document) };
  const size = answer.sources.length;
  if (size > MAX_ANSWER) {
    throw new Error(
      `EventBridgeBucketNames: ${buckets.length} buckets make a sources document too long for a CloudFormation answer (${size} bytes, at most ${MAX_ANSWER}): deploy them with the CDK construct's sources`,
    );
  }
  return answer;
}

/** Turns on the bucket's EventBridge delivery, keeping every other notification configuration. */
export async function enableEventBridge(s3: Pick<S3Client, 'send'>, bucket: string): Promise<'enabled' | 'already on'> {
  const { $metadata: _metadata, ...current } = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: bucket }));
  if (current.EventBridgeConfiguration) return 'already on';
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: bucket,
      NotificationConfiguration: { ...current, EventBridgeConfiguration: {} },
      // The configurations kept are not ours to validate again (a destination of
      // someone else's may be gone); only EventBridge is added.
      SkipDestinationValidation: true,
    }),
  );
  return 'enabled';
}

export async function handle(
  event: CustomResourceEvent<EventBridgeSourcesProperties>,
  _context: LambdaContext,
  deps: { s3: Pick<S3Client, 'send'>; fetch?: Fetch },
): Promise<void> {
  const physicalResourceId = event.PhysicalResourceId ?? 'bucketscan-eventbridge-sources';
  if (event.RequestType === 'Delete') {
    await sendResponse(event, { status: 'SUCCESS', physicalResourceId }, deps.fetch);
    return;
  }
  try {
    const answer = eventBridgeSources(event.ResourceProperties);
    const done: Record<string, string> = {};
    for (const bucket of answer.buckets) done[bucket] = await enableEventBridge(deps.s3, bucket);
    console.log(JSON.stringify({ eventBridge: done }));
    await sendResponse(event, { status: 'SUCCESS', physicalResourceId, data: { Sources: answer.sources } }, deps.fetch);
  } catch (error) {
    await sendResponse(
      event,
      { status: 'FAILED', reason: `bucketscan EventBridge sources: ${errorText(error)}`, physicalResourceId },
      deps.fetch,
    );
  }
}

export async function handler(event: CustomResourceEvent<EventBridgeSourcesProperties>, context: LambdaContext): Promise<void> {
  await handle(event, context, { s3: new Client({}) });
}
