import { eventBridgeProblem, looksLikeEventBridge } from './eventbridge.ts';

/**
 * The shape of the records: S3 event notification records, or one EventBridge
 * event (src/events/eventbridge.ts), each checked by its own function.
 */
export type MessageShape = 's3' | 'eventbridge';

/** What an SQS message body turned out to be, before any record is looked at. */
export type ParsedMessage =
  | { kind: 'records'; records: unknown[]; envelope: 'direct' | 'sns'; shape: MessageShape }
  | { kind: 'test-event' }
  | { kind: 'invalid'; reason: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function classifyDocument(document: unknown, envelope: 'direct' | 'sns'): ParsedMessage {
  if (!isObject(document)) return { kind: 'invalid', reason: 'message body is not a JSON object' };
  // S3 sends this once when a notification configuration is saved; it carries no object.
  if (document['Event'] === 's3:TestEvent') return { kind: 'test-event' };
  const records = document['Records'];
  // An EventBridge event is one record of its own shape; only S3's "Object Created" is one to scan.
  if (records === undefined && looksLikeEventBridge(document)) {
    const problem = eventBridgeProblem(document);
    return problem ? { kind: 'invalid', reason: problem } : { kind: 'records', records: [document], envelope, shape: 'eventbridge' };
  }
  if (records === undefined) return { kind: 'invalid', reason: 'message has no "Records" array (not an S3 event notification)' };
  if (!Array.isArray(records)) return { kind: 'invalid', reason: '"Records" is not an array' };
  if (records.length === 0) return { kind: 'invalid', reason: '"Records" is empty' };
  return { kind: 'records', records, envelope, shape: 's3' };
}

/**
 * Accepts the bodies S3 can put on a queue: the event document itself (S3 → SQS,
 * or S3 → SNS → SQS with raw delivery) or that document inside an SNS envelope,
 * and an EventBridge event (an EventBridge rule → SQS, or through SNS).
 */
export function parseMessageBody(body: string | undefined): ParsedMessage {
  if (body === undefined || body.trim() === '') return { kind: 'invalid', reason: 'message body is empty' };
  const outer = parseJson(body);
  if (!outer.ok) return { kind: 'invalid', reason: 'message body is not valid JSON' };
  const document = outer.value;
  if (isObject(document) && document['Type'] === 'Notification' && 'Message' in document) {
    const inner = document['Message'];
    if (typeof inner !== 'string') return { kind: 'invalid', reason: 'SNS envelope "Message" is not a string' };
    const parsed = parseJson(inner);
    if (!parsed.ok) return { kind: 'invalid', reason: 'SNS envelope "Message" is not valid JSON' };
    return classifyDocument(parsed.value, 'sns');
  }
  return classifyDocument(document, 'direct');
}
