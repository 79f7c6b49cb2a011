/**
 * The queues section: the inbound queue the worker reads, the validation queue
 * clean files go on to, and the SNS topic that announces every quarantine. A
 * queue is named by URL or by name (looked up at start).
 */
import { z } from 'zod';
import { QUEUE_NAME, type QueueRef } from '../aws/queue.ts';
import { ConfigError, text, url, type Parsed } from './variables.ts';
import { TOPIC_ARN } from '../aws/topic.ts';

export interface QueueSettings {
  inbound: QueueRef;
  validation: QueueRef;
  /** VIRUS_NOTIFICATION_TOPIC_ARN. */
  topicArn: string;
}

const queueName = z
  .string()
  .trim()
  .regex(QUEUE_NAME, 'must be an SQS queue name (1-80 letters, digits, hyphens or underscores)')
  .optional()
  .or(z.literal('').transform(() => undefined));

export const INBOUND_QUEUE_VARIABLES = {
  VIRUS_SCANNING_QUEUE_NAME: queueName,
  VIRUS_SCANNING_QUEUE_URL: url('(the inbound queue URL)'),
};

export const QUEUE_VARIABLES = {
  ...INBOUND_QUEUE_VARIABLES,
  VALIDATION_QUEUE_NAME: queueName,
  VALIDATION_QUEUE_URL: url('(the outbound queue URL)'),
  VIRUS_NOTIFICATION_TOPIC_ARN: text.regex(TOPIC_ARN, 'must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)'),
};

function queueRef(nameVar: string, urlVar: string, name: string | undefined, address: string | undefined): QueueRef {
  if (address) return { url: address };
  if (name) return { name };
  throw new ConfigError(nameVar, `is required but not set (or set ${urlVar})`);
}

/** VIRUS_SCANNING_QUEUE_URL, else VIRUS_SCANNING_QUEUE_NAME. */
export function inboundQueue(v: Parsed<typeof INBOUND_QUEUE_VARIABLES>): QueueRef {
  return queueRef('VIRUS_SCANNING_QUEUE_NAME', 'VIRUS_SCANNING_QUEUE_URL', v.VIRUS_SCANNING_QUEUE_NAME, v.VIRUS_SCANNING_QUEUE_URL);
}

export function queueSettings(v: Parsed<typeof QUEUE_VARIABLES>): QueueSettings {
  return {
    inbound: inboundQueue(v),
    validation: queueRef('VALIDATION_QUEUE_NAME', 'VALIDATION_QUEUE_URL', v.VALIDATION_QUEUE_NAME, v.VALIDATION_QUEUE_URL),
    topicArn: v.VIRUS_NOTIFICATION_TOPIC_ARN,
  };
}
