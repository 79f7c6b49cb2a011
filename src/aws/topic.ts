import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Notification } from '../pipeline/report.ts';

export async function publish(sns: SNSClient, topicArn: string, notification: Notification): Promise<void> {
  await sns.send(
    new PublishCommand({
      TopicArn: topicArn,
      Subject: notification.subject,
      Message: notification.message,
      MessageAttributes: notification.attributes,
    }),
  );
}
