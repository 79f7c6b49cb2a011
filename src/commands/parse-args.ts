/**
 * node:util parseArgs (strict) with its errors turned into the project's one-line
 * usage errors: its own messages span several lines and suggest `--` tricks.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { UsageError } from './common.ts';

export function parseCommandArgs<const T extends ParseArgsOptionsConfig>(
  command: string,
  argv: string[],
  options: T,
  allowPositionals: boolean,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError(`${command}: ${describeParseError(error)} (bucketscan ${command} --help)`);
  }
}

function describeParseError(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(error);
  const quoted = /'([^']*)'/.exec(text)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${JSON.stringify(quoted ?? text)}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${JSON.stringify(quoted ?? text)}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const option = /'(--?[^' ]+)/.exec(text)?.[1];
      if (/argument missing|ambiguous/.test(text) && option) return `${option} needs a value`;
      if (/does not take an argument/.test(text) && option) return `${option} takes no value`;
      return text.split('\n')[0] ?? text;
    }
    default:
      return text.split('\n')[0] ?? text;
  }
}
