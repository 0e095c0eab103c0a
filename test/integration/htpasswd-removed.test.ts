/**
 * Regression: a deleted or unreadable htpasswd file must not keep every user valid.
 *
 * The attack (or accident): an operator removes the htpasswd file to cut everyone off — or a
 * deploy replaces it with something that is not a readable file — and the gateway keeps the last
 * copy it read in memory, so every user, and every password verified before (held by the
 * credential cache), goes on working: fail-open, until someone restarts the process.
 *
 * What must hold, through the whole gateway: after a login that the credential cache now holds,
 * deleting the file makes the same credentials (and every other user's) a generic 401 within 2 s;
 * putting the file back makes them work again within 2 s. The same for a file replaced by a
 * directory (it exists and cannot be read as a file).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rmdir, unlink, writeFile } from 'node:fs/promises';
import { request } from 'undici';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

const USERS = { alice: 'alice-secret-1', bob: 'bob-secret-2' };
/** How long a change of the file may take to be noticed (docs/identity.md: within 2 seconds). */
const NOTICE_MS = 2000;

describe('a deleted or unreadable htpasswd file refuses logins (no fail-open)', () => {
  let dir: string;
  let gate: TestGate;
  let content: Buffer;

  async function status(user: keyof typeof USERS): Promise<number> {
    const response = await request(`${gate.url}/v2/`, {
      dispatcher: gate.dispatcher,
      headers: { authorization: basic(user, USERS[user]) },
    });
    await response.body.text();
    return response.statusCode;
  }

  /** Polls until `user`'s login answers `expected`, failing past NOTICE_MS. */
  async function becomes(user: keyof typeof USERS, expected: number): Promise<void> {
    await waitFor(`${user}'s login answering ${expected}`, async () => (await status(user)) === expected, {
      timeoutMs: NOTICE_MS,
      intervalMs: 50,
    });
  }

  before(async () => {
    dir = await makeTempDir('rg-htpasswd-removed-');
    // Caching on (the default) and throttling loose enough that the polling below trips nothing.
    gate = await startGate({
      dir,
      users: USERS,
      config: { auth: { throttle: { maxFailuresPerAccount: 1000, maxFailuresPerIp: 100_000 } } },
    });
    content = await readFile(gate.htpasswdFile);
  });

  after(async () => {
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  test('deleted: a login the credential cache holds is refused within 2 s; restored: it works again within 2 s', async () => {
    assert.equal(await status('alice'), 200);
    assert.equal(await status('alice'), 200, 'the second login comes from the credential cache');

    await unlink(gate.htpasswdFile);
    await becomes('alice', 401);
    assert.equal(await status('bob'), 401, 'a user never verified before is refused too');
    await gate.gate.reload('a re-read while the file is missing'); // what the watcher's next poll does, now
    assert.equal(await status('alice'), 401, 'and it stays refused while the file is missing');

    await writeFile(gate.htpasswdFile, content, { mode: 0o600 });
    await becomes('alice', 200);
    assert.equal(await status('bob'), 200);
  });

  test('replaced by something that cannot be read as a file: refused; back: works', async () => {
    assert.equal(await status('bob'), 200);
    await unlink(gate.htpasswdFile);
    await mkdir(gate.htpasswdFile);
    await becomes('bob', 401);
    assert.equal(await status('alice'), 401);

    await rmdir(gate.htpasswdFile);
    await writeFile(gate.htpasswdFile, content, { mode: 0o600 });
    await becomes('bob', 200);
    assert.equal(await status('alice'), 200);
  });
});
