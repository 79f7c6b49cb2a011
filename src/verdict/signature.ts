/**
 * Where a signature name clamd reported comes from, read off the name itself:
 * the one rule that reports, notifications, `bucketscan scan` and the allow list
 * share (docs/detection.md, "Where a detection comes from").
 *
 * - clamd appends `.UNOFFICIAL` to every name from a database ClamAV did not sign
 *   (seen with ClamAV 1.4.6 for .hdb, .hsb, .ndb, .ldb and .yar files). A name
 *   without it comes from ClamAV itself: its signed database, or the engine's own
 *   heuristics (Heuristics.*).
 * - Among unsigned names, custom signatures are told from third-party feeds by a
 *   naming rule that `bucketscan signatures` enforces before it publishes a set:
 *   every custom signature is named `Custom.…`, every custom YARA rule `Custom_…`
 *   (YARA rule names cannot hold dots; clamd reports a rule as `YARA.<rule>`).
 *   The suffix cannot be forged by a database (clamd adds it), so an official
 *   signature is never mistaken for a custom one, whatever it is called.
 */

/** What clamd appends to names from unsigned databases. */
export const UNOFFICIAL_SUFFIX = '.UNOFFICIAL';
/** How clamd reports a match of a YARA rule: `YARA.<rule name>`. */
export const YARA_PREFIX = 'YARA.';
/** The start of every custom signature's name. */
export const CUSTOM_PREFIX = 'Custom.';
/** The start of every custom YARA rule's name. */
export const CUSTOM_YARA_PREFIX = 'Custom_';

/**
 * `clamav`: ClamAV's signed database or its engine; `custom`: the deployment's own
 * signatures (`bucketscan signatures publish`); `third-party`: any other unsigned
 * database, such as a third-party feed (and, in tests and the local stack,
 * bucketscan's own test signatures).
 */
export const SIGNATURE_ORIGINS = ['clamav', 'custom', 'third-party'] as const;
export type SignatureOrigin = (typeof SIGNATURE_ORIGINS)[number];

/** The origin of a name as clamd reported it. */
export function signatureOrigin(reported: string): SignatureOrigin {
  if (!reported.endsWith(UNOFFICIAL_SUFFIX)) return 'clamav';
  return isCustomName(databaseName(reported)) ? 'custom' : 'third-party';
}

/**
 * The name as it is written in its database: without clamd's `.UNOFFICIAL`
 * suffix, and a YARA rule without clamd's `YARA.` prefix. That is the name an
 * `.ign2` file must hold to ignore it (checked with ClamAV 1.4.6: `YARA.<rule>`
 * in an .ign2 file ignores nothing, `<rule>` does).
 */
export function databaseName(reported: string): string {
  const name = reported.endsWith(UNOFFICIAL_SUFFIX) ? reported.slice(0, -UNOFFICIAL_SUFFIX.length) : reported;
  return name.startsWith(YARA_PREFIX) && name.length > YARA_PREFIX.length ? name.slice(YARA_PREFIX.length) : name;
}

/** Whether a name, as written in a database, follows the custom naming rule. */
export function isCustomName(name: string): boolean {
  return (
    (name.startsWith(CUSTOM_PREFIX) && name.length > CUSTOM_PREFIX.length) ||
    (name.startsWith(CUSTOM_YARA_PREFIX) && name.length > CUSTOM_YARA_PREFIX.length)
  );
}
