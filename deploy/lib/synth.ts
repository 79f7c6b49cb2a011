/**
 * Synthesizes the template stack into a directory and returns its template, with
 * cdk-nag's findings (if any) as the thrown error. The template writer, the
 * staleness test and the other tests share it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, STACK_NAME } from './app.ts';
import type { Template } from './template-env.ts';

export function synthesizeTemplate(): Template {
  const outdir = mkdtempSync(join(tmpdir(), 'bucketscan-synth-'));
  try {
    const { app } = buildApp({ outdir });
    const assembly = app.synth();
    return JSON.parse(readFileSync(join(assembly.directory, `${STACK_NAME}.template.json`), 'utf8')) as Template;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** The checked-in file's text for a template: stable key order as synthesized, two-space indent. */
export function renderTemplate(template: Template): string {
  return `${JSON.stringify(template, null, 2)}\n`;
}
