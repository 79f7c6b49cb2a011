// Per-source file rules (issue 16 §3): maxFileSize, allowTypes, denyTypes and
// unscannableAction in the sources document; the type rules on what a file's
// first bytes show; and the DISALLOWED_TYPE verdict, spelled in one place and
// never clean (UNSUPPORTED in GuardDuty's words).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/config.ts';
import { parseSources, SourcesError } from '../../src/config/sources.ts';
import { ConfigError } from '../../src/config/variables.ts';
import { detectType } from '../../src/filetype/detect.ts';
import { dispose, hasTypeRules, typeVerdict } from '../../src/pipeline/decide.ts';
import { quarantinedResult } from '../../src/pipeline/result-event.ts';
import { buildReport } from '../../src/pipeline/report.ts';
import {
  cleanTagValue,
  detailOf,
  guardDutyStatusOf,
  REPORT_REASONS,
  statusOf,
  tagValueOf,
  VERDICT_STATUSES,
  type VerdictOf,
} from '../../src/verdict/verdict.ts';
import { pdfHead, peExecutable, png } from '../support/samples.ts';

const entry = { bucket: 'uploads', quarantineBucket: 'quarantine', quarantinePrefix: '' };

test('the sources document carries each source its own rules; none means the global ones', () => {
  const [ruled, plain] = parseSources({
    sources: [
      {
        ...entry,
        prefix: 'images/',
        maxFileSize: 10,
        allowTypes: ['PNG', 'jpg', 'unknown'],
        denyTypes: ['exe'],
        unscannableAction: 'forward',
      },
      { ...entry, prefix: 'other/' },
    ],
  });
  assert.deepEqual(ruled!.rules, {
    maxFileSizeBytes: 10 * 1024 * 1024,
    allowTypes: ['png', 'jpg', 'unknown'],
    denyTypes: ['exe'],
    unscannableAction: 'forward',
  });
  assert.equal(plain!.rules, undefined);
  assert.equal(hasTypeRules(plain!.rules), false);
});

test('a bad rule is refused naming the entry and the field', () => {
  for (const [fields, message] of [
    [{ allowTypes: ['txt'] }, /sources\[0\] \(bucket "uploads"\)\.allowTypes\.0: "txt" is not a type the first bytes can show/],
    [{ denyTypes: [] }, /\.denyTypes: must list at least one type/],
    [{ denyTypes: 'exe' }, /\.denyTypes: must be a list of file types/],
    [{ maxFileSize: 0 }, /\.maxFileSize: must be more than 0/],
    [{ maxFileSize: 4096 }, /\.maxFileSize: must be at most 2047 MB/],
    [{ maxFileSize: '10' }, /\.maxFileSize: must be a number of MB/],
    [{ unscannableAction: 'allow' }, /\.unscannableAction: must be one of quarantine, forward/],
  ] as const) {
    assert.throws(
      () => parseSources({ sources: [{ ...entry, ...fields }] }),
      (error: unknown) => error instanceof SourcesError && message.test(error.message),
      JSON.stringify(fields),
    );
  }
});

test('a source may lower MAX_FILE_SIZE, not raise it (clamd limits follow MAX_FILE_SIZE)', () => {
  const env = {
    VIRUS_SCANNING_QUEUE_NAME: 'inbound',
    VIRUS_NOTIFICATION_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:reports',
    AWS_REGION: 'eu-west-1',
    MAX_FILE_SIZE: '100',
  };
  const lower = loadConfig({ ...env, SOURCES: JSON.stringify({ sources: [{ ...entry, maxFileSize: 5 }] }) });
  assert.equal(lower.sources[0]!.rules?.maxFileSizeBytes, 5 * 1024 * 1024);
  assert.throws(
    () => loadConfig({ ...env, SOURCES: JSON.stringify({ sources: [{ ...entry, maxFileSize: 500 }] }) }),
    (error: unknown) =>
      error instanceof ConfigError &&
      /^SOURCES: sources\[0\] \(bucket "uploads"\)\.maxFileSize: is above MAX_FILE_SIZE \(100 MB\)/.test(error.message),
  );
});

test('type rules on the first bytes: denied, a name that lies, not allowed; no rules, no judgement', async () => {
  const exe = await detectType(peExecutable());
  const pdf = await detectType(pdfHead());
  const image = await detectType(png());
  const text = await detectType(Buffer.from('date,amount\n'));
  const deny = { denyTypes: ['exe'] };
  const allow = { allowTypes: ['png', 'pdf'] };

  assert.equal(typeVerdict('setup.exe', exe, undefined), undefined, 'a source without type rules scans every type');
  assert.equal(typeVerdict('setup.exe', exe, { maxFileSizeBytes: 1 }), undefined);
  assert.deepEqual(typeVerdict('setup.exe', exe, deny), {
    status: 'disallowed-type',
    rule: 'denied',
    detected: { ext: 'exe', mime: 'application/x-msdownload' },
    claimed: null,
  });
  // A DLL is a PE executable too: a name covers its family.
  assert.equal(typeVerdict('driver.dll', exe, deny)?.rule, 'denied');
  // The case: a .pdf that is a PE executable, under an allow list that has pdf.
  assert.deepEqual(typeVerdict('invoice.pdf', exe, allow), {
    status: 'disallowed-type',
    rule: 'mismatch',
    detected: { ext: 'exe', mime: 'application/x-msdownload' },
    claimed: 'pdf',
  });
  assert.equal(typeVerdict('photo.png', image, allow), undefined, 'an allowed PNG is scanned');
  assert.equal(typeVerdict('invoice.pdf', pdf, allow), undefined);
  assert.equal(typeVerdict('photo.png', image, deny), undefined);
  assert.equal(typeVerdict('notes.txt', text, allow)?.rule, 'not-allowed', 'bytes no detector knows are "unknown"');
  assert.equal(typeVerdict('notes.txt', text, { allowTypes: ['unknown'] }), undefined);
  assert.equal(typeVerdict('notes.txt', text, { denyTypes: ['unknown'] })?.rule, 'denied');
  // Denying one Office format denies that format, not every zip; an allowed one admits the zip it may be detected as.
  const docx = { ext: 'docx', mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' };
  const docm = { ext: 'docm', mime: 'application/vnd.ms-word.document.macroenabled.12' };
  const archive = { ext: 'zip', mime: 'application/zip' };
  assert.equal(typeVerdict('letter.docx', docm, { denyTypes: ['docm'] })?.rule, 'denied', 'a .docm by its bytes, whatever its name');
  assert.equal(typeVerdict('letter.docx', docx, { denyTypes: ['docm'] }), undefined);
  assert.equal(typeVerdict('bundle.zip', archive, { denyTypes: ['docm'] }), undefined);
  assert.equal(typeVerdict('letter.docx', archive, { allowTypes: ['docx'] }), undefined);
  // The name alone never passes a file: an exe named .png is a mismatch, not a PNG.
  assert.equal(typeVerdict('photo.png', exe, { allowTypes: ['png'] })?.rule, 'mismatch');
});

test('DISALLOWED_TYPE: spelled in one place, quarantined, never CLEAN, UNSUPPORTED in GuardDuty words', async () => {
  const verdict = typeVerdict('invoice.pdf', await detectType(peExecutable()), { denyTypes: ['exe'] }) as VerdictOf<'disallowed-type'>;
  assert.ok(VERDICT_STATUSES.includes('disallowed-type'));
  assert.equal(statusOf(verdict), 'DISALLOWED_TYPE');
  assert.equal(REPORT_REASONS.DISALLOWED_TYPE, 'file type not allowed');
  assert.equal(tagValueOf(verdict), 'DISALLOWED_TYPE');
  assert.equal(tagValueOf(verdict, 'guardduty'), 'UNSUPPORTED');
  assert.notEqual(tagValueOf(verdict), cleanTagValue());
  assert.notEqual(tagValueOf(verdict, 'guardduty'), cleanTagValue('guardduty'));
  assert.deepEqual(guardDutyStatusOf(verdict), { scanStatus: 'SKIPPED', scanResultStatus: 'UNSUPPORTED' });
  assert.equal(dispose(verdict, 'forward').action, 'quarantine', 'UNSCANNABLE_ACTION=forward does not pass it');
  assert.equal(detailOf(verdict), "the file is exe (application/x-msdownload), which is on this source's denyTypes");

  const mismatch = typeVerdict('invoice.pdf', await detectType(peExecutable()), { allowTypes: ['pdf'] })!;
  assert.equal(
    detailOf(mismatch),
    'the file, named .pdf, is exe (application/x-msdownload), which does not match the extension of its name',
  );

  const report = buildReport({
    target: {
      bucket: 'uploads',
      key: '0b6f2c1e-4d2a-4c1b-9e7f-3a5d8c2b1f00/invoice.pdf',
      submissionGuid: '0b6f2c1e-4d2a-4c1b-9e7f-3a5d8c2b1f00',
      filename: 'invoice.pdf',
      eventTime: '2026-06-01T10:15:00.000Z',
      versionId: 'v1',
      eTag: 'e1',
      record: {},
    } as never,
    verdict: mismatch,
    object: { size: 2048, eTag: 'e1', versionId: 'v1' },
    quarantine: { bucket: 'quarantine', key: 'invoice.pdf', reportKey: 'invoice.pdf.report.json' },
    scannedAt: new Date('2026-06-01T10:15:01.000Z'),
    engine: null,
  });
  assert.equal(report.status, 'DISALLOWED_TYPE');
  assert.equal(report.reason, 'file type not allowed');
  assert.equal(report.signature, null);
  assert.deepEqual(report.detectedType, { ext: 'exe', mime: 'application/x-msdownload' });
  assert.match(report.detail ?? '', /named \.pdf, is exe/);
  const event = quarantinedResult(report);
  const detail = event.detail as Record<string, unknown> & { scanResultDetails: Record<string, unknown> };
  assert.equal(detail.scanResultDetails['scanResultStatus'], 'UNSUPPORTED');
  assert.equal(detail['scanStatus'], 'SKIPPED');
  assert.equal(detail['status'], 'DISALLOWED_TYPE');
  assert.match(String(detail['detail']), /does not match the extension of its name/);
});
