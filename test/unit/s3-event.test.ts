import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildEventDocument,
  buildObjectCreatedRecord,
  buildTestEvent,
  createSequencer,
  encodeEventKey,
  type ObjectCreatedInput,
} from '../../src/events/s3-event.ts';

// The inverse consumers apply to S3 event keys (as the AWS docs prescribe).
const decode = (encoded: string): string => decodeURIComponent(encoded.replace(/\+/g, ' '));

describe('encodeEventKey', () => {
  const cases: Array<[string, string]> = [
    ['plain.txt', 'plain.txt'],
    ['red flower.jpg', 'red+flower.jpg'],
    ['a+b.txt', 'a%2Bb.txt'],
    ['dir/sub dir/file.txt', 'dir/sub+dir/file.txt'],
    ['100%.txt', '100%25.txt'],
    ['a&b=c', 'a%26b%3Dc'],
    ['tilde~star*', 'tilde%7Estar*'],
    ['safe-_.*', 'safe-_.*'],
    ['café.txt', 'caf%C3%A9.txt'],
    ['日本.pdf', '%E6%97%A5%E6%9C%AC.pdf'],
    ['emoji😀', 'emoji%F0%9F%98%80'],
    ['report 2026 (final).pdf', 'report+2026+%28final%29.pdf'],
    ['quote\'"?#:;,@$!', 'quote%27%22%3F%23%3A%3B%2C%40%24%21'],
  ];

  for (const [raw, expected] of cases) {
    it(`encodes ${JSON.stringify(raw)}`, () => {
      assert.equal(encodeEventKey(raw), expected);
    });
  }

  it('round-trips through form decoding for every case', () => {
    for (const [raw] of cases) assert.equal(decode(encodeEventKey(raw)), raw);
  });

  it('keeps a literal plus distinguishable from a space', () => {
    assert.notEqual(encodeEventKey('a b'), encodeEventKey('a+b'));
  });
});

const baseInput: ObjectCreatedInput = {
  bucket: 'unprocessed',
  key: 'c0ffee00-0000-4000-8000-000000000000/my file+1.pdf',
  size: 1024,
  eTag: 'd41d8cd98f00b204e9800998ecf8427e',
  eventName: 'ObjectCreated:Put',
  region: 'eu-west-2',
  eventTime: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)),
  sequencer: '0055AED6DCD90281E5',
  requestId: 'C3D13FE58DE4C810',
  hostId: 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD',
};

/**
 * The structure of the version 2.1 example in the S3 user guide ("Event message
 * structure"), reduced to the type of each leaf.
 */
const documentedShape = {
  eventVersion: 'string',
  eventSource: 'string',
  awsRegion: 'string',
  eventTime: 'string',
  eventName: 'string',
  userIdentity: { principalId: 'string' },
  requestParameters: { sourceIPAddress: 'string' },
  responseElements: { 'x-amz-request-id': 'string', 'x-amz-id-2': 'string' },
  s3: {
    s3SchemaVersion: 'string',
    configurationId: 'string',
    bucket: { name: 'string', ownerIdentity: { principalId: 'string' }, arn: 'string' },
    object: { key: 'string', size: 'number', eTag: 'string', versionId: 'string', sequencer: 'string' },
  },
};

function shapeOf(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return typeof value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shapeOf(v)]));
}

describe('buildObjectCreatedRecord', () => {
  it('matches the documented record structure exactly', () => {
    const record = buildObjectCreatedRecord({ ...baseInput, versionId: '096fKKXTRTtl3on89fVO.nfljtsv6qko' });
    assert.deepEqual(shapeOf(record), documentedShape);
  });

  it('fills the fields from the input, encoding the key', () => {
    const record = buildObjectCreatedRecord(baseInput);
    assert.deepEqual(record, {
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'eu-west-2',
      eventTime: '2026-01-02T03:04:05.006Z',
      eventName: 'ObjectCreated:Put',
      userIdentity: { principalId: 'AWS:000000000000' },
      requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: {
        'x-amz-request-id': 'C3D13FE58DE4C810',
        'x-amz-id-2': 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD',
      },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'bucketscan-local',
        bucket: {
          name: 'unprocessed',
          ownerIdentity: { principalId: '000000000000' },
          arn: 'arn:aws:s3:::unprocessed',
        },
        object: {
          key: 'c0ffee00-0000-4000-8000-000000000000/my+file%2B1.pdf',
          size: 1024,
          eTag: 'd41d8cd98f00b204e9800998ecf8427e',
          sequencer: '0055AED6DCD90281E5',
        },
      },
    });
  });

  it('omits versionId for unversioned objects instead of sending null', () => {
    const record = buildObjectCreatedRecord(baseInput);
    assert.equal('versionId' in record.s3.object, false);
    assert.equal(JSON.stringify(record).includes('versionId'), false);
  });

  it('generates request ids in the S3 format when none is given', () => {
    const { requestId: _requestId, hostId: _hostId, ...input } = baseInput;
    const record = buildObjectCreatedRecord(input);
    assert.match(record.responseElements['x-amz-request-id'], /^[0-9A-F]{16}$/);
    assert.ok(record.responseElements['x-amz-id-2'].length > 0);
  });

  it('wraps records in a Records document', () => {
    const record = buildObjectCreatedRecord(baseInput);
    assert.deepEqual(buildEventDocument([record]), { Records: [record] });
  });
});

describe('buildTestEvent', () => {
  it('has the fields and values of the s3:TestEvent message', () => {
    const event = buildTestEvent('unprocessed', {
      time: new Date('2014-10-13T15:57:02.089Z'),
      requestId: '5582815E1AEA5ADF',
      hostId: '8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE',
    });
    assert.equal(
      JSON.stringify(event),
      '{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2014-10-13T15:57:02.089Z","Bucket":"unprocessed",' +
        '"RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}',
    );
  });

  it('fills in time and ids by itself', () => {
    const event = buildTestEvent('unprocessed');
    assert.match(event.Time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(event.RequestId, /^[0-9A-F]{16}$/);
    assert.ok(event.HostId.length > 0);
  });
});

describe('createSequencer', () => {
  it('yields fixed-width hex that increases even when the clock stands still or steps back', () => {
    const times = [1_000, 1_000, 1_000, 999, 2_000];
    let i = 0;
    const next = createSequencer(() => times[i++] ?? 2_000);
    const values = times.map(() => next());
    for (const value of values) assert.match(value, /^[0-9A-F]{18}$/);
    for (let j = 1; j < values.length; j++) {
      const previous = values[j - 1] ?? '';
      const current = values[j] ?? '';
      assert.ok(current > previous, `${current} should sort after ${previous}`);
      assert.ok(BigInt(`0x${current}`) > BigInt(`0x${previous}`));
    }
  });

  it('follows the clock across generators, as across restarts', () => {
    const earlier = createSequencer(() => 1_000)();
    const later = createSequencer(() => 1_001)();
    assert.ok(later > earlier);
  });
});
