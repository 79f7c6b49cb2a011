/**
 * The allow list: files clamd must not flag (by SHA-256) and signatures it must
 * ignore (by name), each with who added it, when and why. It is kept as a JSON
 * document beside the database files it becomes (`.sfp` and `.ign2`, ClamAV's own
 * false-positive mechanisms), and read back with a schema like anything read
 * from outside. Entries are never deleted: a removal is recorded on the entry,
 * and every version of the document is kept (see publish.ts).
 */
import * as z from '../shared/zod.ts';
import { databaseName } from '../verdict/signature.ts';
import { ALLOW_DATABASES, buildFile, type PublishedFile } from './set.ts';

export const ALLOW_KINDS = ['sha256', 'signature'] as const;
export type AllowKind = (typeof ALLOW_KINDS)[number];

const actor = z.object({ by: z.string(), at: z.string(), reason: z.string().check(z.minLength(1)) });

const entrySchema = z.object({
  id: z.number().check(z.int(), z.positive()),
  kind: z.enum(ALLOW_KINDS),
  /** A SHA-256 in lowercase hex, or a signature name as written in its database. */
  value: z.string().check(z.minLength(1)),
  /** For a hash: the file's size in bytes when it was given (a hash signature is then matched on both). */
  size: z.optional(z.number().check(z.int(), z.nonnegative())),
  added: actor,
  removed: z.optional(actor),
});

const listSchema = z.object({
  format: z.literal('bucketscan-allow-list'),
  version: z.number().check(z.int(), z.nonnegative()),
  entries: z.array(entrySchema),
});

export type AllowEntry = z.infer<typeof entrySchema>;
export type AllowList = z.infer<typeof listSchema>;
export type Actor = z.infer<typeof actor>;

export function emptyAllowList(): AllowList {
  return { format: 'bucketscan-allow-list', version: 0, entries: [] };
}

/** A stored allow list, checked; the error names what is wrong with it. */
export function parseAllowList(document: unknown): { ok: true; list: AllowList } | { ok: false; problem: string } {
  const parsed = listSchema.safeParse(document);
  if (parsed.success) return { ok: true, list: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, problem: `${issue?.path.join('.') || 'the document'}: ${issue?.message ?? 'invalid'}` };
}

const SHA256 = /^[0-9a-f]{64}$/;

/** A hash as typed: hex in either case, an optional "sha256:" in front. */
export function normaliseSha256(text: string): string | undefined {
  const hash = text
    .trim()
    .replace(/^sha256:/i, '')
    .toLowerCase();
  return SHA256.test(hash) ? hash : undefined;
}

/**
 * Names of "could not scan all of this", not of a detection. Ignoring one would
 * turn an encrypted or over-limit file into a clean one, which bucketscan never
 * does (UNSCANNABLE_ACTION is the setting for them).
 */
const UNSCANNABLE_NAMES = /^Heuristics\.(Limits\.Exceeded|Encrypted)\./;

/**
 * A signature name as reported (`Win.Test.EICAR_HDB-1.UNOFFICIAL`, `YARA.Rule.UNOFFICIAL`)
 * or as written in a database, as the .ign2 line that ignores it; or why it cannot be.
 */
export function ignoredName(reported: string): { ok: true; name: string } | { ok: false; problem: string } {
  const name = databaseName(reported.trim());
  if (!/^[\x21-\x7e]{1,200}$/.test(name) || name.includes(':')) {
    return { ok: false, problem: `${JSON.stringify(reported)} is not a signature name (printable ASCII, no blanks or ":")` };
  }
  if (UNSCANNABLE_NAMES.test(name)) {
    return {
      ok: false,
      problem:
        `${name} means clamd could not scan the whole file, not that it found something; ignoring it would pass such files as clean. ` +
        'Use UNSCANNABLE_ACTION (docs/behaviour.md) or release the one file',
    };
  }
  return { ok: true, name };
}

export type AllowChange = { kind: 'sha256'; value: string; size?: number } | { kind: 'signature'; value: string };

function sameThing(entry: AllowEntry, change: AllowChange): boolean {
  return entry.kind === change.kind && entry.value === change.value;
}

/** The active entry for a hash or name, if any. */
export function activeEntry(list: AllowList, change: AllowChange): AllowEntry | undefined {
  return list.entries.find((entry) => !entry.removed && sameThing(entry, change));
}

/** The next version of the list with this entry added. The caller checks that it is not already there. */
export function addEntry(list: AllowList, change: AllowChange, added: Actor): { list: AllowList; entry: AllowEntry } {
  const id = list.entries.reduce((max, entry) => Math.max(max, entry.id), 0) + 1;
  const entry: AllowEntry = {
    id,
    kind: change.kind,
    value: change.value,
    ...(change.kind === 'sha256' && change.size !== undefined ? { size: change.size } : {}),
    added,
  };
  return { list: { ...list, version: list.version + 1, entries: [...list.entries, entry] }, entry };
}

/** The next version of the list with the active entry for this hash or name marked removed; undefined when there is none. */
export function removeEntry(list: AllowList, change: AllowChange, removed: Actor): { list: AllowList; entry: AllowEntry } | undefined {
  const current = activeEntry(list, change);
  if (!current) return undefined;
  const entry = { ...current, removed };
  return { list: { ...list, version: list.version + 1, entries: list.entries.map((e) => (e.id === current.id ? entry : e)) }, entry };
}

/**
 * The list as clamd reads it. A hash without a known size is written with size
 * `*`, which ClamAV accepts from functionality level 73 on (ClamAV 0.104).
 */
export function renderAllowDatabases(list: AllowList, header: readonly string[]): PublishedFile[] {
  const active = list.entries.filter((entry) => !entry.removed);
  const source = (entry: AllowEntry) => `allow list entry ${entry.id} (${oneLine(entry.added.reason)})`;
  const sfp = active
    .filter((entry) => entry.kind === 'sha256')
    .map((entry) => ({
      file: source(entry),
      text:
        entry.size === undefined
          ? `${entry.value}:*:bucketscan-allow-${entry.id}:73`
          : `${entry.value}:${entry.size}:bucketscan-allow-${entry.id}`,
    }));
  const ign2 = active.filter((entry) => entry.kind === 'signature').map((entry) => ({ file: source(entry), text: entry.value }));
  const version = `allow list version ${list.version}`;
  return [
    buildFile(ALLOW_DATABASES.sfp, 'sfp', [...header, version, 'files clamd must not flag, by SHA-256'], sfp),
    buildFile(ALLOW_DATABASES.ign2, 'ign2', [...header, version, 'signatures clamd ignores, by name'], ign2),
  ];
}

/** A reason inside a one-line comment. */
function oneLine(text: string): string {
  const flat = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return flat.length > 100 ? `${flat.slice(0, 99)}…` : flat;
}
