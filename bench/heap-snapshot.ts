/**
 * What is in the idle worker's V8 heap (`--heap-snapshot`): the start-up phase
 * starts its first worker with `--heapsnapshot-signal=SIGUSR2`, signals it once
 * it has been idle, and this summarizes the snapshot Node writes: self sizes by
 * V8's node type (compiled code, strings, objects, closures...) and the largest
 * groups by constructor or name. The snapshot file itself stays in the run
 * directory (`--keep`) for Chrome DevTools.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { round } from './proc.ts';
import type { HeapSnapshotSummary } from './results.ts';

interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export function summarizeHeapSnapshot(raw: RawSnapshot, top = 15): Omit<HeapSnapshotSummary, 'file'> {
  const fields = raw.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = raw.snapshot.meta.node_types[0];
  const byType = new Map<string, { bytes: number; count: number }>();
  const byName = new Map<string, { type: string; bytes: number; count: number }>();
  let total = 0;
  for (let i = 0; i < raw.nodes.length; i += width) {
    const type = types[raw.nodes[i + typeAt]!] ?? 'unknown';
    const size = raw.nodes[i + sizeAt]!;
    total += size;
    const t = byType.get(type) ?? { bytes: 0, count: 0 };
    t.bytes += size;
    t.count += 1;
    byType.set(type, t);
    // Strings are grouped as one: their names are their contents.
    const name =
      type === 'string' || type === 'concatenated string' || type === 'sliced string'
        ? '(strings)'
        : (raw.strings[raw.nodes[i + nameAt]!] ?? '?').slice(0, 80);
    const key = `${type}\u0000${name}`;
    const n = byName.get(key) ?? { type, bytes: 0, count: 0 };
    n.bytes += size;
    n.count += 1;
    byName.set(key, n);
  }
  const mib = (bytes: number) => round(bytes / 1024 / 1024, 2);
  return {
    totalMiB: mib(total),
    nodes: raw.nodes.length / width,
    byType: [...byType.entries()].sort((a, b) => b[1].bytes - a[1].bytes).map(([type, v]) => ({ type, mib: mib(v.bytes), count: v.count })),
    largest: [...byName.entries()]
      .sort((a, b) => b[1].bytes - a[1].bytes)
      .slice(0, top)
      .map(([key, v]) => ({ name: key.split('\u0000')[1] ?? '', type: v.type, mib: mib(v.bytes), count: v.count })),
  };
}

/** Signals `pid` (started with --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=dir) and summarizes the snapshot it writes. */
export async function takeHeapSnapshot(pid: number, dir: string, timeoutMs = 60_000): Promise<HeapSnapshotSummary> {
  const existing = new Set(readdirSync(dir).filter((name) => name.endsWith('.heapsnapshot')));
  process.kill(pid, 'SIGUSR2');
  const deadline = performance.now() + timeoutMs;
  let file: string | undefined;
  let lastSize = -1;
  // Node writes the file from the worker's main thread; it is complete once its
  // size has stopped changing and it parses.
  while (performance.now() < deadline) {
    await delay(250);
    file ??= readdirSync(dir).find((name) => name.endsWith('.heapsnapshot') && !existing.has(name));
    if (!file) continue;
    const size = statSync(join(dir, file)).size;
    if (size > 0 && size === lastSize) {
      try {
        const raw = JSON.parse(readFileSync(join(dir, file), 'utf8')) as RawSnapshot;
        return { file: join(dir, file), ...summarizeHeapSnapshot(raw) };
      } catch {
        // Not complete yet.
      }
    }
    lastSize = size;
  }
  throw new Error(`no complete heap snapshot from pid ${pid} in ${dir} within ${timeoutMs / 1000} s`);
}
