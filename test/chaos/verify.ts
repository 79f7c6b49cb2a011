/**
 * The exact end-state check of a chaos run. Every file of the corpus is judged
 * against what must (and must not) have happened to it, from the emulator's own
 * state (bucket listings, stored reports) and from the recording of everything it
 * was asked to do (every message ever sent to the validation queue, every publish).
 *
 * Kinds of deviation, each counted per file:
 * - lost: an effect that must exist is missing (a clean file never forwarded; an
 *   infected file with no quarantine copy, report or notification; a file deleted
 *   from the unprocessed bucket without its quarantine copy);
 * - misplaced: an effect that must not exist is there (anything infected or
 *   unscanned forwarded; a clean file quarantined, notified or removed; an invalid
 *   key touched; an infected file left in the unprocessed bucket);
 * - misreported: the effect exists but says the wrong thing (a report or a
 *   notification with the wrong status, signature, key or size; a quarantine copy
 *   that is not the uploaded content).
 * Duplicates (a second forward, notification, report or copy) are allowed by the
 * at-least-once design and counted.
 */
import type { CorpusFile } from './corpus.ts';
import type { Recording } from './recorder.ts';

export interface StoredObject {
  key: string;
  eTag: string;
  size: number;
}

export interface EndState {
  unprocessed: Map<string, StoredObject>;
  quarantine: Map<string, StoredObject>;
  /** Parsed `<key>.report.json` documents, by quarantine report key. */
  reports: Map<string, unknown>;
  /** Messages left on each queue at the end (ready + delayed + in flight). */
  inboundLeft: number;
  deadLetterLeft: number;
}

export type ProblemKind = 'lost' | 'misplaced' | 'misreported';

export interface Problem {
  key: string;
  variant: string;
  kind: ProblemKind;
  detail: string;
}

export interface Verdict {
  files: number;
  byExpectation: Record<string, number>;
  /** Files with at least one problem of each kind. */
  lost: number;
  misplaced: number;
  misreported: number;
  /**
   * Messages sent to the validation queue for anything infected or too large to
   * scan: by key, and by the ETag in the forwarded record (the content's MD5).
   */
  infectedForwarded: number;
  duplicateForwards: number;
  duplicateNotifications: number;
  duplicateReports: number;
  duplicateCopies: number;
  /** Files that saw at least one duplicate effect. */
  filesWithDuplicates: number;
  /** One line per file with a duplicate effect. */
  duplicates: string[];
  forwards: number;
  notifications: number;
  inboxDeliveries: number;
  deadLettered: number;
  deadLetteredKeys: string[];
  inboundLeft: number;
  /** Forwards, notifications and quarantine objects that belong to no file of the corpus. */
  strays: string[];
  /** Files whose upload did not raise exactly one inbound event (a harness problem, not a worker one). */
  eventAnomalies: string[];
  problems: Problem[];
}

const unquote = (eTag: string) => eTag.replace(/^"+|"+$/g, '');

export function verify(corpus: readonly CorpusFile[], state: EndState, recording: Recording, quarantinePrefix: string): Verdict {
  const problems: Problem[] = [];
  const forwardsByKey = new Map<string, Recording['forwards']>();
  for (const forward of recording.forwards) {
    const list = forwardsByKey.get(forward.key ?? '') ?? [];
    list.push(forward);
    forwardsByKey.set(forward.key ?? '', list);
  }
  const notificationsByKey = new Map<string, Recording['notifications']>();
  for (const notification of recording.notifications) {
    const list = notificationsByKey.get(notification.key ?? '') ?? [];
    list.push(notification);
    notificationsByKey.set(notification.key ?? '', list);
  }

  const known = new Set(corpus.map((file) => file.key));
  const expectedQuarantine = new Set<string>();
  let infectedForwarded = 0;
  let duplicateForwards = 0;
  let duplicateNotifications = 0;
  let duplicateReports = 0;
  let duplicateCopies = 0;
  let filesWithDuplicates = 0;
  const byExpectation: Record<string, number> = {};
  const eventAnomalies: string[] = [];
  const duplicates: string[] = [];

  for (const file of corpus) {
    byExpectation[file.expect] = (byExpectation[file.expect] ?? 0) + 1;
    const problem = (kind: ProblemKind, detail: string) => problems.push({ key: file.key, variant: file.variant, kind, detail });
    const forwards = forwardsByKey.get(file.key) ?? [];
    const notifications = notificationsByKey.get(file.key) ?? [];
    const objectKey = `${quarantinePrefix}${file.key}`;
    const reportKey = `${objectKey}.report.json`;
    const left = state.unprocessed.get(file.key);
    const quarantined = state.quarantine.get(objectKey);
    const reported = state.quarantine.get(reportKey);
    const events = recording.inboundEvents.get(file.key) ?? 0;
    if (events !== 1) eventAnomalies.push(`${file.key}: ${events} inbound events`);

    let duplicated = false;
    switch (file.expect) {
      case 'clean': {
        if (forwards.length === 0) problem('lost', 'clean file never forwarded');
        if (forwards.length > 1) {
          duplicateForwards += forwards.length - 1;
          duplicated = true;
        }
        for (const forward of forwards) if (forward.status !== 'CLEAN') problem('misreported', `forwarded with status ${forward.status}`);
        if (!left) problem('misplaced', 'clean file gone from the unprocessed bucket');
        else if (unquote(left.eTag) !== file.md5 || left.size !== file.size)
          problem('misplaced', 'clean file changed in the unprocessed bucket');
        if (quarantined || reported) problem('misplaced', 'clean file quarantined');
        if (notifications.length > 0) problem('misplaced', 'clean file notified as infected');
        break;
      }
      case 'infected':
      case 'too-large': {
        expectedQuarantine.add(objectKey).add(reportKey);
        if (forwards.length > 0) problem('misplaced', `${file.expect} file FORWARDED as clean (${forwards.length}x)`);
        if (!quarantined) {
          problem(
            'lost',
            left ? `${file.expect} file never quarantined (still in unprocessed)` : `${file.expect} file DELETED WITHOUT A QUARANTINE COPY`,
          );
        } else if (unquote(quarantined.eTag) !== file.md5 || quarantined.size !== file.size) {
          problem('misreported', 'quarantine copy differs from the upload');
        }
        if (left && quarantined) problem('misplaced', `${file.expect} file quarantined but still in the unprocessed bucket`);
        if (!reported) {
          problem('lost', 'no quarantine report');
        } else {
          const report = state.reports.get(reportKey) as Record<string, unknown> | undefined;
          const wrong = reportProblems(report, file);
          if (wrong) problem('misreported', `report: ${wrong}`);
        }
        if (notifications.length === 0) problem('lost', 'no notification published');
        for (const notification of notifications) {
          const wrong = reportProblems(notification.report, file);
          if (wrong) problem('misreported', `notification: ${wrong}`);
        }
        if (notifications.length > 1) {
          duplicateNotifications += notifications.length - 1;
          duplicated = true;
        }
        // A copy of the report onto itself only rewrites its metadata (the progress
        // record of an idempotent quarantine); only fresh writes are second reports.
        const reportWrites = (recording.quarantineWrites.get(reportKey) ?? 0) - (recording.quarantineCopies.get(reportKey) ?? 0);
        if (reportWrites > 1) {
          duplicateReports += reportWrites - 1;
          duplicated = true;
        }
        const copies = recording.quarantineCopies.get(objectKey) ?? 0;
        if (copies > 1) {
          duplicateCopies += copies - 1;
          duplicated = true;
        }
        break;
      }
      case 'invalid': {
        if (forwards.length > 0) problem('misplaced', `invalid key forwarded (${forwards.length}x)`);
        if (notifications.length > 0) problem('misplaced', 'invalid key notified');
        if (quarantined || reported) problem('misplaced', 'invalid key quarantined');
        if (!left) problem('misplaced', 'invalid key removed from the unprocessed bucket');
        else if (unquote(left.eTag) !== file.md5 || left.size !== file.size) problem('misplaced', 'invalid key changed');
        break;
      }
    }
    if (duplicated) {
      filesWithDuplicates += 1;
      const copies = recording.quarantineCopies.get(objectKey) ?? 0;
      duplicates.push(
        `${file.key} [${file.variant}]: ${forwards.length} forwards, ${notifications.length} notifications, ${copies} copies`,
      );
    }
  }

  // Nothing infected forwarded, checked on every message ever sent to the validation
  // queue rather than per file: by the key it names and by the ETag it carries.
  const infectedContent = (file: CorpusFile) =>
    file.expect === 'infected' || file.expect === 'too-large' || file.variant === 'invalid-infected';
  const infectedKeys = new Set(corpus.filter(infectedContent).map((file) => file.key));
  const cleanMd5s = new Set(corpus.filter((file) => !infectedContent(file)).map((file) => file.md5));
  const infectedMd5s = new Set(
    corpus
      .filter(infectedContent)
      .map((file) => file.md5)
      .filter((md5) => !cleanMd5s.has(md5)),
  );
  for (const forward of recording.forwards) {
    const eTag = forwardedETag(forward.body);
    if ((forward.key !== undefined && infectedKeys.has(forward.key)) || (eTag !== undefined && infectedMd5s.has(eTag)))
      infectedForwarded += 1;
  }

  const strays: string[] = [];
  for (const forward of recording.forwards)
    if (!forward.key || !known.has(forward.key)) strays.push(`forward of ${forward.key ?? forward.body.slice(0, 80)}`);
  for (const notification of recording.notifications)
    if (!notification.key || !known.has(notification.key))
      strays.push(`notification of ${notification.key ?? notification.body.slice(0, 80)}`);
  for (const key of state.quarantine.keys()) if (!expectedQuarantine.has(key)) strays.push(`quarantine object ${key}`);

  const filesWith = (kind: ProblemKind) => new Set(problems.filter((p) => p.kind === kind).map((p) => p.key)).size;
  return {
    files: corpus.length,
    byExpectation,
    lost: filesWith('lost'),
    misplaced: filesWith('misplaced'),
    misreported: filesWith('misreported'),
    infectedForwarded,
    duplicateForwards,
    duplicateNotifications,
    duplicateReports,
    duplicateCopies,
    filesWithDuplicates,
    duplicates,
    forwards: recording.forwards.length,
    notifications: recording.notifications.length,
    inboxDeliveries: recording.inboxDeliveries,
    deadLettered: Math.max(recording.deadLettered.length, state.deadLetterLeft),
    deadLetteredKeys: recording.deadLettered.flatMap((entry) => entry.keys),
    inboundLeft: state.inboundLeft,
    strays,
    eventAnomalies,
    problems,
  };
}

function forwardedETag(body: string): string | undefined {
  try {
    const document = JSON.parse(body) as { Records?: Array<{ s3?: { object?: { eTag?: unknown } } }> };
    const eTag = document.Records?.[0]?.s3?.object?.eTag;
    return typeof eTag === 'string' ? unquote(eTag) : undefined;
  } catch {
    return undefined;
  }
}

/** What is wrong with a report (or notification) for this file, or undefined. */
function reportProblems(report: unknown, file: CorpusFile): string | undefined {
  if (typeof report !== 'object' || report === null) return 'not a JSON report';
  const r = report as Record<string, unknown>;
  const wrong: string[] = [];
  const status = file.expect === 'too-large' ? 'TOO_LARGE' : 'INFECTED';
  if (r['key'] !== file.key) wrong.push(`key ${JSON.stringify(r['key'])}`);
  if (r['status'] !== status) wrong.push(`status ${JSON.stringify(r['status'])} (expected ${status})`);
  if (r['signature'] !== file.signature)
    wrong.push(`signature ${JSON.stringify(r['signature'])} (expected ${JSON.stringify(file.signature)})`);
  if (r['size'] !== file.size) wrong.push(`size ${JSON.stringify(r['size'])} (expected ${file.size})`);
  return wrong.length > 0 ? wrong.join(', ') : undefined;
}
