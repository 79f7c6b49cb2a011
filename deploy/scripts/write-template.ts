// Rewrites deploy/bucketscan.template.json from the construct (npm run template).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderTemplate, synthesizeTemplate } from '../lib/synth.ts';

export const TEMPLATE_PATH = fileURLToPath(new URL('../bucketscan.template.json', import.meta.url));

writeFileSync(TEMPLATE_PATH, renderTemplate(synthesizeTemplate()));
process.stderr.write(`wrote ${TEMPLATE_PATH}\n`);
