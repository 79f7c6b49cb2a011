/**
 * Summaries of V8 CPU profiles (`node --cpu-prof`) of the worker: where its busy
 * time goes, by layer (the AWS SDK, Node's sockets, the garbage collector,
 * bucketscan's own code...) and by function, and the profile as folded stacks
 * (`a;b;c <microseconds>`, the input of flame-graph tools; the .cpuprofile itself
 * opens as a flame graph in Chrome DevTools or speedscope).
 *
 * The worker runs as a bundle, so a profile names chunk files; when the bundle
 * was built with source maps (the benchmark builds such a copy for profiled runs)
 * each frame is mapped back to its source file, and so to its package.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { round } from './proc.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled time that was not idle, ms. */
  busyMs: number;
  /** Busy time per layer, largest first. */
  layers: Array<{ layer: string; ms: number; share: number }>;
  /** Functions by self time, largest first. */
  functions: Array<{ name: string; source: string; layer: string; ms: number; share: number }>;
}

// ---- Source maps (v3, as esbuild writes them): only what a lookup needs. ----

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DIGIT = new Map([...BASE64].map((char, index) => [char, index]));

/** Per generated line: [column, source index] pairs, by column. */
type LineMap = Array<Array<[number, number]>>;

function decodeMappings(mappings: string): LineMap {
  const lines: LineMap = [];
  let source = 0;
  for (const line of mappings.split(';')) {
    const segments: Array<[number, number]> = [];
    let column = 0;
    for (const segment of line.split(',')) {
      if (!segment) continue;
      const values: number[] = [];
      let value = 0;
      let shift = 0;
      for (const char of segment) {
        const digit = DIGIT.get(char) ?? 0;
        value += (digit & 31) << shift;
        if (digit & 32) {
          shift += 5;
        } else {
          values.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      column += values[0] ?? 0;
      if (values.length >= 4) {
        source += values[1] ?? 0;
        segments.push([column, source]);
      }
    }
    lines.push(segments);
  }
  return lines;
}

class SourceMaps {
  readonly #maps = new Map<string, { sources: string[]; lines: LineMap } | null>();

  /** The original source file of a position in a bundled file, when it has a map. */
  sourceOf(url: string, line: number, column: number): string | undefined {
    if (!url.startsWith('file://')) return undefined;
    let map = this.#maps.get(url);
    if (map === undefined) {
      const path = `${fileURLToPath(url)}.map`;
      map = null;
      if (existsSync(path)) {
        const raw = JSON.parse(readFileSync(path, 'utf8')) as { sources: string[]; mappings: string };
        map = { sources: raw.sources, lines: decodeMappings(raw.mappings) };
      }
      this.#maps.set(url, map);
    }
    if (!map) return undefined;
    const segments = map.lines[line];
    if (!segments || segments.length === 0) return undefined;
    let found = segments[0]!;
    for (const segment of segments) {
      if (segment[0] > column) break;
      found = segment;
    }
    return map.sources[found[1]];
  }
}

/**
 * The first sample taken in the worker's message handling (`processMessage`):
 * everything before it is start-up (loading and compiling modules, connecting),
 * which the summaries leave out, as the CPU figures do.
 */
function firstWorkSample(profile: CpuProfile): number {
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const working = new Map<number, boolean>();
  const isWork = (id: number): boolean => {
    const known = working.get(id);
    if (known !== undefined) return known;
    const up = parent.get(id);
    const result = byId.get(id)?.callFrame.functionName === 'processMessage' || (up !== undefined && isWork(up));
    working.set(id, result);
    return result;
  };
  const index = profile.samples.findIndex((id) => isWork(id));
  return index === -1 ? 0 : index;
}

/** Self time per node, µs, from the first work on: each sample's node is charged the time until the next sample. */
function selfTimes(profile: CpuProfile): Map<number, number> {
  const selfUs = new Map<number, number>();
  for (let index = firstWorkSample(profile); index < profile.samples.length; index++) {
    const id = profile.samples[index]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[index + 1] ?? 0));
  }
  return selfUs;
}

// ---- Layers ----

const NATIVE_WRITES = new Set(['writev', 'writeBuffer', 'writeString', 'writeLatin1String', 'writeUtf8String', 'writeAsciiString']);

/** The layer a frame belongs to, from its (mapped) source path and name. */
export function layerOf(frame: CallFrame, source: string | undefined): string {
  const name = frame.functionName;
  if (name === '(garbage collector)') return 'garbage collector';
  if (name === '(program)' || name === '(root)') return 'V8 and native (unattributed)';
  const path = source ?? frame.url;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
  if (pkg) {
    if (pkg.startsWith('@aws-sdk/') || pkg.startsWith('@smithy/') || pkg.startsWith('@aws-crypto/') || pkg === 'fast-xml-parser') {
      return 'AWS SDK';
    }
    if (pkg === 'pino' || pkg.startsWith('pino-') || pkg === 'sonic-boom' || pkg === 'fast-redact' || pkg === 'quick-format-unescaped')
      return 'logging (pino)';
    if (pkg === 'zod') return 'zod';
    return `package ${pkg}`;
  }
  const own = /(?:^|\/)src\/([^/]+)\//.exec(path)?.[1];
  if (own) return `bucketscan ${own}/`;
  if (path === '' && NATIVE_WRITES.has(name)) return 'socket and pipe writes (native)';
  if (path.startsWith('node:') || path === '' || !path.includes('/')) {
    if (/crypto|hash|hmac|keys/i.test(path) || /^(Hmac|Hash|digest|update)$/.test(name)) return 'Node crypto (signing, hashing)';
    if (/_http|http_/.test(path)) return 'Node HTTP';
    if (/net|stream|readable|writable|destroy|tls|_tls/.test(path)) return 'Node sockets and streams';
    return 'Node and V8 other';
  }
  return 'other';
}

/** Summary of one profile. `top` functions are listed. */
export function summarizeProfile(path: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const maps = new SourceMaps();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = selfTimes(profile);
  const layers = new Map<string, number>();
  const functions = new Map<string, { name: string; source: string; layer: string; us: number }>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame || frame.functionName === '(idle)') continue;
    busyUs += us;
    const source = maps.sourceOf(frame.url, frame.lineNumber, frame.columnNumber);
    const layer = layerOf(frame, source);
    layers.set(layer, (layers.get(layer) ?? 0) + us);
    const shown = (source ?? frame.url).replace(/^.*node_modules\//, '').replace(/^.*?\/(src\/)/, '$1');
    const name = frame.functionName || '(anonymous)';
    const key = `${name}\0${shown}`;
    const entry = functions.get(key) ?? { name, source: shown, layer, us: 0 };
    entry.us += us;
    functions.set(key, entry);
  }
  const share = (us: number) => round(us / Math.max(1, busyUs), 3);
  return {
    busyMs: round(busyUs / 1000, 1),
    layers: [...layers].sort((a, b) => b[1] - a[1]).map(([layer, us]) => ({ layer, ms: round(us / 1000, 1), share: share(us) })),
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((entry) => ({
        name: entry.name,
        source: entry.source,
        layer: entry.layer,
        ms: round(entry.us / 1000, 1),
        share: share(entry.us),
      })),
  };
}

/** The profile as folded stacks (root first, `;`-joined, then the self time in µs), for flame-graph tools. */
export function foldedStacks(path: string): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = selfTimes(profile);
  const lines: string[] = [];
  for (const [id, us] of selfUs) {
    if (us <= 0 || byId.get(id)?.callFrame.functionName === '(idle)') continue;
    const names: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame && frame.functionName !== '(root)') names.push((frame.functionName || '(anonymous)').replace(/[;\s]/g, '_'));
    }
    lines.push(`${names.reverse().join(';')} ${us}`);
  }
  return `${lines.sort().join('\n')}\n`;
}
