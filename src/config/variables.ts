/**
 * Reading environment variables: the error that names the variable a user has
 * to fix, the parsers the sections share, and `parseVariables`, which checks
 * exactly the variables of the sections asked for.
 */
import * as z from '../shared/zod.ts';
import type { Env } from './env-file.ts';

/** A bad setting, named by the variable a user has to fix. */
export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

export const MEGABYTE = 1024 * 1024;

export const text = z.string().check(z.trim(), z.minLength(1, 'must not be empty'));

/** A string with its surrounding blanks cut, or undefined: every variable is read through this. */
export const trimmed = () => z.optional(z.string().check(z.trim()));

export const optionalText = z.pipe(
  trimmed(),
  z.transform((value: string | undefined) => (value ? value : undefined)),
);

export const url = (what: string) =>
  optionalText.check(z.refine((value) => value === undefined || /^https?:\/\/[^\s/]+/.test(value), `must be an http(s) URL ${what}`));

export const integer = (fallback: number, min: number, max: number, unit: string) =>
  z.pipe(
    trimmed(),
    z.transform((value: string | undefined, ctx) => {
      if (value === undefined || value === '') return fallback;
      if (!/^\d+$/.test(value)) return z.reject(ctx, `must be a whole number of ${unit}, got "${value}"`);
      const parsed = Number(value);
      if (parsed < min || parsed > max) return z.reject(ctx, `must be between ${min} and ${max} ${unit}, got ${value}`);
      return parsed;
    }),
  );

/** One of `values`, case-insensitive; unset or empty: `fallback`. */
export const choice = <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number], error: string) =>
  z.pipe(
    z.pipe(
      trimmed(),
      z.transform((value: string | undefined) => (value ? value.toLowerCase() : fallback)),
    ),
    z.enum(values, { error }),
  );

/** The variables of one section: a zod shape, keyed by variable name. */
export type Variables = z.core.$ZodShape;
export type Parsed<S extends Variables> = z.output<z.ZodMiniObject<S>>;

/**
 * Checks the variables of `shape` in `env`, and nothing else; the first problem
 * (in the shape's order) is thrown as a ConfigError naming its variable.
 */
export function parseVariables<S extends Variables>(env: Env, shape: S): Parsed<S> {
  const result = z.object(shape).safeParse(env);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const variable = String(issue?.path[0] ?? 'configuration');
  const problem = issue?.code === 'invalid_type' ? 'is required but not set' : (issue?.message ?? 'is invalid');
  throw new ConfigError(variable, problem);
}
