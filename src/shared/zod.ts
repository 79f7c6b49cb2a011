/**
 * The schema library of src/: zod's mini build, with zod's English messages.
 *
 * zod/mini is the tree-shakable form of zod 4: the same parser, the same issues
 * and, with the English locale configured here, the same messages. Checks are
 * functions (`z.optional(s)`, `s.check(z.trim())`) instead of methods. The
 * classic form builds every method of every schema, and with them every locale
 * and the JSON Schema converter, into whatever imports it: 540 KB of the worker's
 * bundle, and 6 MiB of its memory at rest and at its peak (bench/history.md,
 * "zod's mini build"). Modules import this file as the namespace `z` and use its members by
 * name (`z.string()`, `z.reject(ctx, …)`), which is what lets the bundler leave
 * the rest out (a namespace passed around as a value would keep all of it). The locale is set
 * when this module is first evaluated, before any module that imports it can
 * parse anything.
 */
import { en } from 'zod/locales';
import { config, NEVER, type core } from 'zod/mini';

config(en());

export * from 'zod/mini';

/** In a `z.transform`: records `message` as the value's problem (zod's code "custom"); the parse fails with it. */
export function reject(ctx: core.ParsePayload, message: string): never {
  ctx.issues.push({ code: 'custom', message, input: ctx.value });
  return NEVER;
}
