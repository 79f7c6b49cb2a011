import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Notification } from '../pipeline/report.ts';

/** Publishes and returns SNS's message id. */
export async function publish(sns: SNSClient, topicArn: string, notification: Notification): Promise<string | undefined> {
  const response = await sns.send(
    new PublishCommand({
      TopicArn: topicArn,
      Subject: notification.subject,
      Message: notification.message,
      MessageAttributes: notification.attributes,
    }),
  );
  return response.MessageId;
}
