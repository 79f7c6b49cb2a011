/**
 * Where the worker's idle memory goes: the resident set of a fresh Node process
 * (with the production command's flags) once it has loaded one dependency, for
 * each dependency the worker bundles, and once it has loaded the whole worker
 * bundle (dist/cli.js, running `version`, so nothing starts).
 *
 * Each dependency is bundled the way scripts/build.ts bundles the worker (esbuild,
 * ESM builds of the SDK), with a namespace import kept alive so that nothing is
 * shaken out: a row is the cost of the whole package, an upper bound of what the
 * worker takes from it. The figure is VmRSS when the process exits, after loading
 * and running the module's top level; the median of several processes. Beside
 * it, the process's wall time from spawn to exit (Node's own start included):
 * what loading that much code adds to start-up.
 *
 * Run alone: node bench/import-cost.ts [--runs n]   (also the benchmark's "imports" phase)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { ensureBuilt, productionCommand, ROOT } from './production.ts';
import { percentile, round } from './proc.ts';
import type { ImportCostResult, ImportCostRow } from './results.ts';
import { BUNDLE_OPTIONS } from '../scripts/bundle-options.ts';

const MIB = 1024 * 1024;

const ZOD_MINI =
  "import { config, object, string, union, pipe, transform, optional } from 'zod/mini'; import { en } from 'zod/locales'; config(en()); " +
  'globalThis.__zod = [object, string, union, pipe, transform, optional];';

/** name, what it loads, the probe's source (null: the worker bundle itself). */
const PROBES: Array<{ name: string; what: string; source: string | null }> = [
  { name: 'node', what: 'Node alone (an empty module)', source: 'export {};' },
  { name: 'pino', what: 'pino (logging)', source: "import * as m from 'pino'; globalThis.__probe = m;" },
  {
    name: 'zod',
    what: 'zod/mini with its English messages (settings, events, stored documents)',
    // As src/shared/zod.ts loads it: members by name, so the bundle keeps only what is used.
    source: ZOD_MINI,
  },
  {
    name: 'node-http-handler',
    what: "@smithy/node-http-handler (the SDK's HTTP agent)",
    source: "import * as m from '@smithy/node-http-handler'; globalThis.__probe = m;",
  },
  { name: 'client-s3', what: '@aws-sdk/client-s3', source: "import * as m from '@aws-sdk/client-s3'; globalThis.__probe = m;" },
  { name: 'client-sqs', what: '@aws-sdk/client-sqs', source: "import * as m from '@aws-sdk/client-sqs'; globalThis.__probe = m;" },
  { name: 'client-sns', what: '@aws-sdk/client-sns', source: "import * as m from '@aws-sdk/client-sns'; globalThis.__probe = m;" },
  {
    name: 'sdk',
    what: 'all three SDK clients',
    source:
      "import * as a from '@aws-sdk/client-s3'; import * as b from '@aws-sdk/client-sqs'; import * as c from '@aws-sdk/client-sns'; globalThis.__probe = [a, b, c];",
  },
  {
    name: 'sdk-built',
    what: 'the four SDK clients the worker builds (S3, SQS, SNS, EventBridge), built, without their commands',
    // Named imports, as the worker's: the bundle keeps what a client needs to be built.
    source:
      "import { S3Client } from '@aws-sdk/client-s3'; import { SQSClient } from '@aws-sdk/client-sqs'; " +
      "import { SNSClient } from '@aws-sdk/client-sns'; import { EventBridgeClient } from '@aws-sdk/client-eventbridge'; " +
      "const region = 'us-east-1'; globalThis.__probe = [new S3Client({ region }), new SQSClient({ region }), new SNSClient({ region }), new EventBridgeClient({ region })];",
  },
  {
    name: 'sdk-direct',
    what: "what the direct paths take from the SDK: its default credential chain and S3's and SQS's endpoint rules",
    // The rules are the clients' own modules (not exported by name): the part of a client a
    // worker that loaded the rest only on first use would still hold at rest.
    source:
      "import { defaultProvider } from '@aws-sdk/credential-provider-node'; " +
      "import { defaultEndpointResolver as s3 } from '@aws-sdk/client-s3/dist-es/endpoint/endpointResolver.js'; " +
      "import { defaultEndpointResolver as sqs } from '@aws-sdk/client-sqs/dist-es/endpoint/endpointResolver.js'; " +
      "const flags = { Region: 'us-east-1', UseFIPS: false, UseDualStack: false }; " +
      "globalThis.__probe = [defaultProvider(), s3({ ...flags, Bucket: 'probe', ForcePathStyle: false, Accelerate: false }), sqs(flags)];",
  },
  {
    name: 'all',
    what: 'all of the above together',
    source:
      "import * as a from '@aws-sdk/client-s3'; import * as b from '@aws-sdk/client-sqs'; import * as c from '@aws-sdk/client-sns'; " +
      `import * as d from '@smithy/node-http-handler'; import * as e from 'pino'; globalThis.__probe = [a, b, c, d, e]; ${ZOD_MINI}`,
  },
  { name: 'bundle', what: 'the worker bundle, dist/cli.js (runs `version`)', source: null },
];

/** Writes the process's memory to BENCH_IMPORT_COST_OUT as it exits; loaded with --import before the probe. */
const REPORTER = `import { writeFileSync } from 'node:fs';
process.on('exit', () => {
  const m = process.memoryUsage();
  writeFileSync(process.env.BENCH_IMPORT_COST_OUT, JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed }));
});
`;

async function buildProbe(dir: string, name: string, source: string): Promise<string> {
  const entry = join(dir, `${name}.mjs`);
  const outdir = join(dir, name);
  writeFileSync(entry, source);
  // Built as production is (scripts/bundle-options.ts), split as scripts/build.ts splits the
  // worker: what a package loads with import() only when first needed stays out of the probe.
  await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    outdir,
    ...BUNDLE_OPTIONS,
    splitting: true,
    nodePaths: [join(ROOT, 'node_modules')],
  });
  return join(outdir, `${name}.js`);
}

export async function measureImportCost(options: {
  runs: number;
  nodeArgs: string[];
  cli: string;
  progress?: (message: string) => void;
}): Promise<ImportCostResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-import-cost-'));
  try {
    mkdirSync(dir, { recursive: true });
    const reporter = join(dir, 'reporter.mjs');
    writeFileSync(reporter, REPORTER);
    const outFile = join(dir, 'memory.json');
    const rows: ImportCostRow[] = [];
    for (const probe of PROBES) {
      const args = probe.source === null ? [options.cli, 'version'] : [await buildProbe(dir, probe.name, probe.source)];
      const rss: number[] = [];
      const heap: number[] = [];
      const wall: number[] = [];
      for (let run = 0; run < options.runs; run++) {
        rmSync(outFile, { force: true });
        const started = performance.now();
        execFileSync(process.execPath, [...options.nodeArgs, '--import', reporter, ...args], {
          env: { PATH: process.env['PATH'] ?? '', BENCH_IMPORT_COST_OUT: outFile },
          stdio: ['ignore', 'ignore', 'pipe'],
          timeout: 60_000,
        });
        wall.push(performance.now() - started);
        const memory = JSON.parse(readFileSync(outFile, 'utf8')) as { rss: number; heapUsed: number };
        rss.push(memory.rss / MIB);
        heap.push(memory.heapUsed / MIB);
      }
      const median = (values: number[]) =>
        percentile(
          [...values].sort((a, b) => a - b),
          50,
        );
      rows.push({
        name: probe.name,
        what: probe.what,
        rssMiB: round(median(rss), 1),
        heapUsedMiB: round(median(heap), 1),
        addedMiB: 0,
        wallMs: round(median(wall), 0),
      });
      options.progress?.(`imports: ${probe.name} ${round(median(rss), 1)} MiB`);
    }
    const base = rows.find((row) => row.name === 'node')?.rssMiB ?? 0;
    for (const row of rows) row.addedMiB = round(row.rssMiB - base, 1);
    return { runs: options.runs, nodeArgs: options.nodeArgs, rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string' } } });
  const runs = Number(values.runs ?? 3);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number of at least 1, got ${values.runs}`);
  const command = productionCommand();
  ensureBuilt(command.cli, (message) => process.stderr.write(`${message}\n`));
  const result = await measureImportCost({ runs, nodeArgs: command.nodeArgs, cli: command.cli });
  process.stdout.write(`node ${command.nodeArgs.join(' ')}, median of ${runs} processes each\n\n`);
  process.stdout.write(
    '| Loaded | RSS (MiB) | over Node alone (MiB) | V8 heap used (MiB) | process wall time (ms) |\n|---|---:|---:|---:|---:|\n',
  );
  for (const row of result.rows) {
    process.stdout.write(
      `| ${row.what} | ${row.rssMiB.toFixed(1)} | ${row.addedMiB.toFixed(1)} | ${row.heapUsedMiB.toFixed(1)} | ${row.wallMs} |\n`,
    );
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`import-cost: ${(error as Error)?.message ?? String(error)}\n`);
    process.exit(2);
  });
}
