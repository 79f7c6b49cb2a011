import { readFileSync } from 'node:fs';
import { ConfigError, UsageError } from './commands/common.ts';

/**
 * One file per command under src/commands/, each exporting `summary`, an
 * optional `synopsis` and `run(argv)` (resolving to the exit code). They are
 * loaded on demand, so `bucketscan worker` never loads what only other commands
 * need.
 */
interface Command {
  summary: string;
  synopsis?: string;
  /** Shown by `bucketscan <command> --help`, below the synopsis. */
  help?: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  worker: () => import('./commands/worker.ts'),
  local: () => import('./commands/local.ts'),
  scan: () => import('./commands/scan.ts'),
  policy: () => import('./commands/policy.ts'),
  rescan: () => import('./commands/rescan.ts'),
  dlq: () => import('./commands/dlq.ts'),
  signatures: () => import('./commands/signatures.ts'),
  allow: () => import('./commands/allow.ts'),
  quarantine: () => import('./commands/quarantine.ts'),
  release: () => import('./commands/release.ts'),
};

async function usage(): Promise<string> {
  const lines: string[] = [];
  for (const [name, load] of Object.entries(COMMANDS)) {
    const command = await load();
    const head = command.synopsis ?? name;
    // A synopsis too long for the column gets a line of its own, the summary below it.
    lines.push(head.length <= 14 ? `  ${head.padEnd(14)} ${command.summary}` : `  ${head}\n  ${''.padEnd(14)} ${command.summary}`);
  }
  return `Usage: bucketscan <command> [options]

Commands:
${lines.join('\n')}
  help           Show this text.
  version        Print the version.

Settings come from the environment, over a .env file in the current directory
(BUCKETSCAN_ENV_FILE names another file; BUCKETSCAN_ENV_FILE=none reads none).
"bucketscan <command> --help" describes a command.`;
}

async function main(argv: string[]): Promise<number> {
  const [name = 'help', ...rest] = argv;
  switch (name) {
    case 'version':
    case '--version': {
      const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
      process.stdout.write(`bucketscan ${pkg.version}\n`);
      return 0;
    }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${await usage()}\n`);
      return 0;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    process.stderr.write(`bucketscan: unknown command "${name}" (bucketscan help lists them)\n`);
    return 2;
  }
  const command = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`Usage: bucketscan ${command.synopsis ?? name}\n\n${command.help ?? command.summary}\n`);
    return 0;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`bucketscan: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    if (error instanceof UsageError) {
      process.stderr.write(`bucketscan: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`bucketscan: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
