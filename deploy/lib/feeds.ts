/**
 * Third-party ClamAV databases the definitions updater can mirror, opt-in: each
 * feed's files, where they come from, and the least time between two requests
 * for one of them (the provider's rate limit, which the updater keeps: a file
 * asked for less than that long ago is not asked again, whatever the schedule).
 * freshclam fetches and tests them in the updater (deploy/updater/freshclam.sh);
 * every scanning task then reads them from the mirror's feeds/ folder, never from
 * the provider. docs/detection.md lists each feed's licence and terms: read them
 * before enabling one.
 *
 * Intervals and the default file lists follow the providers' own guidance as
 * fangfrisch (a ClamAV companion tool for these feeds) records it: SaneSecurity
 * once an hour, leaving out the files SaneSecurity marks as prone to false
 * positives; URLhaus every 10 minutes (abuse.ch asks for no more than every 5).
 * The updater runs hourly, so in practice each is asked once an hour at most.
 */

export interface Feed {
  /** How the template and the docs name it. */
  readonly name: string;
  /** Where its files are fetched from (a folder URL, ending in "/"). */
  readonly baseUrl: string;
  /** The database files fetched. */
  readonly files: readonly string[];
  /** Least seconds between two requests for one file. */
  readonly intervalSeconds: number;
}

export const FEEDS = {
  sanesecurity: {
    name: 'sanesecurity',
    baseUrl: 'http://mirror.sentries.org/sanesecurity/',
    // Malware, malicious macros and links, and SaneSecurity's own false-positive
    // list (sigwhitelist.ign2); the mail-only spam and phishing lists are left out
    // for a file-upload scanner.
    files: [
      'badmacro.ndb',
      'blurl.ndb',
      'bofhland_malware_attach.hdb',
      'foxhole_generic.cdb',
      'foxhole_filename.cdb',
      'hackingteam.hsb',
      'malwarehash.hsb',
      'porcupine.ndb',
      'rogue.hdb',
      'shelter.ldb',
      'sigwhitelist.ign2',
      'winnow_malware.hdb',
      'winnow_malware_links.ndb',
    ],
    intervalSeconds: 3600,
  },
  urlhaus: {
    name: 'urlhaus',
    baseUrl: 'https://urlhaus.abuse.ch/downloads/',
    files: ['urlhaus.ndb'],
    intervalSeconds: 600,
  },
} as const satisfies Record<string, Feed>;

export type FeedName = keyof typeof FEEDS;
export const FEED_NAMES = Object.keys(FEEDS) as FeedName[];

/** What the updater and the scanning tasks are told about a set of feeds. */
export interface FeedSettings {
  /** The updater's FEEDS: one "<url> <interval seconds>" per line. */
  readonly sources: string;
  /** The scanning tasks' FRESHCLAM_FEEDS: the file names, blank-separated. */
  readonly files: string;
}

export function feedSettings(names: readonly FeedName[]): FeedSettings {
  const feeds = [...new Set(names)].map((name) => FEEDS[name]);
  const files = feeds.flatMap((feed) => feed.files.map((file) => ({ feed, file })));
  const seen = new Set<string>();
  for (const { file } of files) {
    if (seen.has(file)) throw new Error(`two feeds publish ${file}: they would overwrite each other in the mirror`);
    seen.add(file);
  }
  return {
    sources: files.map(({ feed, file }) => `${feed.baseUrl}${file} ${feed.intervalSeconds}`).join('\n'),
    files: files.map(({ file }) => file).join(' '),
  };
}

/** The choices of the template's ThirdPartyFeeds parameter, as mapping keys (letters only). */
export const FEED_CHOICES: Record<string, readonly FeedName[]> = {
  none: [],
  sanesecurity: ['sanesecurity'],
  urlhaus: ['urlhaus'],
  both: ['sanesecurity', 'urlhaus'],
};
