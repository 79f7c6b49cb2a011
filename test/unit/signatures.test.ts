// Custom signatures and the allow list as files (src/signatures/), the origin of a
// reported name (src/verdict/signature.ts), and how clamd's complaints are read
// (src/local/signature-check.ts). clamd itself loads sets in
// test/integration/signatures-command.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { databaseName, isCustomName, signatureOrigin } from '../../src/verdict/signature.ts';
import { fileKind, readSignatureFile } from '../../src/signatures/formats.ts';
import {
  buildFile,
  checkSourceFiles,
  PUBLISHED_DATABASES,
  readSourceDirectory,
  renderCustomDatabases,
  sourceOf,
} from '../../src/signatures/set.ts';
import {
  activeEntry,
  addEntry,
  emptyAllowList,
  ignoredName,
  normaliseSha256,
  parseAllowList,
  removeEntry,
  renderAllowDatabases,
} from '../../src/signatures/allow-list.ts';
import { judgeMemory, memoryFigures, MIB, OFFICIAL_DATABASE_ESTIMATE_MIB } from '../../src/signatures/memory.ts';
import {
  initialiseSet,
  planPublication,
  PublicationConflict,
  readPublished,
  StoredSetError,
  writePublication,
} from '../../src/signatures/publish.ts';
import { directoryTarget, parseTargetLocation } from '../../src/signatures/target.ts';
import { interpret } from '../../src/local/signature-check.ts';

const HASH = 'a'.repeat(64);
const actor = (reason: string) => ({ by: 'arn:aws:iam::123456789012:user/alice', at: '2026-06-01T10:00:00.000Z', reason });

test('a reported name says where it comes from: ClamAV (no suffix), custom (the naming rule) or third-party', () => {
  assert.equal(signatureOrigin('Win.Test.EICAR_HDB-1'), 'clamav');
  assert.equal(signatureOrigin('Heuristics.Encrypted.Zip'), 'clamav');
  // An official name that happens to follow the custom rule is still ClamAV's: only clamd adds the suffix.
  assert.equal(signatureOrigin('Custom.Looks.Like-1'), 'clamav');
  assert.equal(signatureOrigin('Custom.Acme.Invoice-1.UNOFFICIAL'), 'custom');
  assert.equal(signatureOrigin('YARA.Custom_Acme_Macro.UNOFFICIAL'), 'custom');
  assert.equal(signatureOrigin('Sanesecurity.Junk.12345.UNOFFICIAL'), 'third-party');
  assert.equal(signatureOrigin('Win.Test.EICAR_HDB-1.UNOFFICIAL'), 'third-party');
  assert.equal(signatureOrigin('Custom..UNOFFICIAL'.replace('..', '.')), 'third-party', '"Custom." alone names nothing');
  assert.equal(databaseName('YARA.Custom_Acme_Macro.UNOFFICIAL'), 'Custom_Acme_Macro');
  assert.equal(databaseName('Win.Test.EICAR_HDB-1.UNOFFICIAL'), 'Win.Test.EICAR_HDB-1');
  assert.equal(databaseName('YARA.'), 'YARA.');
  assert.ok(isCustomName('Custom_x') && isCustomName('Custom.x') && !isCustomName('custom.x') && !isCustomName('Custom_'));
});

test('file kinds: the five signature formats, the allow list refused with the command to use, other files left out', () => {
  assert.deepEqual(fileKind('a.NDB'), { kind: 'signatures', format: 'ndb' });
  assert.deepEqual(fileKind('rules.yara'), { kind: 'signatures', format: 'yar' });
  const refused = fileKind('mine.ign2');
  assert.equal(refused.kind, 'refused');
  assert.match((refused as { why: string }).why, /bucketscan allow/);
  assert.equal(fileKind('phish.pdb').kind, 'refused');
  assert.deepEqual(fileKind('README.md'), { kind: 'other' });
  assert.deepEqual(fileKind('LICENSE'), { kind: 'other' });
});

test('line formats: names read, shapes checked, the naming rule enforced, comments, blank lines and CRs tolerated', () => {
  const ndb = readSignatureFile('ndb', '# comment\r\nCustom.A-1:0:*:414243\r\n\nCustom.B-1:0:*:41424344:73\n');
  assert.deepEqual(ndb.names, [
    { name: 'Custom.A-1', line: 2 },
    { name: 'Custom.B-1', line: 4 },
  ]);
  assert.deepEqual(ndb.problems, []);

  const bad = readSignatureFile('ndb', 'Custom.A-1:0:*\nWin.Trojan.X-1:0:*:4142\nCustom.C-1:x:*:41\nCustom.D-1.UNOFFICIAL:0:*:41\n');
  const expected: Array<[number, RegExp]> = [
    [1, /^expected name:target:offset:hexsig/],
    [2, /^signature name "Win.Trojan.X-1" must start with "Custom\."/],
    [3, /^the target type "x" must be a number/],
    [4, /^signature name "Custom.D-1.UNOFFICIAL" must not end in "\.UNOFFICIAL"/],
  ];
  assert.equal(bad.problems.length, expected.length);
  expected.forEach(([line, message], index) => {
    assert.equal(bad.problems[index]!.line, line);
    assert.match(bad.problems[index]!.message, message);
  });

  const hdb = readSignatureFile(
    'hdb',
    `${'0'.repeat(32)}:68:Custom.H-1\n${'0'.repeat(64)}:68:Custom.H-2\n${'0'.repeat(32)}:*:Custom.H-3\n`,
  );
  assert.deepEqual(
    hdb.problems.map((p) => p.line),
    [2, 3],
  );
  assert.match(hdb.problems[0]!.message, /MD5.*\.hsb/);
  assert.match(hdb.problems[1]!.message, /functionality level of at least 73/);
  const hsb = readSignatureFile('hsb', `${'0'.repeat(64)}:*:Custom.S-1:73\n${'0'.repeat(40)}:10:Custom.S-2\n`);
  assert.deepEqual(hsb.problems, []);
  assert.deepEqual(
    hsb.names.map((n) => n.name),
    ['Custom.S-1', 'Custom.S-2'],
  );

  const ldb = readSignatureFile('ldb', 'Custom.L-1;Engine:51-255,Target:0;0&1;414243;444546\nCustom.L-2;Target:0\n');
  assert.deepEqual(
    ldb.problems.map((p) => p.line),
    [2],
  );
  assert.equal(readSignatureFile('ndb', 'Custom.A-1:0:*:41\0').problems[0]!.message, 'holds a NUL byte: signature files are text');
});

test('YARA: rule names after modifiers, not in comments; "Custom_" required; imports refused', () => {
  const text = [
    '/* rule Custom_InAComment { } */',
    'import "pe"',
    '// rule Custom_Commented',
    'private rule Custom_Helper { condition: true }',
    'global private rule Custom_Global { condition: true }',
    'rule Acme_Macro : tag { strings: $a = "rule Custom_InAString" condition: $a }',
  ].join('\n');
  const read = readSignatureFile('yar', text);
  assert.deepEqual(read.names, [
    { name: 'Custom_Helper', line: 4 },
    { name: 'Custom_Global', line: 5 },
    { name: 'Acme_Macro', line: 6 },
  ]);
  assert.deepEqual(
    read.problems.map((p) => [p.line, p.message.slice(0, 30)]),
    [
      [2, 'import "pe": ClamAV\'s YARA sup'],
      [6, 'signature name "Acme_Macro" mu'],
    ],
  );
});

test('a set: names defined twice are refused with both places; a file with no signature is a note', () => {
  const check = checkSourceFiles([
    { name: 'a.ndb', text: 'Custom.A-1:0:*:4142\n' },
    { name: 'b.ldb', text: 'Custom.A-1;Target:0;0;4142\n' },
    { name: 'c.hdb', text: '# nothing yet\n' },
  ]);
  assert.deepEqual(check.problems, [{ file: 'b.ldb', line: 1, message: 'signature name "Custom.A-1" is already defined at a.ndb:1' }]);
  assert.deepEqual(check.notes, ['c.hdb defines no signature']);
});

test('a source directory: signature files read, allow-list files refused, other files and folders left out', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-sources-'));
  writeFileSync(join(dir, 'a.ndb'), 'Custom.A-1:0:*:4142\n');
  writeFileSync(join(dir, 'mine.fp'), `${'0'.repeat(32)}:1:x\n`);
  writeFileSync(join(dir, 'README.md'), 'notes');
  writeFileSync(join(dir, '.hidden.ndb'), 'x');
  writeFileSync(join(dir, 'latin1.hdb'), Buffer.from([0xe9, 0x0a]));
  const read = await readSourceDirectory(dir);
  assert.deepEqual(
    read.files.map((f) => f.name),
    ['a.ndb', 'latin1.hdb'],
  );
  assert.deepEqual(read.ignored, ['README.md']);
  assert.deepEqual(
    read.problems.map((p) => p.file),
    ['latin1.hdb', 'mine.fp'],
  );
});

test('published files: every format present, a comment where empty, sources merged with a comment each, lines traced back', () => {
  const files = renderCustomDatabases(
    [
      { name: 'a.ndb', text: 'Custom.A-1:0:*:4142\r\n\n  # indented comment\nCustom.B-1:0:*:4143' },
      { name: 'b.ndb', text: 'Custom.C-1:0:*:4144\n' },
      { name: 'r.yar', text: 'rule Custom_R\n{\n\n  condition: true\n}\n' },
    ],
    ['set version 7'],
  );
  assert.deepEqual(
    files.map((f) => f.name),
    PUBLISHED_DATABASES.filter((name) => name.startsWith('bucketscan-custom')),
  );
  const ndb = files.find((f) => f.name === 'bucketscan-custom.ndb')!;
  assert.equal(
    ndb.text,
    [
      '# set version 7',
      '# custom .ndb signatures',
      '# from a.ndb',
      'Custom.A-1:0:*:4142',
      '# indented comment',
      'Custom.B-1:0:*:4143',
      '# from b.ndb',
      'Custom.C-1:0:*:4144',
      '',
    ].join('\n'),
  );
  assert.deepEqual(sourceOf(files, 'bucketscan-custom.ndb', 6), { file: 'a.ndb', line: 4 });
  assert.deepEqual(sourceOf(files, 'bucketscan-custom.ndb', 8), { file: 'b.ndb', line: 1 });
  assert.equal(sourceOf(files, 'bucketscan-custom.ndb', 1), undefined);
  const yar = files.find((f) => f.name === 'bucketscan-custom.yar')!;
  assert.match(yar.text, /^\/\/ set version 7\n\/\/ custom YARA rules\n\/\/ from r\.yar\nrule Custom_R\n\{\n\n {2}condition: true\n\}\n$/);
  assert.deepEqual(sourceOf(files, 'bucketscan-custom.yar', 7), { file: 'r.yar', line: 4 });
  const hdb = files.find((f) => f.name === 'bucketscan-custom.hdb')!;
  assert.match(hdb.text, /# nothing in this file: clamd refuses an empty database file/);
  assert.ok(
    files.every((f) =>
      f.text
        .split('\n')
        .slice(0, -1)
        .every((line) => line.trim() !== '' || f.name.endsWith('.yar')),
    ),
    'no blank line in a line format',
  );
  assert.equal(buildFile('x.ign2', 'ign2', [], []).text.split('\n').length, 2);
});

test('the allow list: hashes and names normalised, the engine\'s "not fully scanned" names refused', () => {
  assert.equal(normaliseSha256(`SHA256:${'A'.repeat(64)}`), 'a'.repeat(64));
  assert.equal(normaliseSha256('abc'), undefined);
  assert.deepEqual(ignoredName(' YARA.Custom_Rule.UNOFFICIAL '), { ok: true, name: 'Custom_Rule' });
  assert.deepEqual(ignoredName('Win.Test.EICAR_HDB-1.UNOFFICIAL'), { ok: true, name: 'Win.Test.EICAR_HDB-1' });
  for (const name of ['Heuristics.Encrypted.Zip', 'Heuristics.Limits.Exceeded.MaxScanSize']) {
    const refused = ignoredName(name);
    assert.equal(refused.ok, false);
    assert.match((refused as { problem: string }).problem, /could not scan the whole file/);
  }
  assert.equal(ignoredName('two words').ok, false);
  assert.equal(ignoredName('a:b').ok, false);
  // Heuristics that are detections may be ignored.
  assert.equal(ignoredName('Heuristics.Phishing.Email.SpoofedDomain').ok, true);
});

test('the allow list: versions, ids, removal recorded on the entry, and the .sfp/.ign2 files', () => {
  let list = emptyAllowList();
  const first = addEntry(list, { kind: 'sha256', value: HASH, size: 68 }, actor('INC-1'));
  list = first.list;
  const second = addEntry(list, { kind: 'sha256', value: 'b'.repeat(64) }, actor('INC-2'));
  list = second.list;
  const third = addEntry(list, { kind: 'signature', value: 'Custom.Acme-1' }, actor('noisy'));
  list = third.list;
  assert.deepEqual([first.entry.id, second.entry.id, third.entry.id, list.version], [1, 2, 3, 3]);
  assert.equal(activeEntry(list, { kind: 'sha256', value: HASH })?.id, 1);
  const removed = removeEntry(list, { kind: 'sha256', value: 'b'.repeat(64) }, actor('wrong file'));
  assert.ok(removed);
  list = removed.list;
  assert.equal(list.version, 4);
  assert.equal(list.entries.length, 3, 'entries are never deleted');
  assert.equal(list.entries[1]!.removed?.reason, 'wrong file');
  assert.equal(removeEntry(list, { kind: 'sha256', value: 'b'.repeat(64) }, actor('again')), undefined);
  assert.equal(addEntry(list, { kind: 'sha256', value: 'c'.repeat(64) }, actor('x')).entry.id, 4, 'ids are not reused');

  const [sfp, ign2] = renderAllowDatabases(list, ['set version 9']);
  assert.equal(sfp!.name, 'bucketscan-allow.sfp');
  assert.deepEqual(
    sfp!.text.split('\n').filter((line) => !line.startsWith('#')),
    [`${HASH}:68:bucketscan-allow-1`, ''],
  );
  assert.match(sfp!.text, /# from allow list entry 1 \(INC-1\)/);
  assert.deepEqual(
    ign2!.text.split('\n').filter((line) => !line.startsWith('#')),
    ['Custom.Acme-1', ''],
  );
  const unsized = renderAllowDatabases(addEntry(emptyAllowList(), { kind: 'sha256', value: HASH }, actor('x')).list, [])[0]!;
  assert.ok(unsized.text.includes(`${HASH}:*:bucketscan-allow-1:73`), 'an unknown size is "*" from functionality level 73');

  assert.equal(parseAllowList({ format: 'bucketscan-allow-list', version: 1, entries: [{ id: 1 }] }).ok, false);
  assert.deepEqual(parseAllowList(list), { ok: true, list });
});

test('the memory guard: a reload holds the database twice; refused above the limit, unchecked without one', () => {
  const empty = { resident: 16 * MIB, peak: 16 * MIB };
  const withSet = { resident: 48 * MIB, peak: 64 * MIB };
  const estimated = memoryFigures(withSet, empty, false);
  assert.equal(estimated.setBytes, 32 * MIB);
  assert.equal(estimated.setPeakBytes, 48 * MIB);
  assert.equal(estimated.official.bytes, OFFICIAL_DATABASE_ESTIMATE_MIB * MIB);
  // process + (official + set) resident + (official + set) at its loading peak
  assert.equal(estimated.reloadPeakBytes, (16 + 2 * OFFICIAL_DATABASE_ESTIMATE_MIB + 32 + 48) * MIB);
  const measured = memoryFigures({ resident: 1300 * MIB, peak: 1500 * MIB }, empty, true);
  assert.equal(measured.official.bytes, 0);
  assert.equal(measured.reloadPeakBytes, (16 + 1284 + 1484) * MIB);

  assert.equal(judgeMemory(measured, undefined, 512).ok, true);
  assert.match(judgeMemory(measured, undefined, 512).summary, /nothing checked/);
  assert.equal(judgeMemory(measured, 3400, 512).ok, true);
  const refused = judgeMemory(measured, 3000, 512);
  assert.equal(refused.ok, false);
  assert.match(refused.summary, /more than clamd's 3000 MiB/);
});

test('publish locations: s3:// folders and directories', () => {
  assert.deepEqual(parseTargetLocation('s3://mirror-bucket/custom'), {
    ok: true,
    value: { kind: 's3', bucket: 'mirror-bucket', prefix: 'custom/' },
  });
  assert.deepEqual(parseTargetLocation('s3://mirror-bucket'), { ok: true, value: { kind: 's3', bucket: 'mirror-bucket', prefix: '' } });
  assert.equal(parseTargetLocation('s3://Bad_Bucket/x').ok, false);
  assert.equal(parseTargetLocation('https://example.com/x').ok, false);
  const local = parseTargetLocation('relative/dir');
  assert.ok(local.ok && local.value.kind === 'directory' && local.value.path.endsWith('/relative/dir'));
});

test('publications: versions, only changed files written, missing files completed, the allow list history kept, a conflict stops', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-set-'));
  const target = directoryTarget(dir);
  assert.equal(await initialiseSet(target, 'alice@host', new Date('2026-06-01T00:00:00Z')), true);
  assert.equal(await initialiseSet(target, 'alice@host', new Date()), false);
  let current = await readPublished(target);
  assert.equal(current.manifest?.version, 1);
  assert.deepEqual([...current.databases.keys()].sort(), [...PUBLISHED_DATABASES].sort());

  const sources = [{ name: 'a.ndb', text: 'Custom.A-1:0:*:4142\n' }];
  const signatures = checkSourceFiles(sources).signatures;
  const publication = planPublication(current, { kind: 'signatures', sources, signatures }, 'bob@host', new Date('2026-06-02T00:00:00Z'));
  assert.equal(publication.version, 2);
  assert.deepEqual(
    publication.writes,
    PUBLISHED_DATABASES.filter((name) => name.startsWith('bucketscan-custom')),
  );
  const manifest = await writePublication(target, current, publication, undefined);
  assert.deepEqual(manifest.sources[0]?.signatures, ['Custom.A-1']);
  assert.match(
    readFileSync(join(dir, 'bucketscan-custom.ndb'), 'utf8'),
    /version 2, published 2026-06-02T00:00:00.000Z by bob@host[\s\S]*Custom\.A-1/,
  );

  current = await readPublished(target);
  const list = addEntry(current.allowList, { kind: 'signature', value: 'Custom.A-1' }, actor('noisy')).list;
  const allow = planPublication(current, { kind: 'allow-list', list }, 'carol@host', new Date());
  assert.deepEqual(allow.writes, ['bucketscan-allow.sfp', 'bucketscan-allow.ign2']);
  // The custom files go along unchanged, as published.
  assert.equal(allow.files.find((f) => f.name === 'bucketscan-custom.ndb')!.text, readFileSync(join(dir, 'bucketscan-custom.ndb'), 'utf8'));
  await writePublication(target, current, allow, undefined);
  const after = await readPublished(target);
  assert.equal(after.manifest?.version, 3);
  assert.equal(after.manifest?.sources[0]?.file, 'a.ndb', 'the sources stay recorded');
  assert.equal(after.allowList.version, 1);
  assert.deepEqual(readdirSync(join(dir, 'history')).sort(), [
    'allow-list.v0.json',
    'allow-list.v1.json',
    'manifest.v1.json',
    'manifest.v2.json',
    'manifest.v3.json',
  ]);

  // Someone published version 3 from the same starting point: the second is told to run again.
  await assert.rejects(writePublication(target, current, allow, undefined), PublicationConflict);

  writeFileSync(join(dir, 'bucketscan-manifest.json'), '{"format":"something else"}');
  await assert.rejects(readPublished(target), StoredSetError);
});

test("clamd's complaints about a set are traced to the source file and line", () => {
  const files = renderCustomDatabases(
    [
      { name: 'a.ndb', text: 'Custom.A-1:0:*:4142\nCustom.Bad-1:0:*:ZZ\n' },
      { name: 'r.yar', text: 'rule Custom_R { condition: true and }\nrule Custom_Short { strings: $a = "ab" condition: $a }\n' },
    ],
    ['v1'],
  );
  const db = '/tmp/x/database';
  const result = interpret(
    [
      `LibClamAV Error: yyerror(): ${db}/bucketscan-custom.yar line 4 syntax error, unexpected '}'`,
      'LibClamAV Warning: load_oneyara: string is too short YARA.Custom_Short',
      'LibClamAV Warning: load_oneyara: clamav cannot support 1 input strings, skipping YARA.Custom_Short',
      `LibClamAV Warning: cli_loadyara: failed to parse or load 2 yara rules from file ${db}/bucketscan-custom.yar, successfully loaded 0 rules.`,
      'LibClamAV Warning: cli_loadyara: empty database file',
      'LibClamAV Error: Problem parsing database at line 5',
      `LibClamAV Error: Can't load ${db}/bucketscan-custom.ndb: Malformed database`,
      `LibClamAV Error: cli_loaddbdir: error loading database ${db}/bucketscan-custom.ndb`,
      'ERROR: Malformed database',
      'LibClamAV Warning: something else',
    ],
    files,
    (name) => (name === 'Custom_Short' ? { file: 'r.yar', line: 2 } : undefined),
  );
  assert.deepEqual(result.problems, [
    { file: 'r.yar', line: 1, message: "clamd: YARA: syntax error, unexpected '}'" },
    { file: 'r.yar', line: 2, message: 'clamd: YARA rule Custom_Short is skipped (string is too short)' },
    { file: 'bucketscan-custom.yar', message: 'clamd: 2 YARA rule(s) could not be loaded and would be left out silently' },
    { file: 'a.ndb', line: 2, message: 'clamd: cannot load it: Malformed database' },
  ]);
  assert.deepEqual(result.warnings, ['LibClamAV Warning: something else']);

  // A rule clamd refuses outright stops the whole file (ClamAV 1.4.6, a one-byte hex string).
  const refused = interpret(
    [
      'LibClamAV Warning: load_oneyara[verify]: string is too short: $a',
      `LibClamAV Warning: cli_loadyara: problem parsing yara file ${db}/bucketscan-custom.yar, yara rule Custom_Hex`,
      `LibClamAV Error: Can't load ${db}/bucketscan-custom.yar: Malformed database`,
    ],
    files,
    (name) => (name === 'Custom_Hex' ? { file: 'hex.yar', line: 3 } : undefined),
  );
  assert.deepEqual(refused.problems, [
    { file: 'hex.yar', line: 3, message: 'clamd: YARA rule Custom_Hex cannot be loaded (string is too short: $a)' },
    { file: 'bucketscan-custom.yar', message: 'clamd: cannot load it: Malformed database' },
  ]);
});
