/**
 * The built-in registry's filtered catalog walk (src/backend/filesystem/repositories.ts): paged by
 * any budget, down to one visit a page, it returns exactly the names the filter shows, in lexical
 * order, and every page makes progress; subtrees the filter rules out are never read. On a real
 * folder tree in a temp dir.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RepositoryFilter } from '../../src/backend/backend.js';
import { listRepositoryNames, scanRepositoryNames } from '../../src/backend/filesystem/repositories.js';
import { makeTempDir, removeDir } from '../helpers/process.js';

/** `a`, `a-b` and `a/b` interleave in lexical order; `deep/…` has folders that are not repositories. */
const REPOSITORIES = ['a', 'a-b', 'a/b', 'a/b/c', 'a0', 'deep/x/y/z/repo', 'hidden/one', 'hidden/two', 'm', 'm/n-o', 'm/n/o', 'z'];

const showsAll: RepositoryFilter = { shows: () => true, mayShowUnder: () => true };
const hidesHidden: RepositoryFilter = {
  shows: (name) => !name.startsWith('hidden'),
  mayShowUnder: (prefix) => {
    assert.ok(prefix === 'hidden/' || !prefix.startsWith('hidden/'), `asked about ${prefix}, under a skipped subtree`);
    return !prefix.startsWith('hidden/');
  },
};

describe('scanRepositoryNames', () => {
  let root: string;

  before(async () => {
    root = await makeTempDir('rg-repo-scan-');
    for (const name of REPOSITORIES) await mkdir(join(root, ...name.split('/'), '_manifests'), { recursive: true });
  });

  after(async () => {
    await removeDir(root);
  });

  /** Every page with this budget, each going on from where the last stopped (at most 100). */
  async function allPages(filter: RepositoryFilter, budget: number, names: number): Promise<{ names: string[]; pages: number }> {
    const found: string[] = [];
    let after: string | undefined;
    for (let pages = 1; pages <= 100; pages += 1) {
      const scan = await scanRepositoryNames(root, after, filter, { names, budget });
      found.push(...scan.names);
      const next = scan.stoppedAt ?? (scan.names.length === names ? scan.names.at(-1) : undefined);
      if (next === undefined) return { names: found, pages };
      assert.ok(after === undefined || next > after, `page ${pages} made progress (${after} → ${next})`);
      after = next;
    }
    assert.fail('the walk ended within 100 pages');
  }

  test('the unfiltered walk is the lexical order of whole names', async () => {
    assert.deepEqual(await listRepositoryNames(root, undefined, 100), [...REPOSITORIES].sort());
  });

  test('any budget and page size: the same names, in order, each page making progress', async () => {
    const visible = [...REPOSITORIES].filter((name) => !name.startsWith('hidden')).sort();
    for (const budget of [1, 2, 3, 7, 1000]) {
      for (const names of [1, 2, 5, 100]) {
        assert.deepEqual((await allPages(showsAll, budget, names)).names, [...REPOSITORIES].sort(), `budget ${budget}, n ${names}`);
        assert.deepEqual((await allPages(hidesHidden, budget, names)).names, visible, `filtered, budget ${budget}, n ${names}`);
      }
    }
  });

  test('a page looks at no more than twice its budget', async () => {
    const scan = await scanRepositoryNames(root, undefined, showsAll, { names: 100, budget: 2 });
    assert.ok(scan.stoppedAt !== undefined, 'the budget ran out');
    assert.ok(scan.names.length <= 4, scan.names.join(', '));
  });
});
