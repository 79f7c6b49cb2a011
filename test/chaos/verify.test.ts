// The chaos end-state check against hand-made end states: each kind of broken
// guarantee must be seen, and a correct end state with duplicates must pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CorpusFile, Expectation, Variant } from './corpus.ts';
import type { Recording } from './recorder.ts';
import { verify, type EndState, type StoredObject } from './verify.ts';

const P = 'infected/';

function file(key: string, expect: Expectation, variant: Variant, md5: string, signature: string | null = null): CorpusFile {
  return { key, expect, variant, md5, size: 10, signature, content: () => Buffer.alloc(10) };
}

const clean = file('11111111-1111-4111-8111-111111111111/clean.txt', 'clean', 'clean-small', 'c1');
const infected = file('22222222-2222-4222-8222-222222222222/bad.com', 'infected', 'eicar', 'e1', 'Win.Test.EICAR_HDB-1.UNOFFICIAL');
const invalid = file('no-uuid/x.txt', 'invalid', 'invalid-infected', 'e1');
const corpus = [clean, infected, invalid];

const object = (key: string, md5: string): [string, StoredObject] => [key, { key, eTag: `"${md5}"`, size: 10 }];
const report = (f: CorpusFile) => ({ key: f.key, status: 'INFECTED', signature: f.signature, size: f.size });
const forward = (f: CorpusFile, eTag = f.md5) => ({
  key: f.key,
  status: 'CLEAN',
  body: JSON.stringify({ Records: [{ s3: { object: { key: encodeURIComponent(f.key), eTag } } }] }),
});

/** The end state of a correct run, with one duplicate forward and one duplicate notification. */
function good(): { state: EndState; recording: Recording } {
  return {
    state: {
      unprocessed: new Map([object(clean.key, 'c1'), object(invalid.key, 'e1')]),
      quarantine: new Map([object(P + infected.key, 'e1'), object(`${P}${infected.key}.report.json`, 'r')]),
      reports: new Map([[`${P}${infected.key}.report.json`, report(infected)]]),
      inboundLeft: 0,
      deadLetterLeft: 0,
    },
    recording: {
      forwards: [forward(clean), forward(clean)],
      notifications: [
        { key: infected.key, report: report(infected), body: '' },
        { key: infected.key, report: report(infected), body: '' },
      ],
      inboxDeliveries: 2,
      inboundEvents: new Map(corpus.map((f) => [f.key, 1])),
      inboundConsumed: 3,
      deadLettered: [],
      quarantineWrites: new Map([
        [P + infected.key, 1],
        [`${P}${infected.key}.report.json`, 2],
      ]),
      quarantineCopies: new Map([
        [P + infected.key, 1],
        [`${P}${infected.key}.report.json`, 1],
      ]),
      unprocessedDeletes: new Map([[infected.key, 1]]),
      unprocessedWrites: new Map(corpus.map((f) => [f.key, 1])),
      events: 0,
    },
  };
}

test('a correct end state passes, with its duplicates counted', () => {
  const { state, recording } = good();
  const verdict = verify(corpus, state, recording, P);
  assert.deepEqual(verdict.problems, []);
  assert.equal(verdict.duplicateForwards, 1);
  assert.equal(verdict.duplicateNotifications, 1);
  assert.equal(verdict.duplicateReports, 0, 'a metadata rewrite of the report is not a second report');
  assert.equal(verdict.infectedForwarded, 0);
});

const broken: Array<
  [string, (s: ReturnType<typeof good>) => void, Partial<Record<'lost' | 'misplaced' | 'misreported' | 'infectedForwarded', number>>]
> = [
  ['a clean file never forwarded', (s) => void (s.recording.forwards = []), { lost: 1 }],
  ['a clean file quarantined', (s) => void s.state.quarantine.set(...object(P + clean.key, 'c1')), { misplaced: 1 }],
  ['a clean file removed', (s) => void s.state.unprocessed.delete(clean.key), { misplaced: 1 }],
  ['an infected file forwarded', (s) => void s.recording.forwards.push(forward(infected)), { misplaced: 1, infectedForwarded: 1 }],
  [
    'a forward carrying an infected ETag under a clean key',
    (s) => void s.recording.forwards.push(forward(clean, 'e1')),
    { infectedForwarded: 1 },
  ],
  ['an infected file left in unprocessed', (s) => void s.state.unprocessed.set(...object(infected.key, 'e1')), { misplaced: 1 }],
  ['an infected file deleted without its copy', (s) => void s.state.quarantine.delete(P + infected.key), { lost: 1 }],
  ['an infected file without a notification', (s) => void (s.recording.notifications = []), { lost: 1 }],
  [
    'a report with the wrong signature',
    (s) => void s.state.reports.set(`${P}${infected.key}.report.json`, { ...report(infected), signature: 'x' }),
    { misreported: 1 },
  ],
  ['an invalid key removed', (s) => void s.state.unprocessed.delete(invalid.key), { misplaced: 1 }],
  ['an invalid (infected) key forwarded', (s) => void s.recording.forwards.push(forward(invalid)), { misplaced: 1, infectedForwarded: 1 }],
];
for (const [what, breakIt, expected] of broken) {
  test(`the check sees ${what}`, () => {
    const s = good();
    breakIt(s);
    const verdict = verify(corpus, s.state, s.recording, P);
    for (const [name, count] of Object.entries(expected)) {
      assert.equal(verdict[name as keyof typeof expected], count, `${name}: ${JSON.stringify(verdict.problems)}`);
    }
  });
}
