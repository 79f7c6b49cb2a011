/**
 * The benchmark's clamd: the configuration the local stack generates
 * (renderClamdConfig), plus `DisableCache yes`.
 *
 * clamd remembers the MD5 of every clean stream and answers a repeat from that
 * cache without scanning it. The benchmark scans the same bytes more than once
 * (bare clamd, then the worker; the small files at two concurrencies), so with the
 * cache on every repeat would measure an MD5 instead of a scan: a 64 MiB random
 * buffer that takes 10 s to scan against the large signature set comes back in
 * 0.3 s the second time. Real uploads are almost all distinct, so the
 * cache-off figures are the ones that apply to them.
 *
 * startClamd (src/local/clamd-process.ts) takes no extra configuration lines, so
 * this starts clamd itself, the same way: a private work directory, a database
 * directory with copies of the chosen signature files (and links to an official
 * database when asked), clamd in the foreground, ready once it answers PING.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { renderClamdConfig, type ClamdScanLimits } from '../src/local/clamd-process.ts';
import { ClamdClient, type ClamdAddress } from '../src/scan/clamd-client.ts';
import { freePort } from '../src/local/free-port.ts';

const SIGNATURE_EXTENSIONS = new Set(['.hdb', '.hsb', '.ndb', '.ldb', '.mdb', '.msb', '.cdb', '.fp', '.sfp', '.ign2']);
const OFFICIAL_EXTENSIONS = new Set(['.cvd', '.cld', '.cud']);

export interface BenchClamdOptions {
  workDir: string;
  /** Plain-text signature files to copy into the database directory. */
  signaturesDir: string;
  /** Link the official databases (.cvd/.cld/.cud) found here as well. */
  officialDir?: string;
  streamMaxBytes: number;
  maxThreads: number;
  limits?: Partial<ClamdScanLimits>;
  readyTimeoutMs?: number;
}

export interface BenchClamd {
  address: ClamdAddress;
  pid: number;
  /** From spawn to the first PONG: mostly the database load. */
  loadMs: number;
  /** Signature files in the database directory. */
  databases: string[];
  stop(): Promise<void>;
}

export async function startBenchClamd(options: BenchClamdOptions): Promise<BenchClamd> {
  const workDir = resolve(options.workDir);
  const databaseDir = join(workDir, 'database');
  const temporaryDir = join(workDir, 'tmp');
  mkdirSync(databaseDir, { recursive: true });
  mkdirSync(temporaryDir, { recursive: true });
  const databases: string[] = [];
  for (const name of readdirSync(options.signaturesDir)) {
    if (!SIGNATURE_EXTENSIONS.has(extname(name).toLowerCase())) continue;
    copyFileSync(join(options.signaturesDir, name), join(databaseDir, name));
    databases.push(name);
  }
  if (options.officialDir) {
    for (const name of readdirSync(options.officialDir)) {
      if (!OFFICIAL_EXTENSIONS.has(extname(name).toLowerCase())) continue;
      symlinkSync(join(resolve(options.officialDir), name), join(databaseDir, name));
      databases.push(name);
    }
  }

  const address: ClamdAddress = { kind: 'tcp', host: '127.0.0.1', port: await freePort() };
  const configPath = join(workDir, 'clamd.conf');
  const config = renderClamdConfig({
    address,
    databaseDir,
    temporaryDir,
    streamMaxBytes: options.streamMaxBytes,
    maxThreads: options.maxThreads,
    ...(options.limits ? { limits: options.limits } : {}),
  });
  writeFileSync(
    configPath,
    `${config}\n# Benchmark only (bench/clamd.ts): every scan must be a real scan, not a hit in the clean-file cache.\nDisableCache yes\n`,
  );

  const started = performance.now();
  const child = spawn('/usr/sbin/clamd', [`--config-file=${configPath}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const remember = (chunk: Buffer) => {
    tail.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    tail.splice(0, Math.max(0, tail.length - 40));
  };
  child.stdout.on('data', remember);
  child.stderr.on('data', remember);
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  let exited = false;
  const exit = new Promise<void>((resolveExit) => {
    child.once('close', () => {
      exited = true;
      process.off('exit', killOnExit);
      resolveExit();
    });
    child.once('error', () => {
      if (child.pid === undefined) {
        exited = true;
        resolveExit();
      }
    });
  });

  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exit;
    clearTimeout(timer);
  };

  const client = new ClamdClient({ address, connectTimeoutMs: 1_000, idleTimeoutMs: 5_000 });
  const deadline = Date.now() + (options.readyTimeoutMs ?? 600_000);
  for (;;) {
    if (exited) throw new Error(`clamd exited before answering PING:\n${tail.join('\n')}`);
    try {
      await client.ping();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`clamd did not answer PING in time:\n${tail.join('\n')}`);
      }
      await delay(100);
    }
  }
  return { address, pid: child.pid ?? -1, loadMs: performance.now() - started, databases, stop };
}
