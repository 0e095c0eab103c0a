/**
 * The first admin's password is a secret: it goes to dataDir/initial-admin-password (0600) before
 * the htpasswd file exists, and is announced itself only to a terminal. The attack this prevents:
 * a password printed to stdout lands in journald or `docker logs`, readable by whoever reads logs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { buildConfig } from '../../src/config/load.js';
import { prepareFirstRun, INITIAL_PASSWORD_FILE } from '../../src/assembly/first-run.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';

/** Apache's own `htpasswd -v` checks the file, so the hash is checked by another implementation. */
async function htpasswdAccepts(file: string, user: string, password: string): Promise<boolean> {
  return (await runProcess('htpasswd', ['-v', '-b', file, user, password])).code === 0;
}

for (const terminal of [false, true]) {
  test(`first run ${terminal ? 'on a terminal shows the password there' : 'off a terminal names only the password file'}`, async () => {
    const dir = await makeTempDir('rg-first-unit-');
    try {
      const config = buildConfig({ dataDir: 'data', tls: 'off' }, dir, undefined);
      const lines: string[] = [];
      await prepareFirstRun(config, { announce: (line) => lines.push(line), terminal });
      const passwordFile = join(dir, 'data', INITIAL_PASSWORD_FILE);
      const password = (await readFile(passwordFile, 'utf8')).trim();
      assert.equal((await stat(passwordFile)).mode & 0o777, 0o600);
      assert.equal(
        await htpasswdAccepts(join(dir, 'data', 'htpasswd'), 'admin', password),
        true,
        'the htpasswd file holds the admin with that password',
      );
      assert.equal(await htpasswdAccepts(join(dir, 'data', 'htpasswd'), 'admin', `${password}x`), false);
      assert.equal(lines.length, 1);
      assert.ok(lines[0]!.includes(passwordFile), 'the announcement names the file');
      assert.equal(lines[0]!.includes(password), terminal, 'the password itself only on a terminal');

      const again: string[] = [];
      await prepareFirstRun(config, { announce: (line) => again.push(line), terminal });
      assert.deepEqual(again, [], 'a second start creates and announces nothing');
    } finally {
      await removeDir(dir);
    }
  });
}
