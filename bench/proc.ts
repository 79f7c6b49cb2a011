/** What Linux says about a process: memory high-water mark and CPU time (/proc). */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, totalmem, release, platform } from 'node:os';
import type { Machine } from './results.ts';

const MIB = 1024 * 1024;

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export interface Memory {
  /** VmHWM: the largest resident set the process has had since it started, in MiB. */
  peakRssMiB: number;
  /** VmRSS: its resident set now, in MiB. */
  rssMiB: number;
}

export function memoryOf(pid: number): Memory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { peakRssMiB: (kib('VmHWM') * 1024) / MIB, rssMiB: (kib('VmRSS') * 1024) / MIB };
  } catch {
    return undefined;
  }
}

export interface MemoryMap {
  rssMiB: number;
  /** Anonymous memory: the V8 heap, malloc, stacks: the process's own. */
  anonymousMiB: number;
  /** File-backed pages (the node binary's code, shared libraries): clean, shared with every process that maps the same file. */
  fileMiB: number;
  /** The largest mappings by resident size, grouped by file ("[anon]" for anonymous ones). */
  mappings: Array<{ name: string; rssMiB: number }>;
}

/** Where a process's resident set is, from /proc/<pid>/smaps. */
export function memoryMapOf(pid: number, top = 8): MemoryMap | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  const byName = new Map<string, number>();
  let current = '[anon]';
  let rss = 0;
  let anonymous = 0;
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+\s+\S+\s+\S+\s+\S+\s+\d+\s*(.*)$/.exec(line);
    if (header) {
      current = header[1] || '[anon]';
      continue;
    }
    const field = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (!field) continue;
    const kib = Number(field[2]);
    if (field[1] === 'Rss') {
      rss += kib;
      byName.set(current, (byName.get(current) ?? 0) + kib);
    } else {
      anonymous += kib;
    }
  }
  const mappings = [...byName.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, kib]) => ({ name, rssMiB: round(kib / 1024, 1) }));
  return { rssMiB: round(rss / 1024, 1), anonymousMiB: round(anonymous / 1024, 1), fileMiB: round((rss - anonymous) / 1024, 1), mappings };
}

/** Open file descriptors of a process (entries of /proc/<pid>/fd: files, sockets, pipes). */
export function openFdsOf(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** Direct children of a process (every thread's /proc children list); undefined where the kernel does not say. */
export function childrenOf(pid: number): number[] | undefined {
  try {
    const children = new Set<number>();
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/)) {
        if (child) children.add(Number(child));
      }
    }
    return [...children];
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds used so far by the process (all its threads). */
export function cpuSecondsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; the fields after it are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / clockTicks();
  } catch {
    return undefined;
  }
}

/** CPU seconds of several processes between two moments. */
export class CpuMeter {
  readonly #start = new Map<string, number>();
  readonly #pids: Record<string, number>;

  constructor(pids: Record<string, number>) {
    this.#pids = pids;
    for (const [name, pid] of Object.entries(pids)) this.#start.set(name, cpuSecondsOf(pid) ?? 0);
  }

  /** Seconds used by each process since the meter was made (bench: this process). */
  read(): Record<string, number> {
    const result: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.#pids)) {
      const now = cpuSecondsOf(pid);
      if (now !== undefined) result[name] = round(now - (this.#start.get(name) ?? 0), 2);
    }
    return result;
  }
}

export function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** The value at percentile p of sorted values (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] ?? NaN;
}

/** The worker's CPU (user + system) per MiB a run moved, ms. */
export function workerMsPerMiB(run: { bytes: number; cpuSeconds: Record<string, number> } | undefined): number | undefined {
  const seconds = run?.cpuSeconds['worker'];
  return run && seconds !== undefined && run.bytes > 0 ? (seconds * 1000) / (run.bytes / (1024 * 1024)) : undefined;
}

export function describeMachine(clamav: string): Machine {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cpus: list.length,
    memoryGiB: round(totalmem() / 1024 ** 3, 1),
    kernel: release(),
    platform: platform(),
    node: process.version,
    clamav,
  };
}
