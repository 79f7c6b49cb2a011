import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';

/** One SNS message: a subject, the body, and string attributes for subscription filters. */
export interface Notification {
  subject: string;
  message: string;
  attributes: Record<string, { DataType: 'String'; StringValue: string }>;
}

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
