/**
 * The edit lock of the file stores (src/lib/file-lock.ts) that the server and the admin commands
 * share: read-modify-writes under it never lose one another's change; a lock whose owner died, or
 * that is older than the stale age, is broken; a live lock makes a writer wait, then fail with
 * RG_ERR_FILE_LOCKED without touching the file; the lock file is gone once a section ends, even a
 * section that throws.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { lockFileOf, withFileLock } from '../../src/lib/file-lock.js';
import { isInternalError } from '../../src/lib/internal-errors.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';

describe('withFileLock', () => {
  let dir: string;
  before(async () => {
    dir = await makeTempDir('file-lock-');
  });
  after(() => removeDir(dir));

  const increment = (file: string) =>
    withFileLock(file, async () => {
      const count = Number(await readFile(file, 'utf8').catch(() => '0'));
      await new Promise((resolve) => setImmediate(resolve)); // let the others read meanwhile, as without a lock they would
      await writeFile(file, String(count + 1));
    });

  test('read-modify-writes at once all count, and the lock file is gone afterwards', async () => {
    const file = join(dir, 'counter');
    await Promise.all(Array.from({ length: 25 }, () => increment(file)));
    assert.equal(await readFile(file, 'utf8'), '25');
    assert.deepEqual(await readdir(dir), ['counter']);
  });

  test('a section that throws releases the lock', async () => {
    const file = join(dir, 'throws');
    await assert.rejects(
      withFileLock(file, () => Promise.reject(new Error('boom'))),
      /boom/,
    );
    await withFileLock(file, () => writeFile(file, 'after'), { waitMs: 100 });
    assert.equal(await readFile(file, 'utf8'), 'after');
  });

  test('a lock left by a process that exited is broken at once', async () => {
    const file = join(dir, 'dead-owner');
    const exited = await runProcess(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    await writeFile(lockFileOf(file), JSON.stringify({ pid: Number(exited.stdout), host: hostname(), nonce: 'x' }));
    await withFileLock(file, () => writeFile(file, 'taken'), { waitMs: 2000, staleAfterMs: 60_000 });
    assert.equal(await readFile(file, 'utf8'), 'taken');
  });

  test('a lock older than the stale age is broken, whoever held it', async () => {
    const file = join(dir, 'old-lock');
    await writeFile(lockFileOf(file), JSON.stringify({ pid: process.pid, host: 'another-host', nonce: 'y' }));
    const old = new Date(Date.now() - 120_000);
    await utimes(lockFileOf(file), old, old);
    await withFileLock(file, () => writeFile(file, 'taken'), { waitMs: 2000, staleAfterMs: 60_000 });
    assert.equal(await readFile(file, 'utf8'), 'taken');
  });

  test('a live lock makes the writer wait, then fail without writing', async () => {
    const file = join(dir, 'held');
    await writeFile(file, 'before');
    await writeFile(lockFileOf(file), JSON.stringify({ pid: process.pid, host: hostname(), nonce: 'z' }));
    const started = Date.now();
    await assert.rejects(
      withFileLock(file, () => writeFile(file, 'changed'), { waitMs: 300, staleAfterMs: 60_000 }),
      (error: unknown) => isInternalError(error, 'RG_ERR_FILE_LOCKED'),
    );
    assert.ok(Date.now() - started >= 300, 'it waited');
    assert.equal(await readFile(file, 'utf8'), 'before');
    assert.ok((await readFile(lockFileOf(file), 'utf8')).includes('"nonce":"z"'), 'the holder keeps its lock');
  });
});
