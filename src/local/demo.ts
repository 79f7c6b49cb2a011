import { randomUUID } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config/config.ts';
import type { Emulator } from './emulator.ts';
import { eicar } from './eicar.ts';
import { sleep } from '../shared/time.ts';

const DEADLINE_MS = 120_000;

async function exists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch {
    return false;
  }
}

/** Messages still on a queue (ready or in flight) whose body mentions `needle`; looks without consuming. */
function onQueue(emulator: Emulator, queue: string, needle: string): number {
  const state = emulator.server.inspectQueue(queue);
  if (!state) return 0;
  const all = [...state.messages.ready, ...state.messages.delayed, ...state.messages.inflight.map((entry) => entry.message)];
  return all.filter((message) => message.body.includes(needle)).length;
}

/**
 * Uploads a clean file and the EICAR test file through S3, as any client would,
 * then reports where each one ended up. Reads the queues without consuming them,
 * so the messages are still there for the user to receive.
 */
export async function runDemo(config: Config, emulator: Emulator, signal: AbortSignal): Promise<string[]> {
  const s3 = new S3Client({
    region: config.aws.s3.region,
    endpoint: emulator.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const guid = randomUUID();
  const cleanKey = `${config.source.prefix}${guid}/hello.txt`;
  const infectedKey = `${config.source.prefix}${guid}/eicar.com`;
  const quarantined = `${config.source.quarantine.prefix}${infectedKey}`;
  const queues = new URL(emulator.queueUrls.validation).pathname.split('/').pop()!;
  const inbox = new URL(emulator.queueUrls.notification).pathname.split('/').pop()!;
  try {
    await s3.send(new PutObjectCommand({ Bucket: config.source.bucket, Key: cleanKey, Body: 'Hello from the bucketscan demo.\n' }));
    await s3.send(new PutObjectCommand({ Bucket: config.source.bucket, Key: infectedKey, Body: eicar() }));
    const deadline = Date.now() + DEADLINE_MS;
    let forwarded = false;
    let isolated = false;
    while (!(forwarded && isolated) && Date.now() < deadline && !signal.aborted) {
      forwarded ||= onQueue(emulator, queues, guid) > 0;
      isolated ||=
        (await exists(s3, config.source.quarantine.bucket, `${quarantined}.report.json`)) &&
        !(await exists(s3, config.source.bucket, infectedKey)) &&
        onQueue(emulator, inbox, guid) > 0;
      if (!(forwarded && isolated)) await sleep(200, signal);
    }
    const endpoint = `--endpoint-url ${emulator.endpoint}`;
    return [
      '',
      'Demo results:',
      forwarded
        ? `  clean  s3://${config.source.bucket}/${cleanKey}\n         -> stayed in place; its event was forwarded to ${emulator.queueUrls.validation}`
        : `  clean  s3://${config.source.bucket}/${cleanKey}\n         -> NOT forwarded yet (see the worker log)`,
      isolated
        ? `  EICAR  s3://${config.source.bucket}/${infectedKey}\n         -> moved to s3://${config.source.quarantine.bucket}/${quarantined}\n         -> report s3://${config.source.quarantine.bucket}/${quarantined}.report.json\n         -> notification published to ${emulator.topicArn} (readable on ${emulator.queueUrls.notification})`
        : `  EICAR  s3://${config.source.bucket}/${infectedKey}\n         -> NOT quarantined yet (see the worker log)`,
      `  Read the report:  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws ${endpoint} s3 cp s3://${config.source.quarantine.bucket}/${quarantined}.report.json -`,
    ];
  } finally {
    s3.destroy();
  }
}
