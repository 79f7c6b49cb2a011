/**
 * Loads test/fixtures/hostile/corpus.json (format: the README.md beside it) and
 * turns each case into the exact SQS message body and the outcomes expected of it.
 */
import { readFileSync } from 'node:fs';

export type RecordThen = 'clean' | 'infected' | 'gone';

export interface ExpectedRecord {
  outcome: 'invalid' | 'valid';
  /** The exact reason of an invalid record. */
  reason?: string;
  /** Or a regular expression it must match. */
  reasonMatches?: string;
  /** The decoded key: required for valid records, optional for invalid ones. */
  key?: string;
  /** What a valid record must come to in the integration test. */
  then?: RecordThen;
}

export interface UntouchedObject {
  key: string;
  content: 'clean' | 'infected';
}

export interface HostileCase {
  name: string;
  note?: string;
  /** The SQS message body, byte for byte. */
  body: string;
  expect:
    | { message: 'invalid'; reason: string }
    | { message: 'test-event' }
    | {
        message: 'records';
        /** One entry per record, in order (`count` already expanded). */
        records: ExpectedRecord[];
        /** Objects the integration test uploads beforehand that no record may act on. */
        untouched: UntouchedObject[];
      };
}

export interface HostileCorpus {
  cleanFile: { content: string; eTag: string; size: number };
  cases: HostileCase[];
}

type Expansion = { repeat: string; times: number } | { repeat: string; toBodyBytes: number };

interface RawCase {
  name: string;
  note?: string;
  body?: string;
  document?: unknown;
  expand?: Record<string, Expansion>;
  expect: Record<string, unknown>;
}

const PLACEHOLDER = /\{\{([A-Z]+)\}\}/g;

function substitute(text: string, values: Record<string, string>, caseName: string): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`${caseName}: no expansion for ${whole}`);
    return value;
  });
}

/** Substitutes placeholders in every string and splices `{"$repeat": n, "item": x}` entries of arrays. */
function expandValue(value: unknown, values: Record<string, string>, caseName: string): unknown {
  if (typeof value === 'string') return substitute(value, values, caseName);
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) {
      if (item !== null && typeof item === 'object' && '$repeat' in item) {
        const { $repeat: times, item: repeated } = item as { $repeat: number; item: unknown };
        const expanded = expandValue(repeated, values, caseName);
        for (let i = 0; i < times; i += 1) out.push(expanded);
      } else {
        out.push(expandValue(item, values, caseName));
      }
    }
    return out;
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandValue(v, values, caseName)]));
  }
  return value;
}

function render(raw: RawCase, values: Record<string, string>): string {
  if (raw.body !== undefined) return substitute(raw.body, values, raw.name);
  return JSON.stringify(expandValue(raw.document, values, raw.name));
}

function buildCase(raw: RawCase): HostileCase {
  if ((raw.body === undefined) === (raw.document === undefined)) throw new Error(`${raw.name}: give exactly one of "body" and "document"`);
  const values: Record<string, string> = {};
  let fill: [string, { repeat: string; toBodyBytes: number }] | undefined;
  for (const [name, expansion] of Object.entries(raw.expand ?? {})) {
    if ('times' in expansion) values[name] = expansion.repeat.repeat(expansion.times);
    else if (fill) throw new Error(`${raw.name}: only one "toBodyBytes" expansion per case`);
    else fill = [name, expansion];
  }
  if (fill) {
    const [name, { repeat, toBodyBytes }] = fill;
    values[name] = '';
    const without = Buffer.byteLength(render(raw, values));
    const unit = Buffer.byteLength(JSON.stringify(repeat)) - 2;
    if (unit !== Buffer.byteLength(repeat) || (toBodyBytes - without) % unit !== 0 || toBodyBytes < without) {
      throw new Error(`${raw.name}: cannot pad to exactly ${toBodyBytes} bytes with ${JSON.stringify(repeat)}`);
    }
    values[name] = repeat.repeat((toBodyBytes - without) / unit);
  }
  const body = render(raw, values);
  const expect = expandValue(raw.expect, values, raw.name) as Record<string, unknown>;

  switch (expect['message']) {
    case 'invalid':
      if (typeof expect['reason'] !== 'string') throw new Error(`${raw.name}: an invalid message needs a "reason"`);
      return { name: raw.name, note: raw.note, body, expect: { message: 'invalid', reason: expect['reason'] } };
    case 'test-event':
      return { name: raw.name, note: raw.note, body, expect: { message: 'test-event' } };
    case 'records': {
      const records: ExpectedRecord[] = [];
      for (const entry of expect['records'] as Array<ExpectedRecord & { count?: number }>) {
        const { count = 1, ...record } = entry;
        if (record.outcome === 'valid' && (record.key === undefined || record.then === undefined)) {
          throw new Error(`${raw.name}: a valid record needs "key" and "then"`);
        }
        if (record.outcome === 'invalid' && (record.reason === undefined) === (record.reasonMatches === undefined)) {
          throw new Error(`${raw.name}: an invalid record needs exactly one of "reason" and "reasonMatches"`);
        }
        for (let i = 0; i < count; i += 1) records.push(record);
      }
      return {
        name: raw.name,
        note: raw.note,
        body,
        expect: { message: 'records', records, untouched: (expect['untouched'] as UntouchedObject[] | undefined) ?? [] },
      };
    }
    default:
      throw new Error(`${raw.name}: unknown expected message kind ${String(expect['message'])}`);
  }
}

export function loadHostileCorpus(): HostileCorpus {
  const file = JSON.parse(readFileSync(new URL('../fixtures/hostile/corpus.json', import.meta.url), 'utf8')) as {
    cleanFile: HostileCorpus['cleanFile'];
    cases: RawCase[];
  };
  return { cleanFile: file.cleanFile, cases: file.cases.map(buildCase) };
}

/** Whether a reason is the one a record expectation names. */
export function reasonMatches(expected: ExpectedRecord, actual: unknown): boolean {
  if (typeof actual !== 'string') return false;
  return expected.reasonMatches !== undefined ? new RegExp(expected.reasonMatches, 'u').test(actual) : actual === expected.reason;
}

/**
 * What SQS accepts in a message body: these characters, and at most 256 KiB (the
 * limit before SQS raised it to 1 MiB in 2025, and still many queues' setting).
 */
export const SQS_BODY_CHARACTERS = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;
export const SQS_CLASSIC_MAX_BYTES = 256 * 1024;
