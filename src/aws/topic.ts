import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';

/** An SNS topic's ARN: arn:aws:sns:<region>:<account>:<name>. */
export const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/;

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
