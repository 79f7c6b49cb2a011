// `bucketscan signatures` and `bucketscan allow` against a real clamd: custom
// .ndb and YARA rules (test/fixtures/custom-signatures) published to a directory
// that a running clamd loads (as the local stack's does) and reloaded, then seen
// by `bucketscan scan` and by the worker; a broken set refused before anything is
// written; the allow list making clamd pass a file (by hash) and a signature (by
// name); the memory guard refusing a set too big for clamd's memory.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Message } from '@aws-sdk/client-sqs';
import { startClamd, type ClamdProcess } from '../../src/local/clamd-process.ts';
import { LOCAL_STACK_STATE } from '../../src/local/stack.ts';
import { createLogger } from '../../src/log/logger.ts';
import { ClamdClient } from '../../src/scan/clamd-client.ts';
import type { ScanVerdict } from '../../src/scan/reply.ts';
import { initialiseSet } from '../../src/signatures/publish.ts';
import { directoryTarget } from '../../src/signatures/target.ts';
import { runCli, type CliResult } from '../support/cli.ts';
import {
  CUSTOM_NDB_MARKER,
  CUSTOM_NDB_SIGNATURE,
  CUSTOM_YARA_MARKER,
  CUSTOM_YARA_SIGNATURE,
  eicar,
  EICAR_SIGNATURE,
} from '../support/samples.ts';
import { outcomeFor, RESOURCES, startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/custom-signatures', import.meta.url));

let work: string;
/** The working directory of the commands: its .local/local-stack.json names the clamd below, as a running local stack's does. */
let cwd: string;
let setDir: string;
let clamd: ClamdProcess;
let client: ClamdClient;
let env: Record<string, string>;

const files: Record<string, string> = {};
const sample = (name: string, text: string) => {
  files[name] = join(work, name);
  writeFileSync(files[name], text);
  return files[name];
};

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'bucketscan-signatures-test-'));
  cwd = join(work, 'cwd');
  setDir = join(work, 'custom-databases');
  mkdirSync(join(cwd, '.local'), { recursive: true });
  await initialiseSet(directoryTarget(setDir), 'test@host', new Date());
  clamd = await startClamd({
    workDir: join(work, 'clamd'),
    streamMaxBytes: 1024 * 1024,
    customDatabasesDir: setDir,
    logger: createLogger('warn', 'clamd'),
  });
  client = new ClamdClient({ address: clamd.address });
  writeFileSync(join(cwd, LOCAL_STACK_STATE), JSON.stringify({ pid: clamd.pid, clamd: clamd.address, customDatabases: setDir }));
  env = {
    CUSTOM_DATABASES: setDir,
    ...(clamd.address.kind === 'tcp' ? { CLAMD_HOST: clamd.address.host, CLAMD_PORT: String(clamd.address.port) } : {}),
  };
  sample('ndb-marker.txt', `invoice ${CUSTOM_NDB_MARKER} end\n`);
  sample('yara-marker.txt', `macro ${CUSTOM_YARA_MARKER} end\n`);
  sample('yara-marker-2.txt', `another file, same rule: ${CUSTOM_YARA_MARKER}\n`);
  writeFileSync(join(work, 'eicar.com'), eicar());
  files['eicar.com'] = join(work, 'eicar.com');
});

after(async () => {
  await clamd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { ...env, ...extra }, cwd);

async function verdictOf(name: string): Promise<ScanVerdict> {
  return client.scan(
    (async function* () {
      yield readFileSync(files[name]!);
    })(),
  );
}

/** Waits for clamd (reloading in the background) to give `name` the expected verdict. */
async function waitForVerdict(name: string, expected: string | null): Promise<void> {
  await waitFor(`clamd to call ${name} ${expected ?? 'clean'}`, async () => {
    const verdict = await verdictOf(name);
    const signature = verdict.status === 'infected' ? verdict.signature : null;
    return signature === expected ? true : undefined;
  });
}

function publishedState(): Record<string, string> {
  const state: Record<string, string> = {};
  for (const name of readdirSync(setDir)) if (name !== 'history') state[name] = readFileSync(join(setDir, name), 'utf8');
  state['history'] = readdirSync(join(setDir, 'history')).sort().join(',');
  return state;
}

function stderrLines(result: CliResult): string[] {
  return result.stderr.trimEnd().split('\n');
}

describe('a broken set never reaches clamd', () => {
  test('a file clamd cannot load and a YARA rule it would skip are named by file and line; publish writes nothing', async () => {
    const broken = join(work, 'broken');
    cpSync(FIXTURES, broken, { recursive: true });
    writeFileSync(join(broken, 'bad.ndb'), 'Custom.Bad-1:0:*:41424344\nCustom.Bad-2:0:*:ZZ\n');
    writeFileSync(join(broken, 'short.yar'), 'rule Custom_Short { strings: $a = "x" condition: $a }\n');
    const before = publishedState();

    const check = await cli(['signatures', 'check', broken]);
    assert.equal(check.code, 1, check.stderr);
    assert.ok(stderrLines(check).includes('bad.ndb:2: clamd: cannot load it: Malformed database'), check.stderr);
    assert.ok(stderrLines(check).includes('short.yar:1: clamd: YARA rule Custom_Short is skipped (string is too short)'), check.stderr);

    const publish = await cli(['signatures', 'publish', broken]);
    assert.equal(publish.code, 1, publish.stderr);
    assert.match(publish.stderr, /refused: \d+ problems? \(above\); nothing was published/);
    assert.deepEqual(publishedState(), before, 'nothing written');
    await client.ping();
  });

  test('the naming rule and line shapes are checked before clamd runs', async () => {
    const dir = join(work, 'misnamed');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.ndb'), 'Acme.Invoice-1:0:*:41424344\n');
    writeFileSync(join(dir, 'mine.ign2'), 'Win.Test.EICAR_HDB-1\n');
    const check = await cli(['signatures', 'check', dir]);
    assert.equal(check.code, 1);
    assert.match(check.stderr, /^a\.ndb:1: signature name "Acme\.Invoice-1" must start with "Custom\."/m);
    assert.match(check.stderr, /^mine\.ign2: allow-list files are not part of a custom set: .*bucketscan allow/m);
  });
});

describe('custom signatures, published', () => {
  test('check passes the fixture set; publish --dry-run writes nothing', async () => {
    const check = await cli(['signatures', 'check', FIXTURES]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /^acme\.ndb: 1 signature$/m);
    assert.match(check.stdout, /^left out \(not signature files\): README\.md$/m);
    assert.match(check.stdout, /^memory: the set adds [\d.]+ MiB to clamd/m);
    assert.match(check.stdout, /^OK: clamd loads the set \(2 signatures\)$/m);
    const before = publishedState();
    const dry = await cli(['signatures', 'publish', FIXTURES, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /dry run: version 2 would write bucketscan-custom\.hdb, .*; nothing was published/);
    assert.deepEqual(publishedState(), before);
  });

  test('the memory guard refuses a set that a clamd with too little memory could not reload', async () => {
    const result = await cli(['signatures', 'publish', FIXTURES], { CLAMD_MEMORY_LIMIT_MB: '1000' });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^memory: the set adds .* more than clamd's 1000 MiB\. Publishing it would get clamd killed/m);
  });

  test('published, the local clamd reloads, and scan reports the custom names with their origin', async () => {
    assert.equal((await verdictOf('ndb-marker.txt')).status, 'clean');
    const result = await cli(['signatures', 'publish', FIXTURES], { CLAMD_MEMORY_LIMIT_MB: '4096' });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^published version 2 to .*custom-databases \(bucketscan-custom\.hdb, .*bucketscan-custom\.yar\)$/m);
    assert.match(result.stdout, /^the local stack's clamd at 127\.0\.0\.1:\d+ is reloading its database$/m);
    await waitForVerdict('ndb-marker.txt', CUSTOM_NDB_SIGNATURE);
    await waitForVerdict('yara-marker.txt', CUSTOM_YARA_SIGNATURE);

    const scan = await cli(['scan', '--json', files['ndb-marker.txt']!, files['yara-marker.txt']!, files['eicar.com']!]);
    assert.equal(scan.code, 1, scan.stderr);
    const lines = scan.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((line) => [line['status'], line['signature'], line['signatureOrigin']]),
      [
        ['INFECTED', CUSTOM_NDB_SIGNATURE, 'custom'],
        ['INFECTED', CUSTOM_YARA_SIGNATURE, 'custom'],
        // The project's test signatures are unsigned but not custom.
        ['INFECTED', EICAR_SIGNATURE, 'third-party'],
      ],
    );

    const status = await cli(['signatures', 'status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /version 2, published .* \(signatures\)\n {2}acme\.ndb: 1 signatures/);
  });

  describe('the allow list', () => {
    test('an allowed hash passes that file only; an ignored signature passes every file it matched', async () => {
      const hash = createHash('sha256').update(readFileSync(files['yara-marker.txt']!)).digest('hex');
      // --dry-run checks and says what it would add, and publishes nothing: the entry below is still entry 1.
      const dry = await cli(['allow', '--sha256', hash, '--reason', 'INC-1: a customer macro, checked', '--dry-run']);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(
        dry.stdout,
        new RegExp(`^dry run: would add entry 1: sha256 ${hash} \\(allow list version 1\\); nothing was published$`, 'm'),
      );
      assert.equal((await verdictOf('yara-marker.txt')).status, 'infected', 'the dry run changed nothing clamd loads');
      const byHash = await cli(['allow', '--sha256', hash, '--reason', 'INC-1: a customer macro, checked']);
      assert.equal(byHash.code, 0, byHash.stderr);
      assert.match(byHash.stdout, new RegExp(`^added entry 1: sha256 ${hash} \\(allow list version 1\\)$`, 'm'));
      await waitForVerdict('yara-marker.txt', null);
      assert.equal((await verdictOf('yara-marker-2.txt')).status, 'infected', 'the rule still catches other files');

      const again = await cli(['allow', '--sha256', hash.toUpperCase(), '--reason', 'twice']);
      assert.equal(again.code, 0);
      assert.match(again.stdout, /^already on the allow list: entry 1, .*INC-1: a customer macro, checked; nothing changed$/m);

      const byName = await cli(['allow', '--signature', CUSTOM_NDB_SIGNATURE, '--reason', 'rule too broad, being fixed']);
      assert.equal(byName.code, 0, byName.stderr);
      await waitForVerdict('ndb-marker.txt', null);
      assert.equal((await verdictOf('eicar.com')).status, 'infected', 'other signatures still match');

      const list = await cli(['allow', '--list']);
      assert.match(
        list.stdout,
        /version 2: 2 active entries\n {2}entry 1, sha256 .*\n {2}entry 2, signature Custom\.Test\.NdbMarker-1, added .* by .*: rule too broad, being fixed/,
      );

      const removed = await cli(['allow', '--remove', '--signature', 'Custom.Test.NdbMarker-1', '--reason', 'rule fixed']);
      assert.equal(removed.code, 0, removed.stderr);
      await waitForVerdict('ndb-marker.txt', CUSTOM_NDB_SIGNATURE);
      const document = JSON.parse(readFileSync(join(setDir, 'bucketscan-allow-list.json'), 'utf8'));
      assert.equal(document.version, 3);
      assert.equal(document.entries[1].removed.reason, 'rule fixed');
      assert.ok(readdirSync(join(setDir, 'history')).includes('allow-list.v2.json'), 'every version is kept');
    });

    test('usage errors: no reason, both kinds, a heuristic that means "not fully scanned"', async () => {
      for (const [args, message] of [
        [['allow', '--sha256', 'a'.repeat(64)], /--reason is required/],
        [['allow', '--sha256', 'a'.repeat(64), '--signature', 'X', '--reason', 'r'], /give --sha256 or --signature, not both/],
        [['allow', '--signature', 'Heuristics.Encrypted.Zip', '--reason', 'r'], /could not scan the whole file/],
        [['allow', '--remove', '--sha256', 'b'.repeat(64), '--reason', 'r'], /is not on the allow list/],
      ] as const) {
        const result = await cli([...args]);
        assert.ok(result.code === 2 || result.code === 1, `${args.join(' ')}: ${result.code}`);
        assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
        assert.match(result.stderr, message);
      }
    });
  });
});

describe('custom signatures through the worker', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ clamd: clamd.address });
    stack.startWorker();
  });
  after(async () => {
    await stack?.stop();
  });
  const notifiedReport = (message: Message) => JSON.parse(JSON.parse(message.Body!).Message) as Record<string, any>;

  test('a file caught by a custom rule is quarantined, its report and notification naming the rule as custom', async () => {
    await waitForVerdict('ndb-marker.txt', CUSTOM_NDB_SIGNATURE);
    const objectKey = `${randomUUID()}/invoice.txt`;
    await stack.put(objectKey, readFileSync(files['ndb-marker.txt']!));
    const notification = await stack.message('notification', (m) => notifiedReport(m)['key'] === objectKey);
    const report = notifiedReport(notification);
    assert.equal(report['status'], 'INFECTED');
    assert.equal(report['signature'], CUSTOM_NDB_SIGNATURE);
    assert.equal(report['signatureOrigin'], 'custom');
    const attributes = JSON.parse(notification.Body!).MessageAttributes as Record<string, { Value: string }>;
    assert.equal(attributes['signatureOrigin']?.Value, 'custom');
  });

  test('a file whose hash is on the allow list is forwarded clean', async () => {
    const objectKey = `${randomUUID()}/macro.txt`;
    await stack.put(objectKey, readFileSync(files['yara-marker.txt']!));
    const line = await outcomeFor(stack.logs, objectKey);
    assert.equal(line['outcome'], 'clean');
    const other = `${randomUUID()}/macro-2.txt`;
    await stack.put(other, readFileSync(files['yara-marker-2.txt']!));
    const caught = await outcomeFor(stack.logs, other);
    assert.equal(caught['outcome'], 'infected');
    assert.equal(caught['signature'], CUSTOM_YARA_SIGNATURE);
    assert.equal(await stack.exists(RESOURCES.unprocessedBucket, objectKey), true);
  });
});
