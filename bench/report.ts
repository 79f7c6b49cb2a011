/** Tables for the terminal and docs/benchmarks.md, from a results file. */
import { fileURLToPath } from 'node:url';
import { PRICES } from './prices.ts';
import type { RequestSummary } from './prices.ts';
import type { BenchResults, Drain, SetResult, TargetCheck } from './results.ts';
import { isFullRun } from './results.ts';

export const DOC_PATH = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));

const dash = '–';

function num(value: number | undefined | null, digits = 1): string {
  if (value === undefined || value === null || !Number.isFinite(value)) return dash;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function table(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

function setLabel(set: SetResult): string {
  const { name, generatedBodySignatures } = set.signatures;
  if (name === 'large') return `large sigs (${generatedBodySignatures.toLocaleString('en-US')} generated)`;
  if (name === 'official') return 'official database';
  return 'small sigs (test set)';
}

function mark(check: TargetCheck | undefined): string {
  if (!check || check.met === null) return '';
  return check.met ? ' ✅' : ' ❌';
}

/** The main table: one row per figure, one column per signature set. */
export function summaryTable(results: BenchResults): string {
  const { sets, options } = results;
  const check = (set: SetResult, prefix: string) => results.targets.find((t) => t.set === set.signatures.name && t.name.startsWith(prefix));
  const row = (label: string, cell: (set: SetResult) => string, target = ''): string[] => [label, ...sets.map(cell), target];
  const large = sets.find((set) => set.large)?.large;
  const memory = sets.find((set) => set.memory)?.memory;
  const rows: string[][] = [
    row(
      `Large: bare clamd INSTREAM, ${large?.objects ?? options.largeObjects} × ${options.largeMiB} MiB, ${options.concurrency} at once (MiB/s)`,
      (s) => num(s.large?.bare.mibPerSecond),
    ),
    row(`Large: worker, CONCURRENCY=${options.concurrency} (MiB/s)`, (s) => num(s.large?.worker.mibPerSecond)),
    row('Large: worker / bare clamd', (s) => num(s.large?.ratio, 2) + mark(check(s, 'Large objects')), '≥ 0.9'),
    row(
      `Small: worker, ${options.smallFiles} × ${options.smallKiB} KiB, CONCURRENCY=${options.smallConcurrency} (files/s)`,
      (s) => num(s.small?.worker.filesPerSecond),
    ),
    row(`Small: worker, ${options.smallFilesC1} files, CONCURRENCY=1 (files/s)`, (s) => num(s.small?.workerC1.filesPerSecond)),
    row(`Small: emulator-bound ceiling, ${options.smallConcurrency} at once (files/s)`, (s) => num(s.small?.ceiling.filesPerSecond)),
    row(`Small: CONCURRENCY=${options.smallConcurrency} / CONCURRENCY=1`, (s) => num(s.small?.ratioVsC1, 2) + mark(check(s, 'Small objects: worker / CONCURRENCY=1')), '≥ 5'),
    row('Small: worker / ceiling', (s) => num(s.small?.ratioVsCeiling, 2) + mark(check(s, 'Small objects: worker / emulator')), '≥ 0.5'),
  ];
  for (const [index, single] of (memory?.single ?? []).entries()) {
    const isLargest = index === (memory?.single.length ?? 0) - 1;
    rows.push(
      row(
        `Memory: worker peak RSS, one ${single.objectMiB} MiB object (MiB)`,
        (s) => num(s.memory?.single[index]?.peakRssMiB) + (isLargest ? mark(check(s, 'Memory: peak RSS')) : ''),
        isLargest ? '≤ 150' : '',
      ),
    );
  }
  rows.push(
    row('Memory: growth with object size (MiB)', (s) => {
      const c = check(s, 'Memory: growth');
      return num(c?.value) + mark(c);
    }, '≤ 16'),
    row(
      `Memory: worker peak RSS, ${memory?.concurrent?.objects ?? options.largeObjects} × ${options.largeMiB} MiB at once (MiB)`,
      (s) => num(s.memory?.concurrent?.peakRssMiB),
    ),
    row('Memory: worker RSS after start, idle (MiB)', (s) => num(s.memory?.idleRssMiB)),
    row(`Requests: billable per clean file, CONCURRENCY=${options.smallConcurrency}`, (s) => num(s.requests?.clean?.billablePerFile, 2) + mark(check(s, 'Requests')), '≤ 3'),
    row('Requests: billable per clean file, CONCURRENCY=1', (s) => num(s.small?.workerC1.requests?.billablePerFile, 2)),
    row('Requests: billable per infected file', (s) => num(s.requests?.infected?.billablePerFile, 2)),
    row('Cost: AWS requests per million clean files (USD)', (s) => num(s.requests?.clean?.usdPerMillionFiles.total, 2)),
    row('Cost: AWS requests per million infected files (USD)', (s) => num(s.requests?.infected?.usdPerMillionFiles.total, 2)),
    row(`Latency: upload to forward, p50 (ms), ${options.latencyFiles} files one at a time`, (s) => num(s.latency?.p50Ms)),
    row('Latency: upload to forward, p99 (ms)', (s) => num(s.latency?.p99Ms)),
    row('clamd: database load (s)', (s) => num(s.signatures.loadSeconds, 2)),
    row('clamd: RSS after load (MiB)', (s) => num(s.signatures.clamdRssMiB)),
  );
  return table(['Figure', ...sets.map(setLabel), 'Target'], rows);
}

export function targetsTable(results: BenchResults): string {
  return table(
    ['Target', 'Signatures', 'Required', 'Measured', 'Met'],
    results.targets.map((t) => [t.name, t.set, t.target, num(t.value, 2), t.met === null ? 'not measured' : t.met ? 'yes' : '**no**']),
  );
}

function requestRows(kind: string, summary: RequestSummary | undefined): string[][] {
  if (!summary) return [];
  return Object.entries(summary.perFile).map(([operation, perFile]) => [kind, operation, num(perFile, 3)]);
}

export function requestsTable(results: BenchResults): string {
  const blocks: string[] = [];
  for (const set of results.sets) {
    const rows = [...requestRows('clean', set.requests?.clean), ...requestRows('infected', set.requests?.infected)];
    if (rows.length === 0) continue;
    blocks.push(`${setLabel(set)}:\n\n${table(['File', 'Operation', 'Requests per file'], rows)}`);
    break; // The request pattern does not depend on the signatures; one set is enough.
  }
  return blocks.join('\n\n');
}

function cpuCells(cpu: Record<string, number> | undefined, seconds: number | undefined): string[] {
  const names = ['worker', 'clamd', 'emulator', 'bench'];
  return [num(seconds, 2), ...names.map((name) => (cpu && cpu[name] !== undefined ? num(cpu[name], 2) : dash))];
}

/** CPU seconds each process used in each timed phase: where the time goes. */
export function cpuTable(results: BenchResults): string {
  const rows: string[][] = [];
  for (const set of results.sets) {
    const label = set.signatures.name;
    const drains: Array<[string, Drain | undefined]> = [
      ['large: worker', set.large?.worker],
      [`small: worker c=${set.small?.worker.concurrency ?? ''}`, set.small?.worker],
      ['small: worker c=1', set.small?.workerC1],
      ['infected: worker', set.requests?.infectedDrain],
    ];
    if (set.large) rows.push([`${label}`, 'large: bare clamd', ...cpuCells(set.large.bare.cpuSeconds, set.large.bare.seconds)]);
    for (const [phase, drain] of drains) if (drain) rows.push([label, phase, ...cpuCells(drain.cpuSeconds, drain.seconds)]);
    if (set.small) rows.push([label, 'small: ceiling', ...cpuCells(set.small.ceiling.cpuSeconds, set.small.ceiling.seconds)]);
  }
  return table(['Signatures', 'Phase', 'Wall (s)', 'worker CPU (s)', 'clamd CPU (s)', 'emulator CPU (s)', 'bench CPU (s)'], rows);
}

/** Facts derived from the figures that say where a shortfall comes from. */
export function notes(results: BenchResults): string[] {
  const lines: string[] = [];
  for (const set of results.sets) {
    const name = set.signatures.name;
    if (set.large) {
      const { worker, bare } = set.large;
      const mib = worker.bytes / 1024 / 1024;
      const cpu = worker.cpuSeconds;
      const total = Object.values(cpu).reduce((a, b) => a + b, 0);
      lines.push(
        `${name}, large: the worker process used ${num(((cpu['worker'] ?? NaN) / mib) * 1000, 1)} ms of CPU per MiB streamed ` +
          `(${num(cpu['worker'], 2)} s of ${num(total, 2)} CPU seconds in the phase; clamd ${num(cpu['clamd'], 2)} s, ` +
          `against ${num(bare.cpuSeconds['clamd'], 2)} s for the same bytes from memory).`,
      );
    }
    if (set.small) {
      const { worker, workerC1 } = set.small;
      const slotMs = (worker.concurrency / worker.filesPerSecond) * 1000;
      const cpuMs = ((worker.cpuSeconds['worker'] ?? NaN) / worker.files) * 1000;
      const c1Ms = 1000 / workerC1.filesPerSecond;
      const c1CpuMs = ((workerC1.cpuSeconds['worker'] ?? NaN) / workerC1.files) * 1000;
      lines.push(
        `${name}, small: at CONCURRENCY=${worker.concurrency} each slot spent ${num(slotMs, 1)} ms per file while the worker process ` +
          `used ${num(cpuMs, 2)} ms of CPU per file; at CONCURRENCY=1 a file took ${num(c1Ms, 1)} ms, ${num(c1CpuMs, 2)} ms of it ` +
          'on the worker\'s CPU. Wall time far above CPU time is waiting (round trips, timers), not work.',
      );
    }
    if (set.memory) {
      const peak = Math.max(...set.memory.single.map((single) => single.peakRssMiB));
      lines.push(
        `${name}, memory: ${num(set.memory.idleRssMiB, 1)} MiB of the ${num(peak, 1)} MiB peak is the worker at rest, before any message; ` +
          'the rest is what scanning adds.',
      );
    }
  }
  return lines;
}

export function terminalReport(results: BenchResults, path: string): string {
  const parts = [
    '',
    summaryTable(results),
    '',
    notes(results).map((line) => `- ${line}`).join('\n'),
    '',
    `Results: ${path}`,
    results.errors.length > 0 ? `\nProblems during the run:\n${results.errors.map((e) => `  - ${e}`).join('\n')}` : '',
    (results.warnings ?? []).length > 0 ? `\nWarnings:\n${results.warnings.map((w) => `  - ${w}`).join('\n')}` : '',
    '',
  ];
  return parts.join('\n');
}

export function renderDoc(results: BenchResults, resultsPath: string): string {
  const { machine, options } = results;
  const cleanSummary = results.sets.find((set) => set.requests?.clean)?.requests?.clean;
  return `# Benchmarks

What a bucketscan worker achieves against the limits that bound it: clamd's own
scanning speed for large files, the AWS round trips for small ones, memory, AWS
requests (and so money) per file, and how long a file waits. Issue 4.

This file is generated by \`bench/render.ts\` from a results file; edit the renderer,
not the file.

## Reproduce

\`\`\`sh
npm run bench -- --doc          # the full run (below), then rewrites this file
npm run bench:smoke             # tiny sizes, small signatures: checks the harness works (also a test)
npm run bench:doc -- <results.json>   # rewrite this file from an earlier results file
\`\`\`

\`npm run bench -- --help\` lists the flags (sizes, concurrency, signature sets,
phases). Results go to \`bench/results/<timestamp>.json\` (not committed) and every
worker's log and request counts to a temporary run directory printed at the start.
The full run needs clamd (\`make clamd\`), about ${Math.ceil((options.largeObjects * options.largeMiB + options.hugeMiB) / 1024 + 1)} GiB of free memory
for the emulator and the test data, and a quiet machine: timings taken while
anything else runs are noise.

## Last run

- When: ${results.startedAt} (${num(results.durationSeconds / 60, 1)} minutes)
- Command: \`${results.command}\`${results.options.smoke ? ' (**smoke run: sizes too small for the figures to mean anything**)' : isFullRun(results.options) ? '' : ' (**not the full run**: sizes or settings differ from `npm run bench`)'}
- Machine: ${machine.cpus} × ${machine.cpuModel}, ${num(machine.memoryGiB, 1)} GiB RAM, ${machine.platform} ${machine.kernel}; Node ${machine.node}; ${machine.clamav}
- Results file: \`${resultsPath}\`

${summaryTable(results)}

### Targets

${targetsTable(results)}
${results.errors.length > 0 ? `\n### Problems during the run\n\n${results.errors.map((e) => `- ${e}`).join('\n')}\n` : ''}${
    (results.warnings ?? []).length > 0 ? `\n### Warnings\n\n${results.warnings.map((w) => `- ${w}`).join('\n')}\n` : ''
  }
### AWS requests per file

Counted inside the worker by an SDK middleware (\`src/aws/request-counter.ts\`), one
per HTTP attempt, retries included, during the small-file phase at
\`CONCURRENCY=${options.smallConcurrency}\` (clean) and a batch of ${options.infectedFiles} EICAR files at \`CONCURRENCY=${options.concurrency}\`
(infected). Batched calls share their cost among the files in the batch, so the
per-file figure depends on how many files are in work at once: the table above
also gives it at \`CONCURRENCY=1\`, where every batch holds one file. Per-start calls (\`GetQueueUrl\`)
and receives that brought nothing (the idle polls at the end of a phase) are left
out: the figures are what a busy queue costs. An idle worker adds one
\`ReceiveMessage\` per \`RECEIVE_WAIT_TIME\` (3 a minute at the default 20 s, about
$0.05 a month).

${requestsTable(results)}

Cost per million files uses ${PRICES.basis}: S3 PUT/COPY/POST/LIST $${PRICES.s3PutCopyPostListPer1000} per 1,000,
S3 GET and other $${PRICES.s3GetAndOtherPer1000} per 1,000, S3 DELETE free, SQS $${PRICES.sqsPerMillion} per million
requests (each message and batch here is well under 64 KiB, so one request each),
SNS publish $${PRICES.snsPublishPerMillion} per million (delivery to SQS free).${
    cleanSummary
      ? ` For a clean file that is $${num(cleanSummary.usdPerMillionFiles.total, 2)} per million files.`
      : ''
  }

### Where the time goes

CPU seconds used by each process during each timed phase (from \`/proc/<pid>/stat\`).
The machine has ${machine.cpus} CPUs, so a phase of W wall seconds has ${machine.cpus}W CPU seconds to give.

${cpuTable(results)}

${notes(results).map((line) => `- ${line}`).join('\n')}

## Method

Everything runs on one machine, each part in its own process: the S3/SQS/SNS
emulator (fauxqs, as in \`make run\`, started by \`bench/emulator-process.ts\`), clamd,
the worker (\`node src/cli.ts worker\`, \`BUCKETSCAN_ENV_FILE=none\`, configured
through its environment), and the driver (\`bench/run.ts\`), which uploads, waits
and measures and is otherwise idle while the worker works.

- **Test data.** Random bytes (incompressible, no file format), uploaded once before
  any worker runs: ${options.largeObjects} × ${options.largeMiB} MiB and 1 × ${options.hugeMiB} MiB as multipart uploads
  in 8 MiB parts, ${options.smallFiles} × ${options.smallKiB} KiB with PutObject. The emulator turns each upload
  into an S3 event on the inbound queue; the driver keeps those events and empties
  the queue. Before each phase it puts the events back, so each phase starts with a
  full queue, the objects already in the bucket, and a freshly started worker (so
  its peak RSS is that phase's).
- **Timing.** From the worker's \`worker started\` line (queues resolved, clamd
  answering) to the moment the emulator sees the last of the phase's messages
  deleted from the inbound queue: the worker's start-up is not counted, its
  finishing work is.
- **Large objects.** Bare clamd: the driver streams the same bytes from memory to
  clamd with INSTREAM (the project's \`ClamdClient\`, 64 KiB chunks), ${options.concurrency} objects at
  once, just before and again just after the worker drains the same objects at
  \`CONCURRENCY=${options.concurrency}\`; the baseline is the two together (a warning says when they are
  more than 10% apart, a sign the machine was busy). MiB/s is total bytes over wall
  time. The ratio is what the worker's S3 streaming costs on
  top of clamd itself (both share the ${machine.cpus} CPUs with clamd).
- **Small objects.** The worker drains ${options.smallFiles} × ${options.smallKiB} KiB at \`CONCURRENCY=${options.smallConcurrency}\`,
  then ${options.smallFilesC1} of them at \`CONCURRENCY=1\`. The ceiling is a bare SDK client in the driver
  making the same AWS calls for each file at the same concurrency (receive up to
  10, GetObject read to the end, forward to the validation queue, delete; the batch
  calls if the worker's counts show it uses them) with no clamd and no other work:
  the most any worker could do against this emulator.
- **Memory.** \`VmHWM\` (the kernel's high-water mark of the resident set) of a
  worker that scanned one ${options.largeMiB} MiB object, of one that scanned one ${options.hugeMiB} MiB object
  (\`MAX_FILE_SIZE\` and clamd's \`StreamMaxLength\` raised to fit), and of the one
  that scanned ${options.largeObjects} × ${options.largeMiB} MiB at once. Memory must not grow with object size:
  the ${options.hugeMiB} MiB peak may be at most ${16} MiB above the ${options.largeMiB} MiB one.
- **Latency.** With a worker idle and waiting, ${options.latencyFiles} files of ${options.smallKiB} KiB are uploaded one
  at a time (${options.latencyGapMs} ms apart, each after the previous one was forwarded, after one
  unmeasured file that pays for the fresh worker's first connections); the time
  from the upload's response to the emulator accepting the forward on the
  validation queue. It includes the emulator's S3-to-SQS notification (a HEAD and a
  send, milliseconds here; S3's own notifications usually take well under a second
  but are not bounded).
- **Signature sets.** Every figure is taken once per signature set, with a fresh
  clamd each time: the project's two test signatures (clamd does almost no matching
  work per byte), and the same plus ${options.signatureCount.toLocaleString('en-US')} generated random body signatures (16-32 bytes,
  any file type, any offset${options.signatureWildcards > 0 ? `, ${Math.round(options.signatureWildcards * 100)}% with a wildcard byte` : ''}, fixed seed; \`bench/signatures.ts\`) so that clamd's cost per
  byte is of the order of a real database's. \`--signatures official\` adds a run
  with the official database where freshclam has installed one.
- **clamd** is configured as the local stack configures it
  (\`renderClamdConfig\`), with \`MaxThreads\` at least the highest concurrency, plus
  \`DisableCache yes\`: clamd otherwise remembers the hash of every clean stream and
  answers a repeat without scanning, and the benchmark scans the same bytes more
  than once (bare, then worker; two concurrencies). Distinct uploads never hit that
  cache, so these are the figures that apply to them.
- **Chunk size** (INSTREAM frame size, \`ClamdClient\`'s \`chunkBytes\`): measured once
  by hand, 128 MiB of fresh random bytes from memory to clamd per size, small
  signatures: 16 KiB 60.5, 64 KiB 56.6, 256 KiB 55.1, 1 MiB 57.7 MiB/s, no
  difference beyond noise, because clamd spools the stream to a file and scans after
  the terminator. 64 KiB is kept: S3 bodies arrive in chunks of about that size, so
  frames are rarely split.
- **Requests** are counted in the worker process by an SDK middleware enabled with
  \`BUCKETSCAN_COUNT_REQUESTS=<file>\` (off by default; nothing is added to the
  clients then), which writes the counts when the worker exits.

## Caveats

- The emulator is not AWS: an S3 GET here is a loopback HTTP request served from
  memory, SQS calls take well under a millisecond. Against AWS, each call takes
  milliseconds to tens of milliseconds, so small-file throughput per worker is
  lower and depends more on concurrency; large-object throughput depends on the
  instance's network. The request counts and the memory carry over; the ratios
  say how close the worker comes to what this machine allows.
- Random data exercises clamd's signature matching but none of its parsers: real
  files are also unpacked, parsed and decompressed (archives, documents), which
  costs more per byte than random data does.
- On ${machine.cpus} CPUs, the worker, clamd and the emulator compete for the same cores:
  every CPU second the worker or the emulator spends is taken from clamd.
- clamd writes an INSTREAM stream to a temporary file and starts scanning only when
  the stream has ended. The time it takes to move an object from S3 through the
  worker to clamd therefore adds to its scan instead of overlapping it, and that
  transfer (with the CPU the worker and the emulator take from clamd meanwhile) is
  most of what separates the worker from bare clamd. It also means clamd needs
  \`CONCURRENCY\` × \`MAX_FILE_SIZE\` of space in its temporary directory.
- With ${options.largeObjects} objects scanned ${options.concurrency} at once on ${machine.cpus} CPUs, the last scan often runs alone
  for a while, and how long varies from run to run: expect the large-object ratio
  to move by several percent between runs, and compare the two bare runs.
`;
}
