import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyDetection, describeBytes, parseScanReply, parseVersionReply } from '../../src/scan/reply.ts';

const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('parseScanReply', () => {
  test('"stream: OK" is clean, with or without its NUL terminator', () => {
    assert.deepEqual(parseScanReply(bytes('stream: OK\0')), { status: 'clean' });
    assert.deepEqual(parseScanReply(bytes('stream: OK')), { status: 'clean' });
    assert.deepEqual(parseScanReply(bytes('stream: OK\n')), { status: 'clean' });
  });

  test('FOUND is infected with the signature name', () => {
    assert.deepEqual(parseScanReply(bytes('stream: Win.Test.EICAR_HDB-1 FOUND\0')), {
      status: 'infected',
      signature: 'Win.Test.EICAR_HDB-1',
    });
    assert.deepEqual(parseScanReply(bytes('stream: Heuristics.Phishing.Email.SpoofedDomain FOUND\0')), {
      status: 'infected',
      signature: 'Heuristics.Phishing.Email.SpoofedDomain',
    });
  });

  test('a limit alert is unscannable, not infected', () => {
    assert.deepEqual(parseScanReply(bytes('stream: Heuristics.Limits.Exceeded.MaxRecursion FOUND\0')), {
      status: 'unscannable',
      reason: 'limit-exceeded',
      detail: "containers nested deeper than clamd's MaxRecursion",
      signature: 'Heuristics.Limits.Exceeded.MaxRecursion',
    });
  });

  test('an encryption alert is unscannable, not infected', () => {
    assert.deepEqual(parseScanReply(bytes('stream: Heuristics.Encrypted.Zip FOUND\0')), {
      status: 'unscannable',
      reason: 'encrypted',
      detail: 'encrypted Zip content that clamd cannot open',
      signature: 'Heuristics.Encrypted.Zip',
    });
  });

  test('"INSTREAM size limit exceeded. ERROR" is unscannable: a retry would get the same answer', () => {
    const expected = {
      status: 'unscannable',
      reason: 'stream-limit',
      detail: "the file is larger than clamd's StreamMaxLength",
      signature: null,
    };
    assert.deepEqual(parseScanReply(bytes('INSTREAM size limit exceeded. ERROR\0')), expected);
    assert.deepEqual(parseScanReply(bytes('INSTREAM size limit exceeded. ERROR')), expected);
    // Anything else around it is not that reply.
    assert.equal(parseScanReply(bytes('stream: INSTREAM size limit exceeded. ERROR\0')).status, 'error');
    assert.equal(parseScanReply(bytes('INSTREAM size limit exceeded ERROR\0')).status, 'error');
  });

  test('a signature name from a custom database may contain spaces', () => {
    assert.deepEqual(parseScanReply(bytes('stream: Local Rule 7 FOUND\0')), { status: 'infected', signature: 'Local Rule 7' });
  });

  test('a UTF-8 signature is decoded', () => {
    assert.deepEqual(parseScanReply(Buffer.from('stream: Sig.Café-1 FOUND\0', 'utf8')), {
      status: 'infected',
      signature: 'Sig.Café-1',
    });
  });

  test('a signature that is not valid UTF-8 keeps its bytes as \\xNN escapes', () => {
    // "Café" in Latin-1: 0xe9 alone is not UTF-8.
    const reply = Buffer.concat([bytes('stream: Sig.Caf'), Buffer.from([0xe9]), bytes('\\1 FOUND\0')]);
    assert.deepEqual(parseScanReply(reply), { status: 'infected', signature: 'Sig.Caf\\xe9\\\\1' });
  });

  test('control characters in a signature are escaped, never passed through', () => {
    assert.deepEqual(parseScanReply(bytes('stream: Bad\nName\x1b[31m FOUND\0')), {
      status: 'infected',
      signature: 'Bad\\x0aName\\x1b[31m',
    });
    assert.deepEqual(parseScanReply(Buffer.from('stream: C1\u0085 FOUND', 'utf8')), { status: 'infected', signature: 'C1\\u0085' });
  });

  test("an ERROR reply is an error carrying clamd's text", () => {
    const other = parseScanReply(bytes("stream: Can't allocate memory ERROR\0"));
    assert.equal(other.status, 'error');
    assert.match(other.status === 'error' ? other.message : '', /Can't allocate memory/);
  });

  test('empty, garbage and near-misses are errors, never clean', () => {
    const cases = [
      '',
      '\0',
      '   \0',
      'garbage',
      'PONG\0',
      'UNKNOWN COMMAND\0',
      'COMMAND READ TIMED OUT\0',
      'stream: \0',
      'stream: ok\0',
      'stream: OK.\0',
      'stream:  OK\0',
      'OK\0',
      'stream: OK\0stream: OK\0', // a NUL inside is not a terminator
      'stream:  FOUND\0',
      'stream: FOUND\0',
      'stream:    FOUND\0',
      'file: OK\0',
    ];
    for (const reply of cases) {
      const parsed = parseScanReply(bytes(reply));
      assert.equal(parsed.status, 'error', `${JSON.stringify(reply)} must be an error, got ${JSON.stringify(parsed)}`);
    }
  });

  test('binary garbage is quoted in the message escaped and cut short', () => {
    const garbage = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x1b, 0x5c]), Buffer.alloc(500, 0x41)]);
    const parsed = parseScanReply(garbage);
    assert.equal(parsed.status, 'error');
    const message = parsed.status === 'error' ? parsed.message : '';
    assert.match(message, /"\\xff\\xfe\\x00\\x1b\\\\A+" \(\+305 more bytes\)$/);
    assert.doesNotMatch(message, /[\x00-\x1f\x7f-\uffff]/);
  });
});

describe('classifyDetection', () => {
  // Every limit and encryption name in libclamav 1.4.6 (strings of libclamav.so.12),
  // as clamd reports them: without ".UNOFFICIAL", since the engine makes them up.
  const limits = [
    'MaxFileSize',
    'MaxScanSize',
    'MaxFiles',
    'MaxRecursion',
    'MaxScanTime',
    'EmailHeaderBytes',
    'EmailHeaders',
    'EmailLineFoldCnt',
    'EmailMIMEArguments',
    'EmailMIMEPartsPerMessage',
  ];
  const encrypted = ['Zip', 'RAR', '7Zip', 'EGG', 'PDF'];

  test('every libclamav limit alert is unscannable (limit-exceeded), with the limit named', () => {
    for (const limit of limits) {
      const verdict = classifyDetection(`Heuristics.Limits.Exceeded.${limit}`);
      assert.equal(verdict.status, 'unscannable', limit);
      assert.equal(verdict.status === 'unscannable' && verdict.reason, 'limit-exceeded');
      assert.equal(verdict.status === 'unscannable' && verdict.signature, `Heuristics.Limits.Exceeded.${limit}`);
      assert.match(verdict.status === 'unscannable' ? verdict.detail : '', new RegExp(limit));
    }
  });

  test('every libclamav encryption alert is unscannable (encrypted)', () => {
    for (const format of encrypted) {
      const verdict = classifyDetection(`Heuristics.Encrypted.${format}`);
      assert.equal(verdict.status === 'unscannable' && verdict.reason, 'encrypted', format);
      assert.match(verdict.status === 'unscannable' ? verdict.detail : '', new RegExp(`encrypted ${format}`));
    }
  });

  test('an unknown limit is still unscannable, described by its name alone', () => {
    for (const limit of ['MaxSomethingNew', 'constructor', 'toString']) {
      const verdict = classifyDetection(`Heuristics.Limits.Exceeded.${limit}`);
      assert.deepEqual(verdict, {
        status: 'unscannable',
        reason: 'limit-exceeded',
        detail: `it exceeds clamd's ${limit} limit`,
        signature: `Heuristics.Limits.Exceeded.${limit}`,
      });
    }
  });

  test('look-alikes from a database, and every other heuristic, stay detections', () => {
    for (const name of [
      'Heuristics.Limits.Exceeded.MaxFiles.UNOFFICIAL', // an unsigned database's signature, not the engine
      'Heuristics.Encrypted.Zip.UNOFFICIAL',
      'Heuristics.Encrypted.Zip-1',
      'Heuristics.Limits.Exceeded.',
      'Heuristics.Encrypted.',
      'Heuristics.Zip.OverlappingFiles', // a zip bomb trick clamd recognises: a detection
      'Heuristics.XZ.DicSizeLimit',
      'Heuristics.Broken.Executable',
      'Win.Test.EICAR_HDB-1.UNOFFICIAL',
      'Xheuristics.Limits.Exceeded.MaxFiles',
      'heuristics.limits.exceeded.maxfiles',
      'Heuristics.Limits.Exceeded.Max Files',
    ]) {
      assert.deepEqual(classifyDetection(name), { status: 'infected', signature: name }, name);
    }
  });
});

describe('describeBytes', () => {
  test('keeps printable ASCII and escapes everything else', () => {
    assert.equal(describeBytes(bytes('a "b"\\\r\n\0\x7f\x80')), '"a "b"\\\\\\x0d\\x0a\\x00\\x7f\\x80"');
  });
});

describe('parseVersionReply', () => {
  test('with an official database: engine, daily version and its date', () => {
    assert.deepEqual(parseVersionReply(bytes('ClamAV 1.4.6/27431/Thu Oct 30 09:22:40 2025\0')), {
      clamav: '1.4.6',
      databaseVersion: 27431,
      databaseDate: '2025-10-30T09:22:40',
      raw: 'ClamAV 1.4.6/27431/Thu Oct 30 09:22:40 2025',
    });
  });

  test('ctime pads single-digit days with a space', () => {
    assert.equal(parseVersionReply(bytes('ClamAV 1.4.6/27000/Sun Mar  2 08:05:09 2025\0')).databaseDate, '2025-03-02T08:05:09');
  });

  test('ctime output ends with a newline, which is not part of the date', () => {
    assert.equal(parseVersionReply(bytes('ClamAV 1.0.9/27431/Thu Oct 30 09:22:40 2025\n\0')).databaseDate, '2025-10-30T09:22:40');
  });

  test('with only custom signatures: the engine version alone (what clamd 1.4.6 really says)', () => {
    assert.deepEqual(parseVersionReply(bytes('ClamAV 1.4.6\0')), {
      clamav: '1.4.6',
      databaseVersion: null,
      databaseDate: null,
      raw: 'ClamAV 1.4.6',
    });
  });

  test('a date that does not parse is kept as clamd wrote it', () => {
    assert.equal(parseVersionReply(bytes('ClamAV 1.4.6/27431/sometime\0')).databaseDate, 'sometime');
    assert.equal(parseVersionReply(bytes('ClamAV 1.4.6/27431/Thu Feb 31 09:22:40 2025\0')).databaseDate, 'Thu Feb 31 09:22:40 2025');
  });

  test('development version strings are accepted', () => {
    assert.equal(parseVersionReply(bytes('ClamAV 1.5.0-rc+devel\0')).clamav, '1.5.0-rc+devel');
  });

  test('anything else throws with an escaped excerpt', () => {
    for (const reply of ['', 'PONG\0', 'clamav 1.4.6\0', 'ClamAV\0', 'ClamAV 1.4.6/abc/date\0', 'ClamAV 1.4.6/1/\x01\0']) {
      assert.throws(() => parseVersionReply(bytes(reply)), /unrecognised VERSION reply/, JSON.stringify(reply));
    }
    assert.throws(() => parseVersionReply(Buffer.from([0xff, 0])), /"\\xff"/);
  });
});
