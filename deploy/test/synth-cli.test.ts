// `npx cdk synth` offline, with no AWS credentials or configuration, and the
// checked-in template equal to what the construct synthesizes now.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { renderTemplate, synthesizeTemplate } from '../lib/synth.ts';

const DEPLOY = fileURLToPath(new URL('..', import.meta.url));

test('npx cdk synth works offline with no AWS credentials and writes the same template', () => {
  const out = mkdtempSync(join(tmpdir(), 'bucketscan-cdk-out-'));
  const home = mkdtempSync(join(tmpdir(), 'bucketscan-home-'));
  try {
    // Only what a fresh shell has: no AWS_* variables, an empty HOME (no ~/.aws).
    const env: Record<string, string> = { PATH: process.env['PATH'] ?? '', HOME: home, CDK_DISABLE_VERSION_CHECK: '1', CI: 'true' };
    const result = spawnSync('npx', ['--no-install', 'cdk', 'synth', '--quiet', '--output', out], {
      cwd: DEPLOY,
      env,
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(result.status, 0, `cdk synth failed:\n${result.stdout}\n${result.stderr}`);
    const synthesized = JSON.parse(readFileSync(join(out, 'BucketScan.template.json'), 'utf8'));
    const checkedIn = JSON.parse(readFileSync(join(DEPLOY, 'bucketscan.template.json'), 'utf8'));
    assert.deepEqual(synthesized, checkedIn);
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
});

test('deploy/bucketscan.template.json is current (npm --prefix deploy run template rewrites it)', () => {
  const checkedIn = readFileSync(join(DEPLOY, 'bucketscan.template.json'), 'utf8');
  assert.ok(
    checkedIn === renderTemplate(synthesizeTemplate()),
    'the checked-in template is stale: run `npm --prefix deploy run template` and commit it',
  );
});

test('the CLI pinned here reads the cloud assembly this aws-cdk-lib writes', () => {
  const pkg = JSON.parse(readFileSync(join(DEPLOY, 'package.json'), 'utf8'));
  assert.equal(pkg.devDependencies['aws-cdk'], '2.1148.1');
  assert.equal(pkg.dependencies['aws-cdk-lib'], '2.276.0');
});
