/**
 * The one atomic file write (src/lib/atomic-write.ts) that htpasswd edits, the token service's
 * files, the UI's session files, the TLS pair and the built-in registry all use: the whole new file
 * or the old one, the modes asked, no temporary file left behind, and create-if-absent that never
 * replaces what another process made first.
 */
import assert from 'node:assert/strict';
import { lstat, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createFileAtomic, writeFileAtomic } from '../../src/lib/atomic-write.js';
import { errnoCode } from '../../src/lib/errno.js';
import { makeTempDir, removeDir } from '../helpers/process.js';

describe('writeFileAtomic', () => {
  let dir: string;
  before(async () => {
    dir = await makeTempDir('atomic-write-');
  });
  after(() => removeDir(dir));

  test('replaces a file with the whole new content, 0600 by default, leaving no temporary file', async () => {
    const file = join(dir, 'replace', 'data.json');
    await writeFileAtomic(file, 'first');
    await writeFileAtomic(file, 'second');
    assert.equal(await readFile(file, 'utf8'), 'second');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'replace'))).mode & 0o777, 0o700);
    assert.deepEqual(await readdir(join(dir, 'replace')), ['data.json']);
  });

  test('sets an explicit mode exactly, also one wider than the default', async () => {
    const file = join(dir, 'public.pem');
    await writeFileAtomic(file, 'cert', { mode: 0o644 });
    assert.equal((await stat(file)).mode & 0o777, 0o644);
  });

  test('follows a symlink only when asked', async () => {
    const real = join(dir, 'real-htpasswd');
    const link = join(dir, 'link-htpasswd');
    await writeFile(real, 'old');
    await symlink(real, link);
    await writeFileAtomic(link, 'through the link', { followSymlink: true });
    assert.equal(await readFile(real, 'utf8'), 'through the link');
    assert.ok((await lstat(link)).isSymbolicLink());
    await writeFileAtomic(link, 'replaces the link');
    assert.equal(await readFile(real, 'utf8'), 'through the link');
    assert.equal(await readFile(link, 'utf8'), 'replaces the link');
  });

  test('a temporary folder elsewhere on the filesystem is left empty', async () => {
    const tmpDir = join(dir, 'tmp-elsewhere');
    await writeFileAtomic(join(tmpDir, 'keep'), 'x');
    await writeFileAtomic(join(dir, 'elsewhere', 'file'), 'y', { tmpDir });
    assert.equal(await readFile(join(dir, 'elsewhere', 'file'), 'utf8'), 'y');
    assert.deepEqual(await readdir(tmpDir), ['keep']);
  });
});

describe('createFileAtomic', () => {
  let dir: string;
  before(async () => {
    dir = await makeTempDir('atomic-create-');
  });
  after(() => removeDir(dir));

  test('creates a missing file once; later attempts change nothing and say so', async () => {
    const file = join(dir, 'keys', 'token-keys.json');
    const outcomes = await Promise.all(['a', 'b', 'c', 'd'].map((content) => createFileAtomic(file, content)));
    assert.equal(outcomes.filter(Boolean).length, 1);
    const winner = ['a', 'b', 'c', 'd'][outcomes.indexOf(true)];
    assert.equal(await readFile(file, 'utf8'), winner);
    assert.equal(await createFileAtomic(file, 'late'), false);
    assert.equal(await readFile(file, 'utf8'), winner);
    assert.deepEqual(await readdir(join(dir, 'keys')), ['token-keys.json']);
  });
});

describe('errnoCode', () => {
  test('is the code of a failed system call and undefined for anything else', async () => {
    const failure: unknown = await readFile(join('/nonexistent-registry-gate', 'x')).catch((error: unknown) => error);
    assert.equal(errnoCode(failure), 'ENOENT');
    assert.equal(errnoCode(new Error('plain')), undefined);
    assert.equal(errnoCode({ code: 42 }), undefined);
    assert.equal(errnoCode('ENOENT'), undefined);
    assert.equal(errnoCode(null), undefined);
  });
});
