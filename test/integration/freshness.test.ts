/**
 * The definitions monitor against a real clamd holding only the project's test
 * signatures (officialDatabaseDir: null), as the local stack runs when no
 * official database is installed: clamd 1.4.6 then answers VERSION with
 * "ClamAV 1.4.6" and nothing else, which must read as `test-signatures` (an info
 * line, never a pause), and a clamd that stops answering must become `unknown`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { createLogger } from '../../src/log/logger.ts';
import { startClamd, type ClamdProcess } from '../../src/local/clamd-process.ts';
import { ClamdClient } from '../../src/scan/clamd-client.ts';
import { FAILURES_BEFORE_UNKNOWN, startFreshnessMonitor, type FreshnessMonitor } from '../../src/scan/freshness.ts';

describe('freshness against a real clamd with only the test signatures', () => {
  let workDir: string;
  let clamd: ClamdProcess;
  let monitor: FreshnessMonitor | undefined;
  const lines: Array<Record<string, unknown>> = [];
  const sink: DestinationStream = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };

  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'bucketscan-freshness-it-'));
    clamd = await startClamd({
      workDir,
      streamMaxBytes: 1024 * 1024,
      maxThreads: 2,
      officialDatabaseDir: null,
      logger: createLogger('warn', 'clamd'),
    });
  });

  after(async () => {
    monitor?.stop();
    await clamd?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  test('reads as test-signatures: one info line, no age, no pause even in pause mode; then unknown once clamd is gone', async () => {
    assert.equal(clamd.testSignaturesOnly, true);
    const client = new ClamdClient({ address: clamd.address, connectTimeoutMs: 2_000, idleTimeoutMs: 10_000 });
    // A long interval: this test drives every check itself with checkNow().
    monitor = startFreshnessMonitor({
      readVersion: () => client.version(),
      maxAgeHours: 48,
      mode: 'pause',
      intervalMs: 3_600_000,
      logger: createLogger('info', 'bucketscan', sink),
    });
    const state = await monitor.settled();
    assert.equal(state.status, 'test-signatures');
    assert.equal(state.ageSeconds, null);
    assert.equal(state.databaseVersion, null);
    assert.equal(state.pause, false);
    assert.match(state.clamav ?? '', /^\d+\.\d+/);
    assert.match(
      state.detail,
      new RegExp(`^no official ClamAV database is loaded \\(clamd says "ClamAV ${state.clamav?.replaceAll('.', '\\.')}"\\)`),
    );
    assert.deepEqual(
      lines.map((line) => [line['level'], line['definitions']]),
      [['info', 'test-signatures']],
    );

    await clamd.stop();
    for (let i = 1; i < FAILURES_BEFORE_UNKNOWN; i++) {
      const kept = await monitor.checkNow();
      assert.equal(kept.status, 'test-signatures', 'a failed read keeps the last state');
      assert.equal(kept.consecutiveFailures, i);
    }
    const unknown = await monitor.checkNow();
    assert.equal(unknown.status, 'unknown');
    assert.equal(unknown.pause, false);
    assert.match(
      unknown.detail,
      new RegExp(`^clamd's VERSION could not be read ${FAILURES_BEFORE_UNKNOWN} times in a row \\(last error: .+\\)$`),
    );
    assert.deepEqual(
      lines.map((line) => [line['level'], line['definitions']]),
      [
        ['info', 'test-signatures'],
        ['warn', 'unknown'],
      ],
    );
  });
});
