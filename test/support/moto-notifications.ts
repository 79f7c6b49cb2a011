// moto_server's own S3 -> SQS bucket notifications, set up for the fidelity tests
// (test/fidelity/moto.test.ts) and the benchmark's tagged request count
// (bench/tagged-requests.ts): both need uploads that moto itself turns into events
// on a queue the worker reads.
import { PutBucketNotificationConfigurationCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { waitFor } from './wait.ts';

export async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const response = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  const arn = response.Attributes?.['QueueArn'];
  if (!arn) throw new Error(`moto gave no QueueArn for ${url}`);
  return arn;
}

export async function createQueue(sqs: SQSClient, name: string, attributes: Record<string, string> = {}): Promise<string> {
  const response = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  if (!response.QueueUrl) throw new Error(`moto gave no QueueUrl for ${name}`);
  return response.QueueUrl;
}

/** Messages on the queue, visible, in flight or delayed. */
export async function queueDepth(sqs: SQSClient, url: string): Promise<number> {
  const response = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
    }),
  );
  const a = response.Attributes ?? {};
  return (
    Number(a['ApproximateNumberOfMessages']) +
    Number(a['ApproximateNumberOfMessagesNotVisible']) +
    Number(a['ApproximateNumberOfMessagesDelayed'])
  );
}

export interface Inbound {
  name: string;
  url: string;
  dlqUrl: string;
  /** The s3:TestEvent moto put on the queue when the configuration was saved, left on the queue. */
  testEvent: Message;
}

export interface RouteOptions {
  bucket: string;
  /** The new queue's name; its dead-letter queue is `<name>-dlq`. */
  queueName: string;
  maxReceiveCount: number;
  /** Becomes the configurationId of every record moto sends. */
  notificationId: string;
}

/**
 * A fresh inbound queue (with its dead-letter queue) that the bucket's
 * ObjectCreated notifications now go to, replacing any earlier configuration.
 * Use one per worker: a stopped worker's long poll lives on in moto for up to
 * RECEIVE_WAIT_TIME and would hide a message meant for the next one.
 */
export async function routeNotificationsToNewQueue(s3: S3Client, sqs: SQSClient, options: RouteOptions): Promise<Inbound> {
  const { queueName: name } = options;
  const dlqUrl = await createQueue(sqs, `${name}-dlq`);
  const url = await createQueue(sqs, name, {
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await queueArn(sqs, dlqUrl), maxReceiveCount: String(options.maxReceiveCount) }),
  });
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: options.bucket,
      NotificationConfiguration: {
        QueueConfigurations: [{ Id: options.notificationId, QueueArn: await queueArn(sqs, url), Events: ['s3:ObjectCreated:*'] }],
      },
    }),
  );
  // Look at the test event without consuming it: the caller decides what becomes of it.
  const testEvent = await waitFor(`moto's s3:TestEvent on ${name}`, async () => {
    const response = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    let found: Message | undefined;
    for (const message of response.Messages ?? []) {
      if (JSON.parse(message.Body ?? '{}')['Event'] === 's3:TestEvent') found = message;
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }));
    }
    return found;
  });
  return { name, url, dlqUrl, testEvent };
}
