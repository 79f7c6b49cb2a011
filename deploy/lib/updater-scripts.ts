/**
 * The definitions updater's three steps are shell scripts in deploy/updater/
 * (checked by shellcheck in the tests); a container runs one as `sh -c <script>`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type UpdaterStep = 'restore' | 'freshclam' | 'publish';

export function updaterScript(step: UpdaterStep): string {
  return readFileSync(fileURLToPath(new URL(`../updater/${step}.sh`, import.meta.url)), 'utf8');
}
