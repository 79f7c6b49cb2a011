import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { describeBytes, parseScanReply, parseVersionReply } from '../../src/scan/reply.ts';

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
    assert.deepEqual(parseScanReply(bytes('stream: Heuristics.Limits.Exceeded.MaxRecursion FOUND\0')), {
      status: 'infected',
      signature: 'Heuristics.Limits.Exceeded.MaxRecursion',
    });
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

  test('an ERROR reply is an error carrying clamd\'s text', () => {
    const reply = parseScanReply(bytes('INSTREAM size limit exceeded. ERROR\0'));
    assert.equal(reply.status, 'error');
    assert.match(reply.status === 'error' ? reply.message : '', /INSTREAM size limit exceeded\. ERROR/);

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
