// SOURCES_FILE in the worker's settings: the file read (JSON or YAML) into the
// same Source type the single-bucket variables make, the tag key from
// SCAN_STATUS_TAG and STATUS_TAG_STYLE, and every problem one ConfigError on one
// line naming the entry and the field: a bad file, a single-bucket variable beside
// it, a missing topic, a topic in another region. RESULT_EVENT_BUS and
// RESCAN_QUEUE are checked here too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, readConfig } from '../../src/config/config.ts';
import { ConfigError } from '../../src/config/variables.ts';

const dir = mkdtempSync(join(tmpdir(), 'bucketscan-sources-config-'));
const file = (name: string, content: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};

const base = {
  VIRUS_SCANNING_QUEUE_NAME: 'inbound',
  VIRUS_NOTIFICATION_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:reports',
  AWS_REGION: 'eu-west-1',
};
const single = {
  ...base,
  UNPROCESSED_BUCKET_NAME: 'unprocessed',
  QUARANTINE_BUCKET_NAME: 'quarantine',
  VALIDATION_QUEUE_NAME: 'validation',
};
const two = {
  sources: [
    { bucket: 'uploads', prefix: 'in', quarantineBucket: 'quarantine', quarantinePrefix: 'uploads', validationQueue: 'validation-a' },
    { bucket: 'imports', keyLayout: 'any', quarantineBucket: 'quarantine', quarantinePrefix: 'imports/', statusTag: false },
  ],
};

async function failsOn(env: Record<string, string | undefined>, variable: string, problem: RegExp) {
  await assert.rejects(readConfig(env), (error: unknown) => {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.variable, variable);
    assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
    assert.match(error.message, problem);
    return true;
  });
}

test('a sources file gives every source in the one Source type, the global settings filled in', async () => {
  const config = await readConfig({ ...base, SOURCES_FILE: file('two.json', two) });
  assert.equal(config.sourcesFile, join(dir, 'two.json'));
  assert.deepEqual(config.sources, [
    {
      label: 'sources[0] (bucket "uploads")',
      bucket: 'uploads',
      prefix: 'in/',
      keyLayout: 'submission',
      quarantine: { bucket: 'quarantine', prefix: 'uploads/' },
      validationQueue: { name: 'validation-a' },
      notificationTopicArn: undefined,
      statusTag: 'bucketscan-status',
    },
    {
      label: 'sources[1] (bucket "imports")',
      bucket: 'imports',
      prefix: '',
      keyLayout: 'any',
      quarantine: { bucket: 'quarantine', prefix: 'imports/' },
      validationQueue: undefined,
      notificationTopicArn: undefined,
      statusTag: undefined,
    },
  ]);
  assert.equal(config.source, config.sources[0]);
  // YAML too, and the same.
  const yaml = file(
    'two.yaml',
    'sources:\n  - bucket: uploads\n    prefix: in\n    quarantineBucket: quarantine\n    quarantinePrefix: uploads\n',
  );
  assert.equal((await readConfig({ ...base, SOURCES_FILE: yaml })).sources[0]?.prefix, 'in/');
});

test('the single-bucket variables make the same type: one source, named by its variable', () => {
  const config = loadConfig(single);
  assert.equal(config.sourcesFile, undefined);
  assert.deepEqual(config.sources, [
    {
      label: 'UNPROCESSED_BUCKET_NAME',
      bucket: 'unprocessed',
      prefix: '',
      keyLayout: 'submission',
      quarantine: { bucket: 'quarantine', prefix: '' },
      validationQueue: { name: 'validation' },
      notificationTopicArn: undefined,
      statusTag: 'bucketscan-status',
    },
  ]);
});

test('a single-bucket variable beside SOURCES_FILE is refused, naming it; empty ones do not count', async () => {
  const path = file('conflict.json', two);
  for (const variable of ['UNPROCESSED_BUCKET_NAME', 'QUARANTINE_PREFIX', 'VALIDATION_QUEUE_URL']) {
    const value = variable === 'VALIDATION_QUEUE_URL' ? 'https://sqs.eu-west-1.amazonaws.com/123456789012/v' : 'x-bucket';
    await failsOn({ ...base, SOURCES_FILE: path, [variable]: value }, 'SOURCES_FILE', new RegExp(`cannot be combined with ${variable}`));
  }
  const config = await readConfig({ ...base, SOURCES_FILE: path, UNPROCESSED_BUCKET_NAME: '', UNPROCESSED_PREFIX: '' });
  assert.equal(config.sources.length, 2);
});

test('a bad sources file stops the worker with one line naming the file, the entry and the field', async () => {
  await failsOn(
    { ...base, SOURCES_FILE: file('missing-field.json', { sources: [{ bucket: 'bbb', quarantinePrefix: '' }] }) },
    'SOURCES_FILE',
    /^SOURCES_FILE: .*missing-field\.json: sources\[0\] \(bucket "bbb"\)\.quarantineBucket: is required$/,
  );
  await failsOn({ ...base, SOURCES_FILE: join(dir, 'nowhere.json') }, 'SOURCES_FILE', /cannot read .*nowhere\.json.*ENOENT/);
  await failsOn({ ...base, SOURCES_FILE: file('broken.json', '{"sources": [') }, 'SOURCES_FILE', /is not valid JSON/);
  await failsOn(
    { ...base, SOURCES_FILE: file('overlap.json', { sources: [two.sources[0], { ...two.sources[0], prefix: 'in/deeper' }] }) },
    'SOURCES_FILE',
    /sources\[1\] \(bucket "uploads"\)\.prefix: "in\/deeper\/" overlaps/,
  );
});

test('the global topic is required unless every source names its own; every topic in the one SNS region', async () => {
  const { VIRUS_NOTIFICATION_TOPIC_ARN: _topic, ...noTopic } = base;
  await failsOn(
    { ...noTopic, SOURCES_FILE: file('no-topic.json', two) },
    'VIRUS_NOTIFICATION_TOPIC_ARN',
    /is required: sources\[0\] \(bucket "uploads"\) names no notificationTopicArn/,
  );
  const own = (arn: string) => ({ sources: two.sources.map((source) => ({ ...source, notificationTopicArn: arn })) });
  const config = await readConfig({ ...noTopic, SOURCES_FILE: file('own-topics.json', own('arn:aws:sns:eu-west-1:123456789012:own')) });
  assert.equal(config.queues.topicArn, undefined);
  assert.equal(config.aws.sns.region, 'eu-west-1', "the SNS client in the sources' topics' region");
  await failsOn(
    { ...base, SOURCES_FILE: file('far-topic.json', own('arn:aws:sns:us-east-1:123456789012:far')) },
    'SOURCES_FILE',
    /sources\[0\] \(bucket "uploads"\)\.notificationTopicArn: is in us-east-1, but the worker publishes in eu-west-1/,
  );
  // Without a sources file the global topic stays required, as before.
  assert.throws(
    () => loadConfig({ ...single, VIRUS_NOTIFICATION_TOPIC_ARN: undefined }),
    /^ConfigError: VIRUS_NOTIFICATION_TOPIC_ARN: is required but not set$|VIRUS_NOTIFICATION_TOPIC_ARN: is required but not set/,
  );
});

test('STATUS_TAG_STYLE: GuardDuty’s key by default in its style; SCAN_STATUS_TAG still names or turns off the key', async () => {
  assert.equal(loadConfig(single).statusTagStyle, 'bucketscan');
  const guardduty = loadConfig({ ...single, STATUS_TAG_STYLE: 'guardduty' });
  assert.equal(guardduty.statusTagStyle, 'guardduty');
  assert.equal(guardduty.source.statusTag, 'GuardDutyMalwareScanStatus');
  assert.equal(loadConfig({ ...single, STATUS_TAG_STYLE: 'GuardDuty', SCAN_STATUS_TAG: 'scan' }).source.statusTag, 'scan');
  assert.equal(loadConfig({ ...single, STATUS_TAG_STYLE: 'guardduty', SCAN_STATUS_TAG: '' }).source.statusTag, undefined);
  assert.throws(() => loadConfig({ ...single, STATUS_TAG_STYLE: 'aws' }), /STATUS_TAG_STYLE: must be one of bucketscan, guardduty/);
  // A source that turns tagging on while it is off globally gets the style's key.
  const on = { sources: [{ ...two.sources[1], statusTag: true }] };
  const config = await readConfig({ ...base, SCAN_STATUS_TAG: '', STATUS_TAG_STYLE: 'guardduty', SOURCES_FILE: file('on.json', on) });
  assert.equal(config.sources[0]?.statusTag, 'GuardDutyMalwareScanStatus');
});

test('RESULT_EVENT_BUS: a bus name or ARN, EventBridge in its region; RESCAN_QUEUE: a name or URL', () => {
  assert.equal(loadConfig(single).resultBus, undefined);
  assert.equal(loadConfig(single).aws.events, undefined);
  const byName = loadConfig({ ...single, RESULT_EVENT_BUS: 'default' });
  assert.equal(byName.resultBus, 'default');
  assert.equal(byName.aws.events?.region, 'eu-west-1');
  const byArn = loadConfig({
    ...single,
    RESULT_EVENT_BUS: 'arn:aws:events:eu-central-1:123456789012:event-bus/scans',
    AWS_EVENTS_ENDPOINT_URL: 'http://127.0.0.1:5000',
  });
  assert.equal(byArn.aws.events?.region, 'eu-central-1');
  assert.equal(byArn.aws.events?.endpoint, 'http://127.0.0.1:5000');
  assert.throws(() => loadConfig({ ...single, RESULT_EVENT_BUS: 'not a bus!' }), /RESULT_EVENT_BUS: must be an EventBridge event bus name/);
  assert.deepEqual(loadConfig({ ...single, RESCAN_QUEUE: 'rescan' }).queues.rescan, { name: 'rescan' });
  assert.deepEqual(loadConfig({ ...single, RESCAN_QUEUE: 'https://sqs.eu-west-1.amazonaws.com/123456789012/rescan' }).queues.rescan, {
    url: 'https://sqs.eu-west-1.amazonaws.com/123456789012/rescan',
  });
  assert.equal(loadConfig(single).queues.rescan, undefined);
  assert.throws(() => loadConfig({ ...single, RESCAN_QUEUE: 'a queue' }), /RESCAN_QUEUE: must be an SQS queue name/);
});

test('SOURCES: the same document inline, as a deployment gives the worker; bad JSON, a bad entry and both set name SOURCES', async () => {
  const config = await readConfig({ ...base, SOURCES: JSON.stringify(two) });
  assert.deepEqual(
    config.sources.map((source) => [source.bucket, source.prefix, source.quarantine.prefix]),
    [
      ['uploads', 'in/', 'uploads/'],
      ['imports', '', 'imports/'],
    ],
  );
  await failsOn({ ...base, SOURCES: '{' }, 'SOURCES', /is not valid JSON/);
  await failsOn(
    { ...base, SOURCES: '{"sources":[{"bucket":"uploads"}]}' },
    'SOURCES',
    /sources\[0\] \(bucket "uploads"\)\.quarantineBucket: is required/,
  );
  await failsOn(
    { ...base, SOURCES: JSON.stringify(two), SOURCES_FILE: file('also.json', two) },
    'SOURCES',
    /and SOURCES_FILE are both set/,
  );
  await failsOn({ ...single, SOURCES: JSON.stringify(two) }, 'SOURCES', /cannot be combined with UNPROCESSED_BUCKET_NAME/);
});
