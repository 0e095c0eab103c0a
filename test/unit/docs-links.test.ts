/**
 * The manual is split over README.md, docs/*.md and the files beside them, linked to each other by
 * relative paths and `#anchors`. A page renamed, a heading reworded or a section moved would leave
 * links that lead nowhere; this test finds them. Every relative link and image in the Markdown
 * files of the repository's root, docs/ and bench/ must name a file or folder that exists, and an
 * anchor into a Markdown file must name one of its headings as GitHub spells them.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Folders whose Markdown files are checked (not recursively: docs/ui/ holds only images). */
const FOLDERS = ['.', 'docs', 'bench'];

interface Link {
  readonly line: number;
  readonly target: string;
}

/** The text with fenced code blocks blanked (lines kept, so line numbers stay right). */
function withoutCodeBlocks(markdown: string): string {
  let fence: string | undefined;
  return markdown
    .split('\n')
    .map((line) => {
      const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
      if (fence === undefined && marker) {
        fence = marker;
        return '';
      }
      if (fence !== undefined) {
        if (marker?.startsWith(fence[0]!) && marker.length >= fence.length && line.trim() === marker) fence = undefined;
        return '';
      }
      return line;
    })
    .join('\n');
}

/** Inline code spans blanked: a `[x](y)` inside backticks is not a link. */
function withoutCodeSpans(text: string): string {
  return text.replace(/(`+)[^`][\s\S]*?\1/g, (span) => span.replace(/[^\n]/g, ' '));
}

/** Inline links and images `[text](target "title")`, and reference definitions `[label]: target`. */
function markdownLinks(markdown: string): Link[] {
  const text = withoutCodeSpans(withoutCodeBlocks(markdown));
  const lineOf = (index: number) => text.slice(0, index).split('\n').length;
  const links: Link[] = [];
  for (const match of text.matchAll(/\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+"[^"]*")?\s*\)/g))
    links.push({ line: lineOf(match.index), target: match[1]!.replace(/^<|>$/g, '') });
  for (const match of text.matchAll(/^ {0,3}\[[^\]]+\]:\s*(\S+)/gm)) links.push({ line: lineOf(match.index), target: match[1]! });
  return links;
}

/** GitHub's anchor for a heading: its text lowercased, punctuation dropped, each space a hyphen. */
function headingSlug(heading: string): string {
  const rendered = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link or image shows its text
    .replace(/<[^>]+>/g, '') // HTML tags
    .replace(/`/g, '')
    .replace(/\*+/g, '');
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a Markdown file offers: its headings' slugs, a repeated one with -1, -2, …. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of withoutCodeBlocks(markdown).matchAll(/^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/gm)) {
    const slug = headingSlug(match[1]!);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');
}

/** Where links are looked up: the repository on disk, or pages written for a test. */
interface Site {
  read(path: string): Promise<string | undefined>;
  exists(path: string): Promise<boolean>;
}

const DISK: Site = {
  read: (path) => readFile(join(ROOT, path), 'utf8').catch(() => undefined),
  exists: async (path) => (await stat(join(ROOT, path)).catch(() => undefined)) !== undefined,
};

/** What is wrong with each relative link of `file` (a path from the root), as `file:line → target: why`. */
async function brokenLinks(file: string, site: Site): Promise<string[]> {
  const markdown = await site.read(file);
  if (markdown === undefined) return [`${file}: missing`];
  const problems: string[] = [];
  for (const { line, target } of markdownLinks(markdown)) {
    if (isExternal(target)) continue;
    const [path = '', anchor] = target.split('#', 2);
    const linked = path === '' ? file : relative(ROOT, resolve(ROOT, dirname(file), decodeURIComponent(path)));
    const where = `${file}:${line} → ${target}`;
    if (linked.startsWith('..')) problems.push(`${where}: outside the repository`);
    else if (!(await site.exists(linked))) problems.push(`${where}: no such file`);
    else if (anchor !== undefined && linked.endsWith('.md') && !headingAnchors((await site.read(linked)) ?? '').has(anchor))
      problems.push(`${where}: no heading with this anchor in ${linked}`);
  }
  return problems;
}

async function markdownFiles(): Promise<string[]> {
  const files = await Promise.all(
    FOLDERS.map(async (folder) =>
      (await readdir(join(ROOT, folder), { withFileTypes: true }))
        .filter((entry) => entry.isFile() && entry.name.endsWith('.md'))
        .map((entry) => join(folder, entry.name).replace(/^\.\//, '')),
    ),
  );
  return files.flat().sort();
}

test('anchors are spelled as GitHub spells them', () => {
  assert.equal(headingSlug('LDAP / Active Directory'), 'ldap--active-directory');
  assert.equal(headingSlug('Health, metrics and reload'), 'health-metrics-and-reload');
  assert.equal(headingSlug('Checking a decision: `access explain`'), 'checking-a-decision-access-explain');
  assert.equal(headingSlug('[0.1.0] - 2026-11-27'), '010---2026-11-27');
  assert.equal(headingSlug('The `_` prefix and **bold** [links](x.md)'), 'the-_-prefix-and-bold-links');
  assert.deepEqual(
    [...headingAnchors('# Setup\n\n## Setup\n\n```\n# not a heading\n```\n### Setup ##\n')],
    ['setup', 'setup-1', 'setup-2'],
  );
});

test('links are found in text, tables and definitions, not in code', () => {
  const markdown = [
    'See [the guide](docs/README.md) and ![a picture](docs/ui/phone.png "Phone").',
    '| a [cell](install.md#environment) |',
    '`[not](a-link.md)` and',
    '```sh',
    'echo "[not](either.md)"',
    '```',
    '[ref]: CHANGELOG.md',
    'A link [over',
    'two lines](two-lines.md).',
  ].join('\n');
  assert.deepEqual(markdownLinks(markdown), [
    { line: 1, target: 'docs/README.md' },
    { line: 1, target: 'docs/ui/phone.png' },
    { line: 2, target: 'install.md#environment' },
    { line: 9, target: 'two-lines.md' },
    { line: 7, target: 'CHANGELOG.md' },
  ]);
});

test('a link to a missing file, a missing heading or out of the repository is reported', async () => {
  const pages: Record<string, string> = {
    'README.md': '# Front\n',
    'docs/a.md':
      '# A\n\n[ok](b.md#b-two) [ok](#a) [ok](../README.md) [gone](c.md) [moved](b.md#b-one)\n[out](../../x.md) [web](https://example.com/#x) [self](#nowhere)\n',
    'docs/b.md': '# B\n\n## B two\n',
  };
  const site: Site = {
    read: (path) => Promise.resolve(pages[path]),
    exists: (path) => Promise.resolve(path in pages),
  };
  assert.deepEqual(await brokenLinks('docs/a.md', site), [
    'docs/a.md:3 → c.md: no such file',
    'docs/a.md:3 → b.md#b-one: no heading with this anchor in docs/b.md',
    'docs/a.md:4 → ../../x.md: outside the repository',
    'docs/a.md:4 → #nowhere: no heading with this anchor in docs/a.md',
  ]);
});

test('every relative link in README.md, CONTRIBUTING.md, CHANGELOG.md, docs/ and bench/ leads somewhere', async () => {
  const files = await markdownFiles();
  for (const needed of ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', 'ARCHITECTURE.md', 'docs/README.md', 'docs/install.md'])
    assert.ok(files.includes(needed), `${needed} is checked`);
  let checked = 0;
  const problems: string[] = [];
  for (const file of files) {
    checked += markdownLinks((await DISK.read(file)) ?? '').filter((link) => !isExternal(link.target)).length;
    problems.push(...(await brokenLinks(file, DISK)));
  }
  assert.deepEqual(problems, []);
  assert.ok(checked >= 50, `only ${checked} relative links found`);
});
