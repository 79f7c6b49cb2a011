/**
 * What `dlq list` says about one message, read with the worker's own parser and
 * checker: the objects it names (or why it names none), how often it was
 * received, how old it is. Pure, so the text and JSON forms are unit-tested.
 */
import type { Message } from '@aws-sdk/client-sqs';
import { parseMessageBody } from '../events/message.ts';
import { checkRecord, type RecordRules } from '../events/record.ts';
import { quoteValue } from '../events/text.ts';
import { formatDuration } from '../shared/format.ts';
import { ORIGIN_ATTRIBUTE } from '../aws/queue.ts';

/** Records described per message; a forged body may hold thousands. */
export const MAX_OBJECTS_PER_MESSAGE = 100;

export interface DescribedObject {
  bucket?: string;
  key?: string;
  versionId?: string;
  /** Why the worker would not scan this record (it was dropped, not retried). */
  problem?: string;
}

export type MessageContent =
  | { kind: 'records'; envelope: 'direct' | 'sns'; records: number; objects: DescribedObject[] }
  | { kind: 'test-event' }
  | { kind: 'invalid'; reason: string };

export interface DlqEntry {
  messageId: string;
  /** ApproximateReceiveCount: every receive, on the inbound queue and here (this listing's included). */
  receiveCount: number | undefined;
  sentAt: Date | undefined;
  firstReceivedAt: Date | undefined;
  /** The bucketscan-origin message attribute ("rescan"), when present. */
  origin: string | undefined;
  bodyBytes: number;
  content: MessageContent;
}

function timestamp(value: string | undefined): Date | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  const date = new Date(Number(value));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function recordBucket(record: unknown): string {
  const name = (record as { s3?: { bucket?: { name?: unknown } } } | null)?.s3?.bucket?.name;
  return typeof name === 'string' ? name : '';
}

/**
 * `rules`: the worker's (UNPROCESSED_BUCKET_NAME, UNPROCESSED_PREFIX); without
 * them each record is read against its own bucket, for the keys alone.
 */
export function describeMessage(message: Message, rules?: RecordRules): DlqEntry {
  const attributes = message.Attributes ?? {};
  const receiveCount = Number(attributes.ApproximateReceiveCount);
  const entry = {
    messageId: message.MessageId ?? '',
    receiveCount: Number.isFinite(receiveCount) && receiveCount > 0 ? receiveCount : undefined,
    sentAt: timestamp(attributes.SentTimestamp),
    firstReceivedAt: timestamp(attributes.ApproximateFirstReceiveTimestamp),
    origin: message.MessageAttributes?.[ORIGIN_ATTRIBUTE]?.StringValue,
    bodyBytes: Buffer.byteLength(message.Body ?? ''),
  };
  const parsed = parseMessageBody(message.Body);
  if (parsed.kind === 'invalid') return { ...entry, content: { kind: 'invalid', reason: parsed.reason } };
  if (parsed.kind === 'test-event') return { ...entry, content: { kind: 'test-event' } };
  const objects: DescribedObject[] = [];
  for (const record of parsed.records.slice(0, MAX_OBJECTS_PER_MESSAGE)) {
    const check = checkRecord(record, rules ?? { bucket: recordBucket(record), prefix: '' });
    if (check.ok) {
      const { bucket, key, versionId } = check.target;
      objects.push({ bucket, key, ...(versionId ? { versionId } : {}) });
    } else {
      objects.push({
        ...(check.bucket !== undefined ? { bucket: check.bucket } : {}),
        ...(check.key !== undefined ? { key: check.key } : {}),
        problem: check.reason,
      });
    }
  }
  return { ...entry, content: { kind: 'records', envelope: parsed.envelope, records: parsed.records.length, objects } };
}

/** An s3:// location as one unambiguous token: plain when it is, JSON-quoted (and shortened) when not. */
function displayLocation(location: string): string {
  return /^[^\s",\p{C}]{1,300}$/u.test(location) ? location : quoteValue(location, 300);
}

function displayObject(object: DescribedObject): string {
  const where = object.key !== undefined ? displayLocation(`s3://${object.bucket ?? '?'}/${object.key}`) : '(no key)';
  const version = object.versionId ? `?versionId=${object.versionId}` : '';
  return object.problem ? `${where} (not scannable: ${object.problem})` : `${where}${version}`;
}

export function describeContent(content: MessageContent, maxObjects = 3): string {
  switch (content.kind) {
    case 'invalid':
      return `(unreadable: ${content.reason})`;
    case 'test-event':
      return '(s3:TestEvent)';
    case 'records': {
      const shown = content.objects.slice(0, maxObjects).map(displayObject);
      const more = content.records - shown.length;
      return more > 0 ? `${shown.join(', ')} (+${more} more)` : shown.join(', ');
    }
  }
}

function isoSeconds(date: Date | undefined): string {
  return date ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : '-';
}

const HEADER = ['MESSAGE ID', 'RECEIVES', 'AGE', 'FIRST RECEIVED', 'OBJECTS'] as const;

/** The table `dlq list` prints: a header and one line per message. */
export function formatTable(entries: readonly DlqEntry[], now: Date): string[] {
  const rows = entries.map((entry) => [
    entry.messageId,
    entry.receiveCount === undefined ? '-' : String(entry.receiveCount),
    entry.sentAt ? formatDuration(now.getTime() - entry.sentAt.getTime()) : '-',
    isoSeconds(entry.firstReceivedAt),
    `${entry.origin ? `[${entry.origin}] ` : ''}${describeContent(entry.content)}`,
  ]);
  const widths = HEADER.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => {
        if (column === cells.length - 1) return cell;
        // Counts read best right-aligned.
        return column === 1 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!);
      })
      .join('  ');
  return [line(HEADER), ...rows.map(line)];
}

/** One JSON line per message (`dlq list --json`). */
export function toJson(entry: DlqEntry, now: Date): Record<string, unknown> {
  return {
    messageId: entry.messageId,
    receiveCount: entry.receiveCount ?? null,
    sentAt: entry.sentAt?.toISOString() ?? null,
    ageSeconds: entry.sentAt ? Math.max(0, Math.round((now.getTime() - entry.sentAt.getTime()) / 1000)) : null,
    firstReceivedAt: entry.firstReceivedAt?.toISOString() ?? null,
    origin: entry.origin ?? null,
    bodyBytes: entry.bodyBytes,
    ...entry.content,
  };
}
