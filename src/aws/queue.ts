import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { QueueRef } from '../config/config.ts';

export type { Message };

export async function resolveQueueUrl(sqs: SQSClient, queue: QueueRef): Promise<string> {
  if ('url' in queue) return queue.url;
  const response = await sqs.send(new GetQueueUrlCommand({ QueueName: queue.name }));
  if (!response.QueueUrl) throw new Error(`queue "${queue.name}" has no URL`);
  return response.QueueUrl;
}

export interface ReceiveOptions {
  max: number;
  waitSeconds: number;
  visibilityTimeoutSeconds: number;
  signal?: AbortSignal;
}

export async function receiveMessages(sqs: SQSClient, queueUrl: string, options: ReceiveOptions): Promise<Message[]> {
  const response = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: Math.min(10, Math.max(1, options.max)),
      WaitTimeSeconds: options.waitSeconds,
      VisibilityTimeout: options.visibilityTimeoutSeconds,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    }),
    options.signal ? { abortSignal: options.signal } : {},
  );
  return response.Messages ?? [];
}

export async function deleteMessage(sqs: SQSClient, queueUrl: string, receiptHandle: string): Promise<void> {
  await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }));
}

export async function changeVisibility(sqs: SQSClient, queueUrl: string, receiptHandle: string, seconds: number): Promise<void> {
  await sqs.send(
    new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }),
  );
}

export async function sendMessage(
  sqs: SQSClient,
  queueUrl: string,
  message: { body: string; attributes: Record<string, { DataType: string; StringValue: string }> },
): Promise<void> {
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: message.body, MessageAttributes: message.attributes }));
}
