import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './common.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * node:util parseArgs in strict mode, with its multi-line errors turned into the
 * one-line usage errors (exit 2) every command promises. The error's `code` says
 * what is wrong; parseArgs' own tokens say which argument, so nothing depends on
 * the wording of Node's messages.
 */
export function parseCommandLine<T extends Options>(command: string, argv: string[], options: T, maxPositionals = 0) {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: boolean }>>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: maxPositionals > 0 });
  } catch (error) {
    throw new UsageError(`${command}: ${describeParseError(error, argv, options)}`);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`${command}: unexpected argument ${JSON.stringify(parsed.positionals[maxPositionals])}`);
  }
  return parsed;
}

type Token = ReturnType<typeof parseArgs<{ tokens: true; strict: false }>>['tokens'][number];
type OptionToken = Extract<Token, { kind: 'option' }>;

/** What is wrong with an option's value, as strict parseArgs judges it (ERR_PARSE_ARGS_INVALID_OPTION_VALUE). */
function valueProblem(token: OptionToken, options: Options): 'missing' | 'ambiguous' | 'unexpected' | undefined {
  const type = Object.hasOwn(options, token.name) ? options[token.name]!.type : undefined;
  if (type === 'string' && token.value === undefined) return 'missing';
  // A value taken from the next argument that starts with "-" (but is not "-" alone).
  if (type === 'string' && !token.inlineValue && token.value!.length > 1 && token.value!.startsWith('-')) return 'ambiguous';
  if (type === 'boolean' && token.value !== undefined) return 'unexpected';
  return undefined;
}

function describeParseError(error: unknown, argv: string[], options: Options): string {
  const code = (error as { code?: unknown }).code;
  // The same arguments read leniently: the tokens strict mode refused one of, in order.
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const optionTokens = tokens.filter((token): token is OptionToken => token.kind === 'option');
  const known = Object.keys(options)
    .map((name) => `--${name}`)
    .join(', ');
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const token = optionTokens.find((candidate) => !Object.hasOwn(options, candidate.name));
      return `unknown option ${JSON.stringify(token?.rawName ?? 'an option')} (options: ${known}, --help)`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const token = optionTokens.find((candidate) => valueProblem(candidate, options) !== undefined);
      const option = token ? `--${token.name}` : 'an option';
      switch (token && valueProblem(token, options)) {
        case 'ambiguous':
          return `${option} needs a value (one starting with "-" is written ${option}=-value)`;
        case 'unexpected':
          return `${option} takes no value`;
        default:
          return `${option} needs a value`;
      }
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const token = tokens.find((candidate) => candidate.kind === 'positional');
      return `unexpected argument ${JSON.stringify(token?.value ?? '')}`;
    }
    default: {
      const message = error instanceof Error ? error.message : String(error);
      return message.split('\n')[0] ?? message;
    }
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
