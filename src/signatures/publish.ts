/**
 * One publication of a detection set: what is there now, what the next version
 * holds, and writing it. Every publication has a version number; claiming it
 * (`history/manifest.v<N>.json`, written only if absent) is what stops two
 * people publishing at once from overwriting each other: the second is told to
 * run again. The allow list keeps every version it had (`history/allow-list.v<N>.json`).
 *
 * A publication changes either the custom signatures or the allow list, and
 * writes only the files it changes, plus any file of the set that is missing
 * (every clamd fetches every one of them: see set.ts).
 */
import { createHash } from 'node:crypto';
import * as z from '../shared/zod.ts';
import { emptyAllowList, parseAllowList, renderAllowDatabases, type AllowList } from './allow-list.ts';
import type { MemoryFigures } from './memory.ts';
import {
  ALLOW_LIST_FILE,
  HISTORY_FOLDER,
  LIMITS_FILE,
  MANIFEST_FILE,
  PUBLISHED_DATABASES,
  renderCustomDatabases,
  type DefinedSignature,
  type PublishedFile,
  type SourceFile,
} from './set.ts';
import type { SetTarget } from './target.ts';

const fileSchema = z.object({ name: z.string(), sha256: z.string(), bytes: z.number(), version: z.number() });

const manifestSchema = z.object({
  format: z.literal('bucketscan-detection-set'),
  version: z.number().check(z.int(), z.positive()),
  publishedAt: z.string(),
  publishedBy: z.string(),
  change: z.enum(['signatures', 'allow-list']),
  /** The custom signatures' sources as last published: each file's hash and the names it defines. */
  sources: z.array(z.object({ file: z.string(), sha256: z.string(), signatures: z.array(z.string()) })),
  allowListVersion: z.number().check(z.int(), z.nonnegative()),
  files: z.array(fileSchema),
  memory: z.optional(
    z.object({ setBytes: z.number(), loadedBytes: z.number(), reloadPeakBytes: z.number(), officialMeasured: z.boolean() }),
  ),
});

export type Manifest = z.infer<typeof manifestSchema>;

const limitsSchema = z.object({
  format: z.literal('bucketscan-limits'),
  /** What a reloading clamd may hold of databases (the deployment's sizing: its memory less what its scans need). */
  databaseMemoryMiB: z.number().check(z.int(), z.positive()),
  clamdMemoryMiB: z.optional(z.nullable(z.number().check(z.int(), z.positive()))),
});

export type Limits = z.infer<typeof limitsSchema>;

/** What a target holds now. */
export interface Published {
  manifest: Manifest | undefined;
  allowList: AllowList;
  /** The database files present, by name. */
  databases: Map<string, string>;
  /** What the deployment says each clamd has for its databases, when it says. */
  limits: Limits | undefined;
}

/** Something stored that this version cannot read: stops a publish rather than being overwritten. */
export class StoredSetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoredSetError';
  }
}

function parseJson(target: SetTarget, name: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new StoredSetError(`${target.location}${name} is not JSON: fix or remove it by hand`);
  }
}

export async function readPublished(target: SetTarget): Promise<Published> {
  const manifestText = await target.read(MANIFEST_FILE);
  let manifest: Manifest | undefined;
  if (manifestText !== undefined) {
    const parsed = manifestSchema.safeParse(parseJson(target, MANIFEST_FILE, manifestText));
    if (!parsed.success)
      throw new StoredSetError(`${target.location}${MANIFEST_FILE} is not a bucketscan manifest: ${parsed.error.issues[0]?.message}`);
    manifest = parsed.data;
  }
  const listText = await target.read(ALLOW_LIST_FILE);
  let allowList = emptyAllowList();
  if (listText !== undefined) {
    const parsed = parseAllowList(parseJson(target, ALLOW_LIST_FILE, listText));
    if (!parsed.ok) throw new StoredSetError(`${target.location}${ALLOW_LIST_FILE} is not a bucketscan allow list (${parsed.problem})`);
    allowList = parsed.list;
  }
  const databases = new Map<string, string>();
  for (const name of PUBLISHED_DATABASES) {
    const text = await target.read(name);
    if (text !== undefined) databases.set(name, text);
  }
  const limitsText = await target.read(LIMITS_FILE);
  let limits: Limits | undefined;
  if (limitsText !== undefined) {
    const parsed = limitsSchema.safeParse(parseJson(target, LIMITS_FILE, limitsText));
    if (!parsed.success)
      throw new StoredSetError(`${target.location}${LIMITS_FILE} is not bucketscan's limits: ${parsed.error.issues[0]?.message}`);
    limits = parsed.data;
  }
  return { manifest, allowList, databases, limits };
}

export type SetChange =
  | { kind: 'signatures'; sources: readonly SourceFile[]; signatures: readonly DefinedSignature[] }
  | { kind: 'allow-list'; list: AllowList };

/** The next version: every file clamd would load, and which of them this publication writes. */
export interface Publication {
  version: number;
  change: SetChange;
  /** The whole set as clamd will load it. */
  files: PublishedFile[];
  /** The names among `files` that are written. */
  writes: string[];
  allowList: AllowList;
  publishedAt: string;
  publishedBy: string;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The header of every generated file. */
function header(version: number, at: string, by: string): string[] {
  return [
    `bucketscan detection set version ${version}, published ${at} by ${by}`,
    'generated by bucketscan signatures publish / bucketscan allow: do not edit',
  ];
}

/** The next version of the set on top of what is published. */
export function planPublication(current: Published, change: SetChange, publishedBy: string, now: Date): Publication {
  const version = (current.manifest?.version ?? 0) + 1;
  const publishedAt = now.toISOString();
  const head = header(version, publishedAt, publishedBy);
  const allowList = change.kind === 'allow-list' ? change.list : current.allowList;
  const fresh = new Map<string, PublishedFile>();
  if (change.kind === 'signatures') for (const file of renderCustomDatabases(change.sources, head)) fresh.set(file.name, file);
  if (change.kind === 'allow-list') for (const file of renderAllowDatabases(allowList, head)) fresh.set(file.name, file);
  // A file of the set that is missing is written too, so that every clamd finds all of them.
  const missing = PUBLISHED_DATABASES.filter((name) => !fresh.has(name) && !current.databases.has(name));
  if (missing.length > 0) {
    const all = [...renderCustomDatabases([], head), ...renderAllowDatabases(allowList, head)];
    for (const name of missing) fresh.set(name, all.find((file) => file.name === name)!);
  }
  const files = PUBLISHED_DATABASES.map((name) => fresh.get(name) ?? { name, text: current.databases.get(name) ?? '', origins: [] });
  return { version, change, files, writes: PUBLISHED_DATABASES.filter((name) => fresh.has(name)), allowList, publishedAt, publishedBy };
}

function manifestOf(publication: Publication, current: Published, memory: MemoryFigures | undefined): Manifest {
  const earlier = new Map((current.manifest?.files ?? []).map((file) => [file.name, file]));
  const { change } = publication;
  return {
    format: 'bucketscan-detection-set',
    version: publication.version,
    publishedAt: publication.publishedAt,
    publishedBy: publication.publishedBy,
    change: change.kind,
    sources:
      change.kind === 'signatures'
        ? change.sources.map((source) => ({
            file: source.name,
            sha256: sha256(source.text),
            signatures: change.signatures.filter((signature) => signature.file === source.name).map((signature) => signature.name),
          }))
        : (current.manifest?.sources ?? []),
    allowListVersion: publication.allowList.version,
    files: publication.files.map((file) =>
      publication.writes.includes(file.name)
        ? { name: file.name, sha256: sha256(file.text), bytes: Buffer.byteLength(file.text), version: publication.version }
        : (earlier.get(file.name) ?? { name: file.name, sha256: sha256(file.text), bytes: Buffer.byteLength(file.text), version: 0 }),
    ),
    ...(memory
      ? {
          memory: {
            setBytes: memory.setBytes,
            loadedBytes: memory.loadedBytes,
            reloadPeakBytes: memory.reloadPeakBytes,
            officialMeasured: memory.official.measured,
          },
        }
      : {}),
  };
}

/** Someone else published this version first. */
export class PublicationConflict extends Error {
  constructor(location: string, version: number) {
    super(`someone else published version ${version} of ${location} meanwhile: run the command again to build on it`);
    this.name = 'PublicationConflict';
  }
}

/**
 * Writes a checked publication: the version is claimed first (a conflict stops
 * here with nothing changed), then the allow list's own history, the database
 * files, the allow list, and the manifest last, which says the publication is
 * complete.
 */
export async function writePublication(
  target: SetTarget,
  current: Published,
  publication: Publication,
  memory: MemoryFigures | undefined,
): Promise<Manifest> {
  const manifest = manifestOf(publication, current, memory);
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  if (!(await target.create(`${HISTORY_FOLDER}manifest.v${publication.version}.json`, text))) {
    throw new PublicationConflict(target.location, publication.version);
  }
  if (publication.change.kind === 'allow-list') {
    const list = `${JSON.stringify(publication.allowList, null, 2)}\n`;
    if (!(await target.create(`${HISTORY_FOLDER}allow-list.v${publication.allowList.version}.json`, list))) {
      throw new PublicationConflict(target.location, publication.version);
    }
    await target.write(ALLOW_LIST_FILE, list);
  }
  for (const file of publication.files) if (publication.writes.includes(file.name)) await target.write(file.name, file.text);
  await target.write(MANIFEST_FILE, text);
  return manifest;
}

/**
 * Makes sure a target holds a whole set: where nothing was ever published, an
 * empty one (every file a comment), so that every clamd reading it finds each
 * file it names. Returns false when a set was there already.
 */
export async function initialiseSet(target: SetTarget, publishedBy: string, now: Date): Promise<boolean> {
  const current = await readPublished(target);
  if (current.manifest) return false;
  const publication = planPublication(current, { kind: 'allow-list', list: current.allowList }, publishedBy, now);
  try {
    await writePublication(target, current, publication, undefined);
  } catch (error) {
    // Someone else initialised it at the same moment: their set is as good.
    if (!(error instanceof PublicationConflict)) throw error;
  }
  return true;
}
