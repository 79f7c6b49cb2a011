/**
 * The worker's CPU floor (bench/floor-client.ts, a process of its own): what a
 * Node.js process with none of bucketscan's code spends streaming the large
 * objects from the emulator into clamd, per small GET, and per small INSTREAM
 * over a kept session. The worker's own figures are judged against it.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { BenchClamd } from './clamd.ts';
import { benchKey, randomBuffer } from './data.ts';
import { BENCH_RESOURCES } from './emulator.ts';
import { startLatencyProxy } from './network.ts';
import type { Stack } from './phases.ts';
import { round } from './proc.ts';
import { makeCertificate } from '../harness/certificate.ts';
import { startTlsProxy } from './tls-proxy.ts';

const run = promisify(execFile);
const CLIENT = fileURLToPath(new URL('./floor-client.ts', import.meta.url));

export interface Floor {
  msPerMiB: number;
  /** The same streaming on a plain socket with one reused read buffer, no HTTP client (bench/floor-client.ts). */
  rawMsPerMiB: number;
  /** Of it, system time: the kernel's socket work. */
  rawSystemMsPerMiB: number;
  /** The same plain socket's streaming through TLS (a TLS-terminating relay in front of the emulator). */
  rawTlsMsPerMiB: number;
  /** The TLS suite that relay negotiated, and what its bulk cipher alone costs per MiB decrypted. */
  tlsCipher: string;
  decryptMsPerMiB: number;
  msPerRequest: number;
  /** The same GETs through a proxy holding each answer LATENCY_MS, the worker's slots at once. */
  msPerRequestAtLatency: number;
  /** The same through TLS (node:https to a TLS-terminating proxy). */
  msPerRequestAtLatencyTls: number;
  msPerInstream: number;
}

/** The round trip of the latency-matched request figure. */
const LATENCY_MS = 20;

export async function measureFloor(stack: Stack, clamd: BenchClamd, largeKeys: string[], parallel: number): Promise<Floor> {
  if (clamd.address.kind !== 'tcp') throw new Error('the benchmark clamd listens on TCP');
  const smallKey = benchKey('floor-small.bin');
  await stack.s3.send(new PutObjectCommand({ Bucket: BENCH_RESOURCES.unprocessedBucket, Key: smallKey, Body: randomBuffer(20 * 1024) }));
  const input = {
    endpoint: stack.emulator.endpoint,
    bucket: BENCH_RESOURCES.unprocessedBucket,
    largeKeys,
    smallKey,
    smallRequests: stack.options.smoke ? 50 : 2000,
    parallel,
    clamd: { host: clamd.address.host, port: clamd.address.port },
  };
  const certificate = makeCertificate(stack.runDir);
  const proxy = await startLatencyProxy(stack.emulator.endpoint, LATENCY_MS);
  const tlsProxy = await startLatencyProxy(stack.emulator.endpoint, LATENCY_MS, undefined, {
    key: readFileSync(certificate.key),
    cert: readFileSync(certificate.cert),
  });
  // A directory of its own: its certificate must not overwrite the latency proxy's.
  const relayDir = join(stack.runDir, 'floor-tls');
  mkdirSync(relayDir, { recursive: true });
  const relay = await startTlsProxy(stack.emulator.endpoint, relayDir);
  let floor: Floor;
  try {
    const latency = { endpoint: proxy.endpoint, parallel: stack.options.smallConcurrency, requests: stack.options.smoke ? 50 : 1000 };
    const latencyTls = { endpoint: tlsProxy.endpoint, ca: certificate.cert };
    const rawTls = { endpoint: relay.endpoint, ca: relay.caFile };
    const { stdout, stderr } = await run(process.execPath, [CLIENT, JSON.stringify({ ...input, latency, latencyTls, rawTls })], {
      maxBuffer: 1024 * 1024,
    });
    if (stdout.trim() === '')
      throw new Error(`the floor client printed no figures${stderr ? `: ${stderr.trim()}` : ' (it ended with work still pending)'}`);
    floor = JSON.parse(stdout) as Floor;
  } finally {
    await proxy.stop();
    await tlsProxy.stop();
    await relay.stop();
  }
  return {
    msPerMiB: round(floor.msPerMiB, 3),
    rawMsPerMiB: round(floor.rawMsPerMiB, 3),
    rawSystemMsPerMiB: round(floor.rawSystemMsPerMiB, 3),
    rawTlsMsPerMiB: round(floor.rawTlsMsPerMiB, 3),
    tlsCipher: floor.tlsCipher,
    decryptMsPerMiB: round(floor.decryptMsPerMiB, 3),
    msPerRequest: round(floor.msPerRequest, 3),
    msPerRequestAtLatency: round(floor.msPerRequestAtLatency, 3),
    msPerRequestAtLatencyTls: round(floor.msPerRequestAtLatencyTls, 3),
    msPerInstream: round(floor.msPerInstream, 3),
  };
}
