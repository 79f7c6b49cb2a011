/**
 * Renders a chaos run: a plain table for the terminal and docs/reliability.md.
 */
import { APPLIED_FAULTS, NOT_APPLIED_FAULTS, type FaultKind } from '../../harness/aws-proxy.ts';
import type { ChaosResult } from './chaos.ts';

const FAULT_MEANING: Record<FaultKind, string> = {
  'http-500': 'HTTP 500 (InternalError / InternalFailure) instead of forwarding',
  'http-503': 'HTTP 503 (ServiceUnavailable) instead of forwarding',
  throttle: 'throttling instead of forwarding: S3 503 SlowDown, SQS 400 RequestThrottled, SNS 400 Throttling',
  'reset-request': 'connection reset while the request was arriving',
  'partial-batch':
    'SQS batch call (SendMessageBatch, DeleteMessageBatch…) answered 200 with some entries Failed; those never reached the emulator',
  outage: 'inside an outage window: every request to one service refused (503 or throttling)',
  'reset-response': 'forwarded and carried out, then the connection reset before the response',
  'error-after': 'forwarded and carried out, then answered HTTP 500',
  'truncate-reset': 'GetObject: headers and part of the body, then a connection reset',
  'truncate-close': 'GetObject: headers and part of the body, then a clean close short of Content-Length',
};

export function figures(result: ChaosResult): Array<[string, string]> {
  const { verdict: v, proxy, worker } = result;
  const notApplied = NOT_APPLIED_FAULTS.reduce((sum, kind) => sum + proxy.faults[kind], 0);
  const applied = APPLIED_FAULTS.reduce((sum, kind) => sum + proxy.faults[kind], 0);
  const expectations = Object.entries(v.byExpectation)
    .map(([name, count]) => `${count} ${name}`)
    .join(', ');
  return [
    ['result', result.failures.length === 0 ? 'PASS' : `FAIL: ${result.failures.join('; ')}`],
    ['seed', String(result.options.seed)],
    ['duration', `${(result.durationMs / 1000).toFixed(1)} s`],
    ['files', `${v.files} (${expectations}); ${(result.corpus.bytes / 1024 / 1024).toFixed(1)} MiB`],
    ['worker SIGKILLs', `${worker.kills} of ${result.options.kills} planned; ${worker.started} worker processes in all`],
    ['worker exits on its own', String(worker.crashes.length)],
    [
      'clamd SIGKILLs / restarts',
      `${result.clamd.kills} / ${result.clamd.restarts} (down ${result.clamd.downtimeMs.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ') || '-'})`,
    ],
    ['requests through the proxy', String(proxy.requests)],
    ['faults injected', `${notApplied + applied}: ${notApplied} not applied, ${applied} applied but reported as failed`],
    [
      'outage windows',
      `${result.outagesDone} (${proxy.outages.map((o) => `${o.service} ${o.style} ${(o.durationMs / 1000).toFixed(1)} s`).join(', ') || '-'})`,
    ],
    ['slow responses', `${proxy.delayed} (${(proxy.delayMsTotal / 1000).toFixed(1)} s in all)`],
    ['lost', String(v.lost)],
    ['misplaced', String(v.misplaced)],
    ['misreported', String(v.misreported)],
    ['infected or unscanned forwarded', String(v.infectedForwarded)],
    ['duplicate forwards', String(v.duplicateForwards)],
    ['duplicate notifications', String(v.duplicateNotifications)],
    ['duplicate reports (rewrites)', String(v.duplicateReports)],
    ['duplicate quarantine copies', String(v.duplicateCopies)],
    ['files with any duplicate', String(v.filesWithDuplicates)],
    ['dead-lettered messages', `${v.deadLettered} (maxReceiveCount ${result.options.maxReceiveCount})`],
    ['messages forwarded / notifications published', `${v.forwards} / ${v.notifications}`],
    ['worker exit on the final SIGTERM', `code ${result.finalExit.code}, signal ${result.finalExit.signal}`],
  ];
}

export function renderTable(result: ChaosResult): string {
  const rows = figures(result);
  const width = Math.max(...rows.map(([name]) => name.length));
  const lines = rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`);
  const faults = ([...NOT_APPLIED_FAULTS, ...APPLIED_FAULTS] as FaultKind[])
    .map((kind) => `${kind}=${result.proxy.faults[kind]}`)
    .join(' ');
  lines.push('', `faults by kind: ${faults}`, `worker log outcomes: ${JSON.stringify(result.worker.outcomes)}`);
  if (result.exampleProblems.length > 0) lines.push('', 'problems (first 40):', ...result.exampleProblems.map((p) => `  ${p}`));
  if (result.verdict.duplicates.length > 0)
    lines.push('', 'files with duplicates (first 30):', ...result.verdict.duplicates.slice(0, 30).map((d) => `  ${d}`));
  if (result.verdict.strays.length > 0) lines.push('', 'strays:', ...result.verdict.strays.slice(0, 20).map((s) => `  ${s}`));
  if (result.verdict.eventAnomalies.length > 0)
    lines.push('', 'event anomalies (harness):', ...result.verdict.eventAnomalies.slice(0, 20).map((s) => `  ${s}`));
  if (result.worker.crashes.length > 0) {
    lines.push('', 'worker exits on its own:');
    for (const crash of result.worker.crashes)
      lines.push(
        `  #${crash.incarnation}: code ${crash.code}, signal ${crash.signal}, after ${crash.uptimeMs} ms: ${crash.stderrTail.slice(-3).join(' | ')}`,
      );
  }
  if (result.failures.length > 0) lines.push('', `worker log tail:`, ...result.workerTail.slice(-25).map((l) => `  ${l.slice(0, 400)}`));
  lines.push('', `logs: ${result.runDir}`);
  return lines.join('\n');
}

const seconds = ([low, high]: [number, number]) => (low === high ? `${low / 1000} s` : `${low / 1000}-${high / 1000} s`);

const cell = (text: string) => text.replace(/\|/g, '\\|');

export function renderMarkdown(result: ChaosResult, command: string): string {
  const { options, proxy, verdict } = result;
  const rows = figures(result)
    .map(([name, value]) => `| ${cell(name)} | ${cell(value)} |`)
    .join('\n');
  const faultRows = ([...NOT_APPLIED_FAULTS, ...APPLIED_FAULTS] as FaultKind[])
    .map(
      (kind) =>
        `| \`${kind}\` | ${(NOT_APPLIED_FAULTS as readonly string[]).includes(kind) ? 'no' : 'yes'} | ${proxy.faults[kind]} | ${FAULT_MEANING[kind]} |`,
    )
    .join('\n');
  const operations = Object.entries(proxy.byOperation)
    .sort((a, b) => b[1].requests - a[1].requests)
    .map(([name, stats]) => {
      const faults = Object.entries(stats.faults)
        .map(([kind, count]) => `${kind} ${count}`)
        .join(', ');
      return `| ${name} | ${stats.requests} | ${stats.delayed} | ${faults || '-'} |`;
    })
    .join('\n');
  const variants = Object.entries(result.corpus.byVariant)
    .sort()
    .map(([name, count]) => `\`${name}\` ${count}`)
    .join(', ');
  const outcomes = Object.entries(result.worker.outcomes)
    .sort()
    .map(([name, count]) => `\`${name}\` ${count}`)
    .join(', ');
  const problems = Object.entries(result.worker.problems)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([msg, count]) => `| ${cell(msg)} | ${count} |`)
    .join('\n');
  const timeline = result.timeline
    .map((t) => `| ${(t.atMs / 1000).toFixed(1)} s | ${(t.progress * 100).toFixed(0)}% | ${cell(t.event)} |`)
    .join('\n');
  const machine = Object.entries(result.machine)
    .map(([name, value]) => `${name} ${value}`)
    .join('; ');
  const found =
    verdict.problems.length === 0 && result.failures.length === 0
      ? 'None: every file ended exactly where it must, and nothing infected was forwarded.'
      : [...result.failures.map((f) => `- ${f}`), ...result.exampleProblems.map((p) => `- ${cell(p)}`)].join('\n');

  const crashes =
    result.worker.crashes.length === 0
      ? ''
      : `\n\nWorker exits nobody asked for (restarted after a second, as an orchestrator would):\n\n${result.worker.crashes
          .map(
            (c) =>
              `- process #${c.incarnation}, ${c.uptimeMs} ms after its start: code ${c.code}, signal ${c.signal}: \`${cell(c.stderrTail[0] ?? '')}\``,
          )
          .join('\n')}`;

  return `# Reliability

This file is regenerated by the chaos suite (\`make chaos\`); the figures below are
those of the last full run. Edit the generator (\`test/chaos/report.ts\`), not this file.

## Method

The suite runs the real local components, nothing mocked:

- the **fauxqs emulator** (S3, SQS, SNS) in the runner's process, over HTTP, with the
  S3 → SQS notification bridge, an inbound queue with a dead-letter queue
  (\`maxReceiveCount\` ${options.maxReceiveCount}), the validation queue, the topic and a queue subscribed to it;
- a **fault-injecting proxy** (\`test/chaos/fault-proxy.ts\`) between the worker and the
  emulator: every S3, SQS and SNS call of the worker goes through it;
- a **real clamd** started on a fixed port with the project's test signatures only
  (so that a restart takes about a second);
- **\`bucketscan worker\` as a separate process** (\`node src/cli.ts worker\`), with
  \`CONCURRENCY=${options.concurrency}\`, \`VISIBILITY_TIMEOUT=${options.visibilityTimeout}\`, \`RECEIVE_WAIT_TIME=1\`,
  \`MAX_FILE_SIZE=${options.maxFileSizeMb}\`, \`SHUTDOWN_TIMEOUT=10\`, \`QUARANTINE_PREFIX=infected/\`.

Files (generated from the seed, uploaded straight to the emulator while the worker
runs): ${variants}. Clean files range from empty to several MB; infected ones are
the EICAR file, the test marker buried in the middle of random data up to ${options.maxFileSizeMb} MB, and the
marker inside a zip; \`too-large\` files are just over \`MAX_FILE_SIZE\`; invalid keys
(no UUID folder, nested folders, a file at the root, a malformed UUID) hold clean or
infected content and must be left alone either way. Some filenames need encoding in
S3 events (spaces, \`+\`, \`%\`, \`?\`, non-ASCII).

Chaos, tied to progress (the share of files whose outcome is complete) at points
drawn from the seed, so that it is spread over the work whatever the machine's speed:

- the worker **SIGKILLed** ${options.kills} times and restarted at once (an exit nobody asked
  for is counted and restarted after a second, as an orchestrator would);
- **clamd SIGKILLed** ${options.clamdKills} time(s) and restarted ${seconds(options.clamdDownMs)} later on the same port;
- **faults** on ${(options.faultRate * 100).toFixed(0)}% of the worker's requests and **slow responses**
  (0.1-2.5 s) on ${(options.delayRate * 100).toFixed(0)}%, plus ${options.outages} **outage windows** (${seconds(options.outageMs)}
  in which one service refuses every request). Error bodies are the real services'
  in the protocol each SDK client speaks; \`test/chaos/fault-proxy.test.ts\` checks
  that the SDK classifies each one as retryable, that applied faults really reach
  the emulator, and that a GetObject body cut off part-way fails the read.

| fault | applied? | count | what the worker sees |
|---|---|---|---|
${faultRows}

"Applied" faults are the dangerous kind: the step happened, the worker is told it
failed, and a retry repeats it.

When every file's event has been queued and the inbound queue is empty (nothing
ready, delayed or in flight) with clamd up and a worker running, the worker is
stopped with SIGTERM and the end state is checked exactly, from the emulator's
buckets and from a recording of every message it was sent (every message ever sent
to the validation queue, every SNS publish, every object written or deleted):

- every **infected** (and too-large) file: in quarantine with the uploaded content,
  with its \`.report.json\` (right key, status, signature and size), at least one
  notification saying the same, and gone from the unprocessed bucket; never forwarded;
- every **clean** file: forwarded at least once (status \`CLEAN\`), still in place and
  unchanged, never quarantined nor notified;
- every **invalid** key: untouched, never forwarded, quarantined or notified;
- **nothing infected ever forwarded**, whatever its key; no forward, notification or
  quarantine object that belongs to no file.

A file is **lost** when an effect it must have is missing, **misplaced** when it has
an effect it must not have, **misreported** when a report or notification says the
wrong thing. **Duplicates** (a second forward, notification, report write or copy)
are what at-least-once delivery allows; they are counted, not failed.

## Last run

${result.startedAt.toISOString()}, \`${command}\`

Machine: ${machine}.

| figure | value |
|---|---|
${rows}

Worker log outcomes (one line per record handled, retries included): ${outcomes || '-'}.

Requests and faults per operation:

| operation | requests | slowed | faults |
|---|---|---|---|
${operations}

Warnings and errors the worker logged (most frequent):

| message | count |
|---|---|
${problems || '| - | - |'}

Timeline:

| time | progress | event |
|---|---|---|
${timeline}

Problems found:

${found}${crashes}

## Other scenarios

The same runner takes the chaos apart for a closer look (each prints the same
figures; add \`--report <file>\` to keep them):

- the production redrive setting against a long clamd outage:
  \`node test/chaos/run.ts --files 150 --kills 0 --outages 0 --max-receive-count 5 --clamd-down-seconds 60\`
  (without the outage gating, the messages received during the outage would use up
  their five receives and land in the dead-letter queue, counted as lost);
- outages longer than the visibility timeout (heartbeats fail, messages reappear while
  in work): \`--outage-seconds 12-16\`;
- a hostile network: \`--fault-rate 0.25 --kills 20\`;
- a repeat of any run: the same \`--seed\` (the inputs and the schedule repeat; the
  exact interleaving of processes does not).

## What each guarantee rests on

- **No message is lost to a crash: visibility timeout and delete-after-work.** A
  message is deleted only after every record in it has reached its outcome; anything
  that throws keeps it. A worker killed mid-message never deletes it, so it comes back
  when its visibility timeout ends and is done again. This is what the SIGKILLs test
  (the "lost" figure).
- **The version scanned is the version acted on: version-pinned reads.** The object
  is read by \`VersionId\` (or \`If-Match\` on the event's ETag where there is no
  version, as in this emulator), copied to quarantine from that same version, and
  deleted by that version; a key overwritten meanwhile is dropped as changed, and its
  new version has its own event. (The runs here do not overwrite keys; the
  integration and fidelity tiers test that.)
- **Nothing infected is half-removed: copy → report → publish → delete.** The file
  leaves the unprocessed bucket only after its quarantine copy, its report and its
  notification exist. A crash or a failure between steps leaves the file where it
  was and the message on the queue.
- **Each step can be redone: idempotent redo.** A redelivery does only what is left:
  the report's S3 metadata records which source version it is for and, once
  published, the notification's message id (\`src/pipeline/quarantine.ts\`), so the
  copy and report are skipped when they exist for this version and the publish when
  it was recorded; copying the same version again yields the same object; deleting a
  gone object succeeds; a redelivered message whose file is already gone is dropped,
  after announcing a quarantine that died between its report and its notification.
  What cannot be ruled out are duplicates of a step that succeeded while its answer
  was lost (an "applied" fault, then retried by the SDK, which retries throttling, 5xx
  and resets itself before the worker sees a failure) or a kill between a step and its
  record. The duplicate figures count exactly those; none of them is a loss.
- **Nothing is forwarded without a verdict.** A file is forwarded only on clamd's
  \`OK\`; a refused or dropped clamd connection, an \`ERROR\` reply, a timeout, or a
  body that ends short of its length (Node's HTTP client fails the stream) is a
  failure and a retry, never "clean". The clamd kill and the truncated GetObject
  bodies test this; "infected or unscanned forwarded" is checked on every message
  ever sent to the validation queue, by key and by ETag.
- **A clamd outage does not burn the redrive budget.** When a scan fails because clamd
  cannot be reached, the worker stops taking new messages until clamd answers
  \`PING\` again; the messages in work go back with a backoff, and those received
  ahead once its long poll under way has come back (it would take them straight
  back, one more receive each).
- **Long work is not handed out twice: heartbeat.** While a message is in work its
  visibility is extended every third of the timeout. If the heartbeat itself keeps
  failing (an SQS outage), the message can reappear and be done twice: duplicates,
  not losses.
- **A stop loses nothing: graceful shutdown.** On SIGTERM the worker stops receiving,
  lets work in progress finish for \`SHUTDOWN_TIMEOUT\` seconds, returns what is left
  to the queue (visibility 0) once its last long poll has come back (one cut short
  could still be handed the returned messages by SQS) and exits 0; every run ends
  with one, checked.
- **Poison messages stop somewhere: DLQ redrive.** The inbound queue's redrive policy
  moves a message received \`maxReceiveCount\` times to the dead-letter queue. Retries
  back off (\`RETRY_DELAY\`, doubling, capped at the visibility timeout) so a short
  outage does not use up that budget. This run set \`maxReceiveCount\` to ${options.maxReceiveCount} and reports how
  many messages were dead-lettered anyway; a run with the production value 5 is
  \`node test/chaos/run.ts --max-receive-count 5\`.
`;
}
