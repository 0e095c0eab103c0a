/**
 * A catalog page must not read every repository the caller may not see.
 *
 * The attack: with many repositories hidden from a caller (here 2,000 at the top level and 500
 * under one folder no rule lets the caller see), one anonymous `GET /ui/`, `/ui/?q=zzzz` or
 * `/v2/_catalog?n=10` on the built-in registry read a directory for every hidden name up to
 * `catalog.scanLimit` (to tell a repository from a folder, and to walk into each) before deciding it
 * was hidden: 1.2–1.7 s a request with 20,000 of them, 7 s each for 6 at once. And a caller who sees
 * everything had 1,000 names read for a page of 10. Now the built-in registry asks the caller's
 * filter first: a hidden name costs no read, a folder no rule could show anything under is skipped
 * unread, and the walk stops with the page.
 *
 * Directory reads are counted by wrapping node's own `readdir` (the gateway runs in this process);
 * the bound fails the old code by two orders of magnitude.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { request } from 'undici';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { listedRepositories } from '../helpers/ui-client.js';

const PASSWORDS = { admin: 'admin-unread-1' };
const RULES = [
  { repository: '**', actions: ['pull', 'push'], subjects: ['user:admin'] },
  { repository: 'public/**', actions: ['pull'], subjects: ['anonymous'] },
];
const HIDDEN_TOP = Array.from({ length: 2000 }, (_, i) => `h${String(i).padStart(5, '0')}`);
const HIDDEN_NESTED = Array.from({ length: 500 }, (_, i) => `secret/r${String(i).padStart(4, '0')}`);
const VISIBLE = ['public/a', 'public/b'];
/** Directory reads one page may cost: its names (a read each, and one for each folder under them) and a few folders on the way. */
const MAX_READS = 40;

const fsPromises = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises');
const originalReaddir = fsPromises.readdir;
let reads = 0;

/** A repository as the built-in registry lays it out: its folder, holding `_manifests/` (src/backend/filesystem/layout.ts). */
async function makeRepository(root: string, name: string): Promise<void> {
  await mkdir(join(root, 'repositories', ...name.split('/'), '_manifests'), { recursive: true });
}

describe('catalog pages over many hidden repositories (built-in registry)', () => {
  let dir: string;
  let gate: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-catalog-unread-');
    const root = join(dir, 'registry');
    for (const name of [...HIDDEN_TOP, ...HIDDEN_NESTED, ...VISIBLE]) await makeRepository(root, name);
    gate = await startGate({ dir, users: PASSWORDS, bcryptCost: 4, config: { storage: { root }, access: RULES } });
    fsPromises.readdir = ((...args: Parameters<typeof originalReaddir>) => {
      reads += 1;
      return originalReaddir(...args);
    }) as typeof originalReaddir;
    syncBuiltinESMExports();
  });

  after(async () => {
    fsPromises.readdir = originalReaddir;
    syncBuiltinESMExports();
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  async function counted(path: string, authorization?: string): Promise<{ status: number; body: string; reads: number }> {
    const before = reads;
    const response = await request(`${gate.url}${path}`, { dispatcher: gate.dispatcher, headers: authorization ? { authorization } : {} });
    const body = await response.body.text();
    return { status: response.statusCode, body, reads: reads - before };
  }

  test('an anonymous catalog page reads no hidden repository', async () => {
    const page = await counted('/v2/_catalog?n=10', 'Basic Og==');
    assert.equal(page.status, 200);
    assert.deepEqual((JSON.parse(page.body) as { repositories: string[] }).repositories, VISIBLE);
    assert.ok(page.reads <= MAX_READS, `${page.reads} directory reads for a page of ${VISIBLE.length}`);
  });

  test("the UI's repository list, with and without a search, reads no hidden repository", async () => {
    for (const path of ['/ui/', '/ui/?q=zzzz']) {
      const page = await counted(path);
      assert.equal(page.status, 200, path);
      assert.deepEqual(listedRepositories(page.body), path === '/ui/' ? VISIBLE : [], path);
      assert.ok(page.reads <= MAX_READS, `${path}: ${page.reads} directory reads`);
    }
  });

  test('a caller who sees everything: a page of 10 reads about 10 repositories', async () => {
    const page = await counted('/v2/_catalog?n=10', basic('admin', PASSWORDS.admin));
    assert.equal(page.status, 200);
    assert.deepEqual((JSON.parse(page.body) as { repositories: string[] }).repositories, HIDDEN_TOP.slice(0, 10));
    assert.ok(page.reads <= MAX_READS, `${page.reads} directory reads for a page of 10`);
  });
});
