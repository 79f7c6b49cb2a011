// The external spellings of each verdict are a contract with downstream consumers
// (log readers, dashboards, bucket policies, SNS filters, queue consumers): this
// table pins every one of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OUTCOMES } from '../../src/pipeline/outcome.ts';
import {
  CLEAN_STATUS,
  DEFAULT_STATUS_TAG,
  outcomeOf,
  RELEASED_TAG,
  REPORT_REASONS,
  scanStatusOf,
  signatureOf,
  statusOf,
  type Verdict,
} from '../../src/verdict/verdict.ts';

const CASES: Array<[Verdict, { outcome: string; status: string; scan: string; signature: string | null }]> = [
  [{ status: 'clean' }, { outcome: 'clean', status: 'CLEAN', scan: 'CLEAN', signature: null }],
  [
    { status: 'infected', signature: 'Win.Test.EICAR_HDB-1' },
    { outcome: 'infected', status: 'INFECTED', scan: 'INFECTED', signature: 'Win.Test.EICAR_HDB-1' },
  ],
  [
    { status: 'too-large', size: 2, maxBytes: 1 },
    { outcome: 'too-large', status: 'TOO_LARGE', scan: 'UNSCANNABLE', signature: null },
  ],
  [
    { status: 'unscannable', reason: 'encrypted', detail: 'encrypted Zip content', signature: 'Heuristics.Encrypted.Zip' },
    { outcome: 'unscannable', status: 'UNSCANNABLE', scan: 'UNSCANNABLE', signature: 'Heuristics.Encrypted.Zip' },
  ],
  [
    { status: 'unscannable', reason: 'stream-limit', detail: 'too long', signature: null },
    { outcome: 'unscannable', status: 'UNSCANNABLE', scan: 'UNSCANNABLE', signature: null },
  ],
];

test('every verdict has its log outcome, status word, scan status and signature', () => {
  for (const [verdict, expected] of CASES) {
    assert.deepEqual(
      { outcome: outcomeOf(verdict), status: statusOf(verdict), scan: scanStatusOf(verdict), signature: signatureOf(verdict) },
      expected,
      JSON.stringify(verdict),
    );
  }
});

test("the report's reasons, the tag that opens a file, the default tag key, the metric labels", () => {
  assert.deepEqual(REPORT_REASONS, {
    INFECTED: 'virus detected',
    TOO_LARGE: 'file too large',
    UNSCANNABLE: 'file could not be fully scanned',
    DISALLOWED_TYPE: 'file type not allowed',
  });
  assert.equal(CLEAN_STATUS, 'CLEAN');
  assert.equal(DEFAULT_STATUS_TAG, 'bucketscan-status');
  assert.equal(RELEASED_TAG, 'bucketscan-released');
  assert.deepEqual(
    [...OUTCOMES],
    ['clean', 'infected', 'too-large', 'unscannable', 'disallowed-type', 'released', 'invalid', 'dropped', 'retry', 'test-event'],
  );
});
