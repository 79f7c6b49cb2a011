// The container images, built and run for real with podman (make test-image; not
// part of npm test): the worker image against the project's emulator (started in
// this process on 127.0.0.1), the clamd image with the test signatures mounted and
// freshclam off, both on the host network.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ListQueuesCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { loadConfig } from '../../src/config/config.ts';
import { CLAMD_IMAGE_CASES, imageClamdConfig } from '../support/clamd-image-config.ts';
import { startEmulator, type Emulator } from '../../src/local/emulator.ts';
import { freePort } from '../../src/local/free-port.ts';
import { createLogger } from '../../src/log/logger.ts';
import { ClamdClient } from '../../src/scan/clamd-client.ts';
import { CUSTOM_NDB_MARKER, CUSTOM_NDB_SIGNATURE, EICAR_SIGNATURE, eicar } from '../support/samples.ts';
import { planPublication, readPublished, writePublication } from '../../src/signatures/publish.ts';
import { checkSourceFiles, readSourceDirectory } from '../../src/signatures/set.ts';
import { directoryTarget } from '../../src/signatures/target.ts';
import { emulatorEnv, RESOURCES } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';
import {
  IMAGES,
  TAG,
  imageSize,
  inspect,
  isStandInBased,
  podman,
  podmanOk,
  startContainer,
  tail,
  uniqueName,
  type Container,
} from './podman.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SIGNATURES = join(root, 'test', 'fixtures', 'signatures');
const CUSTOM_SIGNATURES = join(root, 'test', 'fixtures', 'custom-signatures');
const REGION = RESOURCES.region;
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
/** The variables the worker requires, for computing what it makes of MAX_FILE_SIZE. */
const WORKER_MINIMUM = {
  UNPROCESSED_BUCKET_NAME: 'unprocessed',
  QUARANTINE_BUCKET_NAME: 'quarantine',
  VIRUS_SCANNING_QUEUE_NAME: 'virus-scanning',
  VALIDATION_QUEUE_NAME: 'validation',
  VIRUS_NOTIFICATION_TOPIC_ARN: 'arn:aws:sns:us-east-1:000000000000:virus-notification',
  AWS_REGION: 'us-east-1',
};
/** What each Dockerfile starts FROM, as podman names it. */
const BASES = {
  worker: 'docker.io/library/node:24-bookworm-slim',
  clamd: 'docker.io/library/debian:bookworm-slim',
  emulator: 'docker.io/library/node:24-bookworm-slim',
} as const;

/** One-off runs: no health-check timers (podman would try to set them up through systemd). */
const oneOff = (image: string, args: string[], command: string[] = []) =>
  podman(['run', '--rm', '--network', 'host', '--pull', 'never', '--no-healthcheck', ...args, image, ...command]);

before(async () => {
  for (const image of Object.values(IMAGES)) {
    const present = await podman(['image', 'exists', image]);
    assert.equal(present.code, 0, `${image} is missing: build it with "make image IMAGE_TAG=${TAG}" (make test-image does)`);
  }
  for (const image of Object.values(IMAGES)) {
    if (await isStandInBased(image)) {
      process.stdout.write(
        `\n!!! ${image} is built on a LOCAL STAND-IN base image (the official one could not be pulled here; ` +
          'scripts/base-images.sh). Its behaviour is tested; its size and base are not those of the official base. Never push it.\n',
      );
    }
  }
});

describe('the images as built', () => {
  test('image sizes (written to .local/image-sizes.md)', async () => {
    const rows: string[] = [];
    const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
    for (const [role, image] of Object.entries(IMAGES)) {
      const bytes = await imageSize(image);
      const base = BASES[role as keyof typeof IMAGES];
      const baseBytes = await imageSize(base);
      assert.ok(bytes > baseBytes, `${image} is larger than its base ${base}`);
      const kind = (await isStandInBased(image)) ? 'local stand-in (scripts/base-images.sh)' : 'official';
      rows.push(
        `| ${role} | \`${image}\` | ${megabytes(bytes)} | ${megabytes(bytes - baseBytes)} | \`${base}\`, ${kind}, ${megabytes(baseBytes)} |`,
      );
    }
    const table = ['| Image | Tag | Size (uncompressed) | Added to the base | Base |', '|---|---|---|---|---|', ...rows].join('\n');
    process.stdout.write(`\nImage sizes:\n${table}\n\n`);
    mkdirSync(join(root, '.local'), { recursive: true });
    writeFileSync(
      join(root, '.local', 'image-sizes.md'),
      `${table}\n\nMeasured ${new Date().toISOString()} by test/image/image.test.ts.\n`,
    );
  });

  test('the worker image holds the bundle, package.json and the health check only: no node_modules, sources or .env', async () => {
    const listing = await oneOff(IMAGES.worker, ['--entrypoint', 'ls'], ['-A', '/app']);
    assert.equal(listing.code, 0, listing.stderr);
    assert.deepEqual(listing.stdout.trim().split('\n').sort(), ['dist', 'healthcheck.mjs', 'package.json']);
    const dist = await oneOff(IMAGES.worker, ['--entrypoint', 'ls'], ['/app/dist']);
    assert.ok(dist.stdout.split('\n').includes('cli.js'), dist.stdout);
    const version = await oneOff(IMAGES.worker, [], ['version']);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^bucketscan \d+\.\d+\.\d+/);
  });

  test('both images are configured to run as a non-root user, and stop on SIGTERM', async () => {
    assert.equal(await inspect(IMAGES.worker, '{{.Config.User}}'), 'node');
    assert.equal(await inspect(IMAGES.clamd, '{{.Config.User}}'), '100:101');
    assert.equal(await inspect(IMAGES.worker, '{{.Config.StopSignal}}'), 'SIGTERM');
    assert.equal(await inspect(IMAGES.clamd, '{{.Config.StopSignal}}'), 'SIGTERM');
    // podman keeps HEALTHCHECK only in the docker image format (scripts/images.sh builds with it).
    assert.match(await podmanOk(['image', 'inspect', '--format', '{{json .HealthCheck}}', IMAGES.worker]), /healthcheck\.mjs/);
    assert.match(await podmanOk(['image', 'inspect', '--format', '{{json .HealthCheck}}', IMAGES.clamd]), /clamd-healthcheck/);
    assert.match(await inspect(IMAGES.worker, '{{json .Config.Env}}'), /BUCKETSCAN_ENV_FILE=none/);
  });

  test('a bad worker setting: exit 2 and one line naming the variable', async () => {
    const result = await oneOff(IMAGES.worker, ['-e', 'UNPROCESSED_BUCKET_NAME=unprocessed', '-e', 'MAX_FILE_SIZE=lots']);
    assert.equal(result.code, 2, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /^bucketscan: configuration error: [A-Z_]+: /);
  });

  for (const [variable, value] of [
    ['CLAMD_MAX_THREADS', 'lots'],
    ['CLAMD_STREAM_MAX_LENGTH_MB', '4096'],
    ['CLAMD_STREAM_MAX_LENGTH_MB', '0'],
    ['CLAMD_STREAM_MAX_LENGTH_MB', '1e3'],
    ['FRESHCLAM', 'sometimes'],
    // Not above MaxScanSize (400 MB by default) by the margin docs/clamd.md explains.
    ['CLAMD_MAX_FILE_SIZE_MB', '400'],
    ['FRESHCLAM_PRIVATE_MIRROR', 'http://mirror.example;reboot'],
  ] as const) {
    test(`a bad clamd setting (${variable}=${value}): exit 2 and one line naming it`, async () => {
      const result = await oneOff(IMAGES.clamd, ['-e', `${variable}=${value}`]);
      assert.equal(result.code, 2, result.stderr);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, new RegExp(`^clamd-entrypoint: configuration error: ${variable}: `));
    });
  }

  test('FRESHCLAM=off with no database and no extra signatures: exit 2, clamd not started', async () => {
    const result = await oneOff(IMAGES.clamd, ['-e', 'FRESHCLAM=off']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr.trim(),
      /^clamd-entrypoint: configuration error: FRESHCLAM: is off and \/var\/lib\/clamav holds no database/,
    );
  });

  // The image writes clamd.conf with bash, from a block generated from src/local/clamd-config.ts
  // (test/unit/clamd-config.test.ts runs the same script on the host). Here, inside the image:
  // the same environment gives exactly renderClamdConfig's text.
  for (const { env, ...settings } of CLAMD_IMAGE_CASES) {
    test(`clamd.conf from the environment ${JSON.stringify(env)} is renderClamdConfig's`, async () => {
      // A decimal is rounded to bytes as the worker rounds MAX_FILE_SIZE, so the same number on both sides agrees.
      const megabytes = env['CLAMD_STREAM_MAX_LENGTH_MB'];
      if (megabytes)
        assert.equal(loadConfig({ ...WORKER_MINIMUM, MAX_FILE_SIZE: megabytes }).clamd.maxFileSizeBytes, settings.streamMaxBytes);
      const result = await oneOff(
        IMAGES.clamd,
        Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
        ['print-config'],
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, imageClamdConfig(settings));
    });
  }

  test('freshclam fetches from FRESHCLAM_PRIVATE_MIRROR before clamd starts, retrying an empty mirror until its deadline; then clamd does not start (exit 1, one error with advice)', async () => {
    // A mirror with no databases, on 127.0.0.1: freshclam must ask it (and nothing else) and give up.
    const requests: string[] = [];
    const mirror: Server = createServer((request, response) => {
      requests.push(request.url ?? '');
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => mirror.listen(0, '127.0.0.1', resolve));
    const port = (mirror.address() as { port: number }).port;
    try {
      const result = await oneOff(IMAGES.clamd, [
        '-e',
        `FRESHCLAM_PRIVATE_MIRROR=http://127.0.0.1:${port}`,
        '-e',
        `CLAMD_TCP_PORT=${await freePort()}`,
        // A deployment waits up to 240 s (inside the 300 s start period); 14 s here (freshclam itself tries for about 10 s).
        '-e',
        'FRESHCLAM_FIRST_DOWNLOAD_TIMEOUT=14',
        '-e',
        'FRESHCLAM_FIRST_DOWNLOAD_INTERVAL=2',
      ]);
      assert.equal(result.code, 1, result.stderr);
      const retries = result.stderr
        .split('\n')
        .filter((line) => /could not download the database yet \(exit \d+, attempt \d+\); trying again in 2 s/.test(line));
      assert.ok(retries.length >= 1, `the empty mirror is asked again:\n${result.stderr}`);
      assert.equal(result.stderr.split('\n').filter((line) => /clamd cannot start without one/.test(line)).length, 1, 'one final error');
      assert.ok(
        requests.some((path) => /^\/daily\.c[lv]d$/.test(path)),
        `requests to the mirror: ${requests.join(', ')}`,
      );
      assert.match(
        result.stderr,
        /freshclam could not download the database \(exit \d+; \d+ attempt\(s\) in 14 s, FRESHCLAM_FIRST_DOWNLOAD_TIMEOUT\).*FRESHCLAM_PRIVATE_MIRROR/s,
      );
      assert.doesNotMatch(result.stdout + result.stderr, /Self checking every/, 'clamd must not have started');
    } finally {
      await new Promise<void>((resolve) => mirror.close(() => resolve()));
    }
  });

  /** A folder served over HTTP on 127.0.0.1, as the definitions mirror serves its custom/ prefix; every request is recorded. */
  async function serveFolder(dir: string | undefined): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
    const requests: string[] = [];
    const server: Server = createServer((request, response) => {
      const path = request.url ?? '';
      requests.push(path);
      const name = path.replace(/^\/custom\//, '');
      if (dir === undefined || !/^[A-Za-z0-9._-]+$/.test(name)) return void response.writeHead(404).end();
      // Read first: a file the folder does not hold is a 404, as from a real mirror (the
      // headers must not be sent before the read can fail).
      let body: Buffer;
      try {
        body = readFileSync(join(dir, name));
      } catch {
        return void response.writeHead(404).end();
      }
      response.writeHead(200, { 'content-type': 'text/plain' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}/custom/`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  test('freshclam fetches the detection set from FRESHCLAM_CUSTOM_DATABASES_URL before clamd starts, and clamd matches with it', async (t) => {
    // A set published by the real publish path (bucketscan signatures publish), served as the mirror serves it.
    const dir = mkdtempSync(join(tmpdir(), 'bucketscan-image-set-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const target = directoryTarget(dir);
    const sources = await readSourceDirectory(CUSTOM_SIGNATURES);
    const change = { kind: 'signatures' as const, sources: sources.files, signatures: checkSourceFiles(sources.files).signatures };
    const current = await readPublished(target);
    await writePublication(target, current, planPublication(current, change, 'image-test', new Date()), undefined);
    const mirror = await serveFolder(dir);
    t.after(() => mirror.close());

    const port = await freePort();
    const clamd = startContainer(IMAGES.clamd, {
      name: uniqueName('clamd-custom'),
      env: {
        FRESHCLAM: 'custom',
        FRESHCLAM_CUSTOM_DATABASES_URL: mirror.url,
        CLAMD_TCP_PORT: String(port),
        CLAMD_EXTRA_SIGNATURES_DIR: '/signatures',
      },
      args: ['--no-healthcheck', '--volume', `${SIGNATURES}:/signatures:ro`],
    });
    t.after(() => clamd.remove());
    const client = new ClamdClient({ address: { kind: 'tcp', host: '127.0.0.1', port }, connectTimeoutMs: 1_000, idleTimeoutMs: 5_000 });
    await waitFor(
      'clamd with the custom databases to answer PING',
      async () => {
        if (clamd.child.exitCode !== null) throw new Error(`the clamd container exited${tail(clamd)}`);
        await client.ping();
        return true;
      },
      60_000,
    );
    assert.ok(mirror.requests.includes('/custom/bucketscan-custom.ndb'), `requests: ${mirror.requests.join(', ')}`);
    assert.ok(mirror.requests.includes('/custom/bucketscan-allow.ign2'), `requests: ${mirror.requests.join(', ')}`);
    const verdict = await client.scan(
      (async function* () {
        yield Buffer.from(`an invoice with ${CUSTOM_NDB_MARKER} inside`);
      })(),
    );
    assert.deepEqual(verdict, { status: 'infected', signature: CUSTOM_NDB_SIGNATURE });
  });

  test('with FRESHCLAM_CUSTOM_DATABASES_URL naming a folder that holds no set, clamd does not start (exit 1, with advice)', async () => {
    const mirror = await serveFolder(undefined);
    try {
      const result = await oneOff(IMAGES.clamd, [
        '-e',
        'FRESHCLAM=custom',
        '-e',
        `FRESHCLAM_CUSTOM_DATABASES_URL=${mirror.url}`,
        '-e',
        `CLAMD_TCP_PORT=${await freePort()}`,
        '-e',
        'CLAMD_EXTRA_SIGNATURES_DIR=/signatures',
        '--volume',
        `${SIGNATURES}:/signatures:ro`,
      ]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        /freshclam could not fetch http:\/\/127\.0\.0\.1:\d+\/custom\/bucketscan-custom\.\w+ .*Publish one there/s,
      );
      assert.doesNotMatch(result.stdout + result.stderr, /Self checking every/, 'clamd must not have started');
    } finally {
      await mirror.close();
    }
  });

  test('when clamd dies, the clamd container exits 1 so that it is restarted', async (t) => {
    const port = await freePort();
    const clamd = startContainer(IMAGES.clamd, {
      name: uniqueName('clamd-crash'),
      env: { FRESHCLAM: 'off', CLAMD_TCP_PORT: String(port), CLAMD_EXTRA_SIGNATURES_DIR: '/signatures' },
      args: ['--no-healthcheck', '--volume', `${SIGNATURES}:/signatures:ro`],
    });
    t.after(() => clamd.remove());
    const client = new ClamdClient({ address: { kind: 'tcp', host: '127.0.0.1', port }, connectTimeoutMs: 1_000, idleTimeoutMs: 5_000 });
    await waitFor(
      'clamd to answer PING',
      async () => {
        if (clamd.child.exitCode !== null) throw new Error(`the clamd container exited${tail(clamd)}`);
        await client.ping();
        return true;
      },
      60_000,
    );
    const pid = await podmanOk(['exec', clamd.name, 'ps', '-C', 'clamd', '-o', 'pid=']);
    assert.match(pid, /^\d+$/, `one clamd process: ${pid}`);
    await podmanOk(['exec', clamd.name, 'kill', '-KILL', pid]);
    assert.equal(await clamd.exit, 1, tail(clamd));
    assert.ok(
      clamd.lines.some((line) => /clamd-entrypoint: clamd exited unexpectedly \(status 137\)/.test(line)),
      tail(clamd),
    );
  });

  test('the emulator image serves the buckets and queues the worker expects', async (t) => {
    const port = await freePort();
    const emulator = startContainer(IMAGES.emulator, {
      name: uniqueName('emulator'),
      env: { EMULATOR_PORT: String(port), EMULATOR_BIND_HOST: '127.0.0.1' },
      args: ['--no-healthcheck'],
    });
    t.after(() => emulator.remove());
    const sqs = new SQSClient({ region: REGION, endpoint: `http://127.0.0.1:${port}`, credentials: CREDENTIALS });
    t.after(() => sqs.destroy());
    const urls = await waitFor('the emulator container to answer', async () => (await sqs.send(new ListQueuesCommand({}))).QueueUrls);
    const names = urls.map((url) => url.split('/').pop()).sort();
    assert.deepEqual(
      names,
      [RESOURCES.validationQueueName, RESOURCES.notificationQueueName, RESOURCES.inboundQueueName, RESOURCES.deadLetterQueueName].sort(),
    );
    await podmanOk(['stop', '--time', '30', emulator.name]);
    assert.equal(await emulator.exit, 0, tail(emulator));
  });
});

describe('the clamd and worker containers against the emulator', () => {
  let emulator: Emulator;
  let s3: S3Client;
  let sqs: SQSClient;
  let clamd: Container;
  let worker: Container;
  let clamdPort: number;
  let healthPort: number;

  before(async () => {
    emulator = await startEmulator({ port: 0, resources: RESOURCES, logger: createLogger('warn', 'emulator') });
    s3 = new S3Client({ region: REGION, endpoint: emulator.endpoint, forcePathStyle: true, credentials: CREDENTIALS });
    sqs = new SQSClient({ region: REGION, endpoint: emulator.endpoint, credentials: CREDENTIALS });

    // A free port is free now, not reserved: should clamd lose it, it exits, and another is tried.
    for (let attempt = 1; ; attempt++) {
      clamdPort = await freePort();
      clamd = startContainer(IMAGES.clamd, {
        name: uniqueName('clamd'),
        env: {
          FRESHCLAM: 'off',
          CLAMD_TCP_ADDR: '127.0.0.1',
          CLAMD_TCP_PORT: String(clamdPort),
          CLAMD_MAX_THREADS: '4',
          CLAMD_EXTRA_SIGNATURES_DIR: '/signatures',
        },
        args: ['--volume', `${SIGNATURES}:/signatures:ro`],
      });
      const client = new ClamdClient({
        address: { kind: 'tcp', host: '127.0.0.1', port: clamdPort },
        connectTimeoutMs: 1_000,
        idleTimeoutMs: 5_000,
      });
      const ready = await waitFor(
        'the clamd container to answer PING',
        async () => {
          if (clamd.child.exitCode !== null) return 'exited';
          await client.ping();
          return 'ready';
        },
        60_000,
      ).catch((error: Error) => {
        throw new Error(`${error.message}${tail(clamd)}`);
      });
      if (ready === 'ready') break;
      await clamd.remove();
      if (attempt >= 3 || !clamd.lines.some((line) => /bind|address already in use/i.test(line))) {
        throw new Error(`the clamd container exited before answering PING${tail(clamd)}`);
      }
    }

    healthPort = await freePort();
    worker = startContainer(IMAGES.worker, {
      name: uniqueName('worker'),
      env: {
        ...emulatorEnv(emulator),
        CLAMD_HOST: '127.0.0.1',
        CLAMD_PORT: String(clamdPort),
        HEALTH_PORT: String(healthPort),
        RECEIVE_WAIT_TIME: '1',
        CONCURRENCY: '2',
        // Long, so a message handed back at shutdown is told apart from one that timed out.
        VISIBILITY_TIMEOUT: '600',
        SHUTDOWN_TIMEOUT: '3',
        LOG_LEVEL: 'debug',
      },
    });
    await waitFor(
      'the worker container to start',
      () => {
        if (worker.child.exitCode !== null) throw new Error(`the worker container exited (${worker.child.exitCode})${tail(worker)}`);
        return worker.json.find((line) => line['msg'] === 'worker started');
      },
      60_000,
    );
  });

  after(async () => {
    await worker?.remove();
    await clamd?.remove();
    s3?.destroy();
    sqs?.destroy();
    await emulator?.stop();
  });

  const put = (key: string, body: Buffer | string) =>
    s3.send(new PutObjectCommand({ Bucket: RESOURCES.unprocessedBucket, Key: key, Body: body }));

  const received: Record<string, Message[]> = {};
  async function message(queueUrl: string, predicate: (message: Message) => boolean): Promise<Message> {
    return waitFor(`a matching message on ${queueUrl}`, async () => {
      const response = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['All'] }),
      );
      for (const each of response.Messages ?? []) {
        (received[queueUrl] ??= []).push(each);
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: each.ReceiptHandle }));
      }
      return (received[queueUrl] ?? []).find(predicate);
    });
  }

  const keyOf = (message: Message) =>
    (JSON.parse(message.Body ?? '{}') as { Records?: Array<{ s3?: { object?: { key?: string } } }> }).Records?.[0]?.s3?.object?.key;

  test('both containers run as a non-root user', async () => {
    assert.equal(await podmanOk(['exec', worker.name, 'id', '-u']), '1000');
    assert.equal(await podmanOk(['exec', clamd.name, 'id', '-u']), '100');
    // Every process in them, not only the one exec starts.
    for (const container of [worker, clamd]) {
      const users = (await podmanOk(['top', container.name, 'user']))
        .split('\n')
        .slice(1)
        .map((user) => user.trim());
      assert.ok(users.length > 0 && !users.includes('root') && !users.includes('0'), `${container.name} runs: ${users.join(', ')}`);
    }
  });

  test('the health checks pass', async () => {
    for (const container of [worker, clamd]) {
      const result = await podman(['healthcheck', 'run', container.name]);
      assert.equal(result.code, 0, `${container.name}: ${result.stdout}${result.stderr}`);
    }
    assert.equal(await inspect(clamd.name, '{{.State.Health.Status}}'), 'healthy');
    assert.equal(await inspect(worker.name, '{{.State.Health.Status}}'), 'healthy');
  });

  test('the clamd health check fails when nothing answers PONG: no listener, silence, or another reply', async () => {
    // Listeners on 127.0.0.1 that accept and then stay silent or answer something else.
    const sockets = new Set<Socket>();
    const track = (socket: Socket) => sockets.add(socket.on('error', () => undefined)) && socket;
    const silent = createNetServer((socket) => void track(socket));
    const wrong = createNetServer((socket) => void track(socket).end('UNKNOWN COMMAND\0'));
    for (const server of [silent, wrong]) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const portOf = (server: NetServer) => (server.address() as { port: number }).port;
    try {
      const cases: Array<[string, number, RegExp]> = [
        ['no listener', await freePort(), /does not accept connections/],
        ['silence', portOf(silent), /answered "nothing" instead of PONG/],
        ['another reply', portOf(wrong), /answered "UNKNOWN COMMAND" instead of PONG/],
      ];
      for (const [what, port, message] of cases) {
        const result = await podman(['exec', '--env', `CLAMD_TCP_PORT=${port}`, clamd.name, '/usr/local/bin/clamd-healthcheck']);
        assert.equal(result.code, 1, `${what}: ${result.stdout}${result.stderr}`);
        assert.match(result.stdout, message, what);
      }
    } finally {
      // close() stops listening at once; its callback would wait for connections that,
      // once destroyed, no longer hold the event loop.
      for (const socket of sockets) socket.destroy();
      for (const server of [silent, wrong]) server.close();
    }
  });

  test('a clean file is forwarded to the validation queue', async () => {
    const key = `${randomUUID()}/clean.txt`;
    await put(key, 'nothing to see here\n');
    const forwarded = await message(emulator.queueUrls.validation, (m) => keyOf(m) === key);
    assert.equal(forwarded.MessageAttributes?.['status']?.StringValue, 'CLEAN');
  });

  test('EICAR is quarantined with its report, and the report is published', async () => {
    const key = `${randomUUID()}/eicar.com`;
    await put(key, eicar());
    const notification = await message(emulator.queueUrls.notification, (m) => m.Body?.includes(key) === true);
    const published = JSON.parse((JSON.parse(notification.Body!) as { Message: string }).Message) as Record<string, unknown>;
    assert.equal(published['status'], 'INFECTED');
    assert.equal(published['signature'], EICAR_SIGNATURE);

    const report = JSON.parse(await text(RESOURCES.quarantineBucket, `${key}.report.json`)) as Record<string, unknown>;
    assert.equal(report['key'], key);
    assert.equal(report['status'], 'INFECTED');
    assert.equal(report['signature'], EICAR_SIGNATURE);
    assert.equal(await text(RESOURCES.quarantineBucket, key), eicar().toString('latin1'));
    assert.ok(!(received[emulator.queueUrls.validation] ?? []).some((m) => keyOf(m) === key), 'never forwarded');
  });

  test('SIGTERM while a scan is in progress: the message goes back to the queue at once and the worker exits 0', async () => {
    const inbound = () => emulator.server.inspectQueue(RESOURCES.inboundQueueName)!.messages;
    // A frozen clamd accepts the connection (the kernel does) and never answers, so the
    // scan stays in progress for as long as the test needs.
    await podmanOk(['pause', clamd.name]);
    try {
      const key = `${randomUUID()}/slow.bin`;
      await put(key, 'scanned while clamd is frozen\n');
      await waitFor('the worker to have the message in work', async () => {
        const readyz = (await (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).json()) as { inFlight?: number };
        return inbound().inflight.length === 1 && readyz.inFlight === 1 ? true : undefined;
      });

      // podman stop sends the image's STOPSIGNAL (SIGTERM) and would SIGKILL after 60 s.
      await podmanOk(['stop', '--time', '60', worker.name]);
      // podman run's exit code is the container's.
      assert.equal(await worker.exit, 0, tail(worker));

      const state = inbound();
      assert.equal(state.inflight.length, 0, 'handed back, not left to its 600 s visibility timeout');
      assert.equal(state.ready.length, 1, 'visible again for another worker');
      assert.ok(state.ready[0]!.body.includes(key));
      assert.ok(
        worker.json.some((line) => line['msg'] === 'shutdown timeout reached: aborting work in progress and returning it to the queue'),
        tail(worker),
      );
      assert.ok(!worker.json.some((line) => line['key'] === key && ['clean', 'infected', 'unscannable'].includes(String(line['outcome']))));
    } finally {
      await podman(['unpause', clamd.name]);
    }
  });

  test('clamd stops on SIGTERM and exits 0', async () => {
    await podmanOk(['stop', '--time', '60', clamd.name]);
    assert.equal(await clamd.exit, 0, tail(clamd));
    assert.ok(
      clamd.lines.some((line) => /clamd-entrypoint: clamd stopped \(status 0\)/.test(line)),
      tail(clamd),
    );
  });

  async function text(bucket: string, key: string): Promise<string> {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return response.Body!.transformToString('latin1');
  }
});
