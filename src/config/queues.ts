/**
 * The queues section: the inbound queue the worker reads, the rescan queue it
 * reads with what uploads leave free (RESCAN_QUEUE), the validation queue clean
 * files go on to (with the single-bucket variables; a sources file names one per
 * source), and the SNS topic that announces every quarantine. A queue is named by
 * URL or by name (looked up at start).
 */
import * as z from '../shared/zod.ts';
import { QUEUE_NAME, type QueueRef } from '../aws/queue.ts';
import { ConfigError, optionalText, trimmed, url, type Parsed } from './variables.ts';
import { TOPIC_ARN } from '../aws/topic.ts';

export interface QueueSettings {
  inbound: QueueRef;
  /** RESCAN_QUEUE: the backfill lane; undefined: none. */
  rescan: QueueRef | undefined;
  /** VIRUS_NOTIFICATION_TOPIC_ARN; undefined only when every source names its own topic. */
  topicArn: string | undefined;
}

const queueName = z.union([
  z.optional(z.string().check(z.trim(), z.regex(QUEUE_NAME, 'must be an SQS queue name (1-80 letters, digits, hyphens or underscores)'))),
  z.pipe(
    z.literal(''),
    z.transform(() => undefined),
  ),
]);

export const INBOUND_QUEUE_VARIABLES = {
  VIRUS_SCANNING_QUEUE_NAME: queueName,
  VIRUS_SCANNING_QUEUE_URL: url('(the inbound queue URL)'),
};

/** An SQS queue URL, as settings may give one instead of a name. */
export const QUEUE_URL = /^https?:\/\/[^\s/]+\/\S+$/;

/** A queue by name or by URL, in one variable. */
const queueNameOrUrl = z
  .pipe(
    trimmed(),
    z.transform((value: string | undefined) => value || undefined),
  )
  .check(
    z.refine(
      (value) => value === undefined || QUEUE_NAME.test(value) || QUEUE_URL.test(value),
      'must be an SQS queue name (1-80 letters, digits, hyphens or underscores) or an http(s) queue URL',
    ),
  );

export const VALIDATION_QUEUE_VARIABLES = {
  VALIDATION_QUEUE_NAME: queueName,
  VALIDATION_QUEUE_URL: url('(the outbound queue URL)'),
};

export const QUEUE_VARIABLES = {
  ...INBOUND_QUEUE_VARIABLES,
  ...VALIDATION_QUEUE_VARIABLES,
  RESCAN_QUEUE: queueNameOrUrl,
  // Required unless every source of a sources file names its own topic (told apart in config.ts).
  VIRUS_NOTIFICATION_TOPIC_ARN: optionalText.check(
    z.refine((value) => value === undefined || TOPIC_ARN.test(value), 'must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)'),
  ),
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

/** VALIDATION_QUEUE_URL, else VALIDATION_QUEUE_NAME (the single-bucket variables' validation queue). */
export function validationQueue(v: Parsed<typeof VALIDATION_QUEUE_VARIABLES>): QueueRef {
  return queueRef('VALIDATION_QUEUE_NAME', 'VALIDATION_QUEUE_URL', v.VALIDATION_QUEUE_NAME, v.VALIDATION_QUEUE_URL);
}

/** A queue named by URL or by name in one variable (RESCAN_QUEUE). */
export function queueRefOf(value: string | undefined): QueueRef | undefined {
  if (value === undefined) return undefined;
  return QUEUE_URL.test(value) ? { url: value } : { name: value };
}

export function queueSettings(v: Parsed<typeof QUEUE_VARIABLES>): QueueSettings {
  return {
    inbound: inboundQueue(v),
    rescan: queueRefOf(v.RESCAN_QUEUE),
    topicArn: v.VIRUS_NOTIFICATION_TOPIC_ARN,
  };
}
