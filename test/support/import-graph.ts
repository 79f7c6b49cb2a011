/**
 * The import rule of src/ (README "Layout"): every folder has a layer, and a
 * file imports only from its own folder or from folders on lower layers; no
 * file reaches itself through its imports (no cycles, not even inside a folder).
 * Type-only imports count: knowing another module's shapes is depending on it.
 *
 * `test/unit/import-graph.test.ts` runs this over src/ in `make test`, and over
 * small made-up trees to show that it fails when it should.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';

/**
 * Bottom (0) to top. A folder may import from folders with a lower number only;
 * folders on one layer do not import each other. A new folder must be placed here
 * before any file in it may import or be imported.
 */
export const LAYERS: Readonly<Record<string, number>> = {
  // Utilities with no knowledge of bucketscan: errors, time, formatting.
  shared: 0,
  // Vocabulary: the verdict and its external spellings, S3 event documents, logging.
  verdict: 1,
  events: 1,
  log: 1,
  // Adapters, each owning its types: AWS (S3, SQS, SNS) and clamd.
  aws: 2,
  scan: 2,
  // What bucketscan does with them.
  pipeline: 3,
  policy: 3,
  rescan: 3,
  dlq: 3,
  metrics: 4,
  // Settings: each section in the shapes the layers below take.
  config: 5,
  // The long-running worker and its composition root.
  worker: 6,
  // The local stack (emulator, clamd child, worker on one machine).
  local: 7,
  // One file per command, and the command line itself (src/cli.ts).
  commands: 8,
  '.': 9,
};

export interface ImportViolation {
  kind: 'upward' | 'sideways' | 'unplaced' | 'cycle' | 'unresolved';
  /** The files involved: importer and imported, or the files of a cycle in order. */
  files: string[];
  text: string;
}

/** Relative module specifiers of a TypeScript file: static imports, re-exports and dynamic import() of a literal. */
export function importsOf(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]/g,
    /\bimport\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g,
    /^\s*import\s+['"](\.{1,2}\/[^'"]+)['"]/gm,
  ];
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) found.push(match[1]!);
  return found;
}

/** Every .ts file under `root`, as a path relative to it with forward slashes. */
export function listSources(root: string): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) files.push(relative(root, path).split(sep).join('/'));
    }
  };
  walk(root);
  return files.sort();
}

/** The import graph of the tree under `root`: file → the files it imports (paths relative to root). */
export function readGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of listSources(root)) {
    const source = readFileSync(join(root, file), 'utf8');
    graph.set(
      file,
      importsOf(source).map((specifier) => posix.normalize(posix.join(posix.dirname(file), specifier))),
    );
  }
  return graph;
}

/** The folder (layer key) of a path relative to src/: its first segment, "." for files at the top. */
export function folderOf(file: string): string {
  const first = dirname(file).split('/')[0]!;
  return first === '' ? '.' : first;
}

/** Back-pointing, sideways and unplaced imports, and cycles, in a stable order. */
export function checkImports(
  graph: ReadonlyMap<string, readonly string[]>,
  layers: Readonly<Record<string, number>> = LAYERS,
): ImportViolation[] {
  const violations: ImportViolation[] = [];
  for (const [file, imports] of graph) {
    const from = folderOf(file);
    for (const target of imports) {
      if (!graph.has(target)) {
        violations.push({ kind: 'unresolved', files: [file, target], text: `${file} imports ${target}, which is not a source file` });
        continue;
      }
      const to = folderOf(target);
      if (from === to) continue;
      const own = layers[from];
      const theirs = layers[to];
      if (own === undefined || theirs === undefined) {
        const folder = own === undefined ? from : to;
        violations.push({ kind: 'unplaced', files: [file, target], text: `${file} imports ${target}: folder "${folder}" has no layer` });
      } else if (theirs > own) {
        violations.push({
          kind: 'upward',
          files: [file, target],
          text: `${file} (${from}, layer ${own}) imports ${target} (${to}, layer ${theirs}): a lower layer must not know a higher one`,
        });
      } else if (theirs === own) {
        violations.push({
          kind: 'sideways',
          files: [file, target],
          text: `${file} (${from}) imports ${target} (${to}): folders on one layer (${own}) do not import each other`,
        });
      }
    }
  }
  for (const component of cyclesOf(graph)) {
    const loop = loopThrough(graph, component);
    violations.push({ kind: 'cycle', files: component, text: `import cycle: ${[...loop, loop[0]].join(' -> ')}` });
  }
  return violations;
}

/** The strongly connected components with more than one file, or a file importing itself (Tarjan). */
export function cyclesOf(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (file: string) => {
    index.set(file, next);
    low.set(file, next);
    next += 1;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!graph.has(target)) continue;
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file)!, index.get(target)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    for (;;) {
      const member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
      if (member === file) break;
    }
    if (component.length > 1 || (graph.get(file) ?? []).includes(file)) cycles.push(component.reverse());
  };
  for (const file of [...graph.keys()].sort()) if (!index.has(file)) visit(file);
  return cycles;
}

/** One shortest loop from the first file of a cycle's component back to it, for the message. */
function loopThrough(graph: ReadonlyMap<string, readonly string[]>, component: readonly string[]): string[] {
  const start = component[0]!;
  const members = new Set(component);
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift()!;
    for (const target of graph.get(file) ?? []) {
      if (!members.has(target)) continue;
      if (target === start) {
        const loop = [file];
        while (loop[0] !== start) loop.unshift(cameFrom.get(loop[0]!)!);
        return loop;
      }
      if (!cameFrom.has(target)) {
        cameFrom.set(target, file);
        queue.push(target);
      }
    }
  }
  return [...component];
}
