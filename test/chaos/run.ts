/**
 * The chaos suite from the command line:
 *
 *   node test/chaos/run.ts [--files N] [--kills K] [--clamd-kills C] [--outages O]
 *                          [--outage-seconds 1.5-4] [--clamd-down-seconds 2-5]
 *                          [--seed S] [--fault-rate R] [--delay-rate R]
 *                          [--max-receive-count M] [--deadline SECONDS]
 *                          [--report docs/reliability.md]
 *
 * Prints progress on stderr and the figures on stdout; with --report, writes the
 * Markdown report there. Exits 1 when a guarantee broke (a file lost, misplaced or
 * misreported, anything infected forwarded, a dead-lettered message, no drain
 * before the deadline), 2 on bad arguments.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULTS, runChaos, type ChaosOptions } from './chaos.ts';
import { freshSeed } from '../../harness/random.ts';
import { renderMarkdown, renderTable } from './report.ts';

/** "2-5" or "3" (seconds) to [min, max] milliseconds. */
function range(value: string | undefined, fallback: [number, number], name: string): [number, number] {
  if (value === undefined) return fallback;
  const match = /^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?$/.exec(value);
  const low = Number(match?.[1]);
  const high = Number(match?.[2] ?? match?.[1]);
  if (!match || !(low > 0) || high < low || high > 600) {
    process.stderr.write(`chaos: --${name} must be seconds or a range of seconds such as 2-5, got "${value}"\n`);
    process.exit(2);
  }
  return [Math.round(low * 1000), Math.round(high * 1000)];
}

function number(value: string | undefined, fallback: number, name: string, min: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
    process.stderr.write(`chaos: --${name} must be a number from ${min} to ${max}, got "${value}"\n`);
    process.exit(2);
  }
  return parsed;
}

const { values } = parseArgs({
  options: {
    files: { type: 'string' },
    kills: { type: 'string' },
    'clamd-kills': { type: 'string' },
    outages: { type: 'string' },
    'outage-seconds': { type: 'string' },
    'clamd-down-seconds': { type: 'string' },
    seed: { type: 'string' },
    'fault-rate': { type: 'string' },
    'delay-rate': { type: 'string' },
    'max-receive-count': { type: 'string' },
    concurrency: { type: 'string' },
    deadline: { type: 'string' },
    report: { type: 'string' },
  },
  strict: true,
});

const options: ChaosOptions = {
  ...DEFAULTS,
  files: number(values.files, DEFAULTS.files, 'files', 1, 5000),
  kills: number(values.kills, DEFAULTS.kills, 'kills', 0, 100),
  clamdKills: number(values['clamd-kills'], DEFAULTS.clamdKills, 'clamd-kills', 0, 10),
  outages: number(values.outages, DEFAULTS.outages, 'outages', 0, 100),
  outageMs: range(values['outage-seconds'], DEFAULTS.outageMs, 'outage-seconds'),
  clamdDownMs: range(values['clamd-down-seconds'], DEFAULTS.clamdDownMs, 'clamd-down-seconds'),
  seed: number(values.seed, freshSeed(), 'seed', 1, 2 ** 31 - 1),
  faultRate: number(values['fault-rate'], DEFAULTS.faultRate, 'fault-rate', 0, 0.9),
  delayRate: number(values['delay-rate'], DEFAULTS.delayRate, 'delay-rate', 0, 1),
  maxReceiveCount: number(values['max-receive-count'], DEFAULTS.maxReceiveCount, 'max-receive-count', 1, 1000),
  concurrency: number(values.concurrency, DEFAULTS.concurrency, 'concurrency', 1, 64),
  deadlineMs: number(values.deadline, DEFAULTS.deadlineMs / 1000, 'deadline', 10, 3600) * 1000,
  say: (line) => process.stderr.write(`chaos: ${line}\n`),
};

const command = [
  'node test/chaos/run.ts',
  `--files ${options.files}`,
  `--kills ${options.kills}`,
  `--clamd-kills ${options.clamdKills}`,
  `--outages ${options.outages}`,
  `--outage-seconds ${options.outageMs.map((ms) => ms / 1000).join('-')}`,
  `--clamd-down-seconds ${options.clamdDownMs.map((ms) => ms / 1000).join('-')}`,
  `--fault-rate ${options.faultRate}`,
  `--delay-rate ${options.delayRate}`,
  `--max-receive-count ${options.maxReceiveCount}`,
  `--seed ${options.seed}`,
].join(' ');
process.stderr.write(`chaos: ${command}\n`);

// Ctrl-C or a kill: exit through process.exit so the 'exit' handlers stop the worker and clamd.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

const result = await runChaos(options);
process.stdout.write(`${renderTable(result)}\n`);
if (values.report) {
  writeFileSync(values.report, renderMarkdown(result, command));
  process.stderr.write(`chaos: report written to ${values.report}\n`);
}
if (result.failures.length > 0) {
  process.stderr.write(`chaos: FAILED (repeat with --seed ${options.seed}): ${result.failures.join('; ')}\n`);
  process.exit(1);
}
process.stderr.write(`chaos: passed (seed ${options.seed})\n`);
process.exit(0);
