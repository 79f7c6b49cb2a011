// The documentation's internal links and the repository paths it names: every
// relative link leads to a file, every #anchor to a heading of that file (as GitHub
// spells heading anchors), and every src/…, test/…, docs/… path in the hand-written
// docs exists, so a moved file or a renamed heading fails here rather than in a
// reader's browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import GithubSlugger from 'github-slugger';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every Markdown file of the project (node_modules and build output aside). */
function markdownFiles(dir = ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith('.') || ['node_modules', 'dist', 'cdk.out'].includes(entry.name)) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

/** Written by a run, from its results (bench/report.ts, test/chaos): their paths are the run's. */
const GENERATED = new Set(['docs/benchmarks.md', 'docs/reliability.md']);

/** The text outside fenced code blocks, line by line (fenced lines blanked, so line numbers hold). */
function prose(text: string): string[] {
  let fence: string | undefined;
  return text.split('\n').map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      return '';
    }
    return fence === undefined ? line : '';
  });
}

const withoutCodeSpans = (line: string) => line.replace(/(`+)[^`]*?\1/g, '');

export function headingAnchors(text: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  for (const line of prose(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    // GitHub slugs the heading's text: link syntax keeps only the link text.
    if (heading !== undefined) anchors.add(slugger.slug(heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')));
  }
  return anchors;
}

interface Link {
  file: string;
  line: number;
  target: string;
}

function links(file: string): Link[] {
  const found: Link[] = [];
  prose(readFileSync(file, 'utf8')).forEach((text, index) => {
    for (const match of withoutCodeSpans(text).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      found.push({ file, line: index + 1, target: match[1]! });
    }
  });
  return found;
}

const files = markdownFiles();
const name = (file: string) => relative(ROOT, file);

test('the documentation is found (README.md and docs/)', () => {
  const names = files.map(name);
  for (const expected of ['README.md', 'docs/behaviour.md', 'docs/commands.md', 'docs/configuration.md', 'docs/testing.md']) {
    assert.ok(names.includes(expected), `${expected} is missing`);
  }
});

test('every relative link leads to a file, and every #anchor to a heading in it', () => {
  const problems: string[] = [];
  const anchorsOf = new Map<string, Set<string>>();
  const anchors = (file: string) => {
    if (!anchorsOf.has(file)) anchorsOf.set(file, headingAnchors(readFileSync(file, 'utf8')));
    return anchorsOf.get(file)!;
  };
  for (const file of files) {
    for (const { line, target } of links(file)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [path = '', anchor] = target.split('#', 2);
      const destination = path === '' ? file : join(dirname(file), decodeURI(path));
      const where = `${name(file)}:${line}: ${target}`;
      if (!existsSync(destination)) {
        problems.push(`${where}: no such file`);
      } else if (anchor !== undefined) {
        if (!destination.endsWith('.md')) problems.push(`${where}: an anchor into a file that is not Markdown`);
        else if (!anchors(destination).has(anchor)) problems.push(`${where}: ${name(destination)} has no heading #${anchor}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('every repository path the hand-written docs name exists', () => {
  const problems: string[] = [];
  const pathPattern = /(?<=^|[\s`(["'])((?:src|test|bench|scripts|images|deploy|docs|bin)\/[A-Za-z0-9_.\-/]*)/g;
  for (const file of files) {
    if (GENERATED.has(name(file))) continue;
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((text, index) => {
        for (const match of text.matchAll(pathPattern)) {
          const path = match[1]!.replace(/[.,:;]+$/, '');
          // A placeholder (<timestamp>), a glob or an elided name is not a path.
          if (/[<*…]/.test(text.slice(match.index, match.index + path.length + 1))) continue;
          if (!existsSync(join(ROOT, path))) problems.push(`${name(file)}:${index + 1}: ${path} does not exist`);
        }
      });
  }
  assert.deepEqual(problems, []);
});

test('heading anchors are spelled as GitHub spells them', () => {
  const anchors = headingAnchors(
    [
      '# Title',
      '## Status tags and fail-closed reads',
      '### `make test-image`',
      '## Outcomes',
      '## Outcomes',
      '```',
      '# not a heading',
      '```',
    ].join('\n'),
  );
  assert.deepEqual([...anchors], ['title', 'status-tags-and-fail-closed-reads', 'make-test-image', 'outcomes', 'outcomes-1']);
});
