import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './common.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * node:util parseArgs in strict mode, with its multi-line errors turned into the
 * one-line usage errors (exit 2) every command promises.
 */
export function parseCommandLine<T extends Options>(command: string, argv: string[], options: T, maxPositionals = 0) {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: boolean }>>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: maxPositionals > 0 });
  } catch (error) {
    throw new UsageError(`${command}: ${describeParseError(error, options)}`);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`${command}: unexpected argument ${JSON.stringify(parsed.positionals[maxPositionals])}`);
  }
  return parsed;
}

function describeParseError(error: unknown, options: Options): string {
  const { code, message } = error as { code?: string; message?: string };
  const text = message ?? String(error);
  const option = /'(-{1,2}[^' ]+)/.exec(text)?.[1];
  const known = Object.keys(options)
    .map((name) => `--${name}`)
    .join(', ');
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${JSON.stringify(option ?? text)} (options: ${known}, --help)`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (text.includes('ambiguous')) {
        return `${option ?? 'an option'} needs a value (one starting with "-" is written ${option ?? '--option'}=-value)`;
      }
      return text.includes('argument missing') || text.includes('requires an argument')
        ? `${option ?? 'an option'} needs a value`
        : `${option ?? 'an option'} takes no value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const positional = /'([^']*)'/.exec(text)?.[1];
      return `unexpected argument ${JSON.stringify(positional ?? text)}`;
    }
    default:
      return text.split('\n')[0] ?? text;
  }
}

/** A whole number from an option value, or a usage error naming the option. */
export function parseCount(command: string, option: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${command}: ${option} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** The same with any number of positionals, or none. */
export function parseCommandArgs<T extends Options>(command: string, argv: string[], options: T, allowPositionals: boolean) {
  return parseCommandLine(command, argv, options, allowPositionals ? Number.MAX_SAFE_INTEGER : 0);
}
