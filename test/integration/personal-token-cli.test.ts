/**
 * `registry-gate token personal list|revoke`, the administrators' side of personal access tokens,
 * against the store a real `serve` reads (found from the same config): the list shows each user's
 * tokens with their last use (written by the server, at the latest when it stops) and never a
 * secret or its hash; a revocation from the command line stops the token in the running server
 * within its file watch; the exit statuses say what happened.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { basic } from '../helpers/gate.js';
import { CLI, startConfiguredGateProcess, type ConfiguredGateProcess } from '../helpers/gate-process.js';
import { makeTempDir, removeDir, runProcess, type RunResult } from '../helpers/process.js';
import { UiClient } from '../helpers/ui-client.js';
import { makePersonalToken, tokenIdByName } from '../helpers/personal-tokens.js';
import { waitFor } from '../helpers/wait.js';

const PASSWORDS = { alice: 'alice-cli-pw-1', bob: 'bob-cli-pw-2' } as const;

describe('token personal list|revoke', () => {
  let dir: string;
  let gate: ConfiguredGateProcess;
  const secrets: Record<string, string> = {};
  const ids: Record<string, string> = {};

  const start = () =>
    startConfiguredGateProcess({
      dir,
      config: { tls: 'off', dataDir: './data', auth: { htpasswd: './htpasswd' }, log: { level: 'warn' }, audit: { enabled: false } },
    });
  const personal = (args: string[]): Promise<RunResult> =>
    runProcess(process.execPath, [CLI, 'token', 'personal', ...args, '-c', gate.configFile], { cwd: dir, timeoutMs: 20_000 });
  const v2 = async (user: string, secret: string) => {
    const response = await request(`${gate.url}/v2/`, { headers: { authorization: basic(user, secret) } });
    await response.body.dump();
    return response.statusCode;
  };

  before(async () => {
    dir = await makeTempDir('rg-pat-cli-');
    gate = await startConfiguredGateProcess({
      dir,
      users: PASSWORDS,
      config: { tls: 'off', dataDir: './data', auth: { htpasswd: './htpasswd' }, log: { level: 'warn' }, audit: { enabled: false } },
    });
    for (const user of ['alice', 'bob'] as const) {
      const ui = new UiClient(gate.url);
      assert.equal((await ui.logIn(user, PASSWORDS[user])).status, 303);
      for (const name of [`${user}-laptop`, `${user}-ci`]) {
        secrets[name] = await makePersonalToken(ui, { name, repositories: [`${user}/**`], actions: ['pull', 'push'] });
        ids[name] = await tokenIdByName(ui, name);
      }
    }
    assert.equal(await v2('alice', secrets['alice-laptop'] as string), 200);
    await gate.stop(); // writes the last uses
    gate = await start();
  });
  after(async () => {
    await gate.stop();
    await removeDir(dir);
  });

  test('list shows a user’s tokens with their last use, never a secret', async () => {
    const listed = await personal(['list', '--user', 'alice']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stderr, /2 personal tokens of alice in .*personal-tokens\.json \(from the config /);
    const lines = listed.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    const laptop = lines.find((line) => line.startsWith(`${ids['alice-laptop']}\talice\talice-laptop\t`));
    assert.match(laptop ?? '', /\trepository:alice\/\*\*:pull,push\tcreated \S+\texpires \S+\tlast used \S+ from 127\.0\.0\.1$/);
    assert.match(lines.find((line) => line.includes('alice-ci')) ?? '', /\tnever used$/);
    const json = await personal(['list', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const rows = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.equal(rows.length, 4);
    assert.ok(
      rows.every((row) => !('hash' in row)),
      'no hash is printed',
    );
    const everything = listed.stdout + listed.stderr + json.stdout + json.stderr;
    for (const secret of Object.values(secrets)) assert.ok(!everything.includes(secret), 'no secret is printed');
  });

  test('revoke stops a token in the running server; --all every token of the user', async () => {
    assert.equal(await v2('alice', secrets['alice-laptop'] as string), 200);
    const one = await personal(['revoke', '--user', 'alice', '--id', ids['alice-laptop'] as string]);
    assert.equal(one.code, 0, one.stderr);
    await waitFor('the revoked token refused', async () => (await v2('alice', secrets['alice-laptop'] as string)) === 401, {
      timeoutMs: 5000,
    });
    assert.equal(await v2('alice', secrets['alice-ci'] as string), 200, 'the other token is untouched');
    const again = await personal(['revoke', '--user', 'alice', '--id', ids['alice-laptop'] as string]);
    assert.equal(again.code, 1, 'no such token: 1');
    const wrongOwner = await personal(['revoke', '--user', 'alice', '--id', ids['bob-ci'] as string]);
    assert.equal(wrongOwner.code, 1, 'an id of another user’s token revokes nothing');
    const neither = await personal(['revoke', '--user', 'bob']);
    assert.equal(neither.code, 2, 'neither --id nor --all: 2');
    const all = await personal(['revoke', '--user', 'bob', '--all']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stderr, /Revoked 2 personal tokens of bob/);
    await waitFor('bob’s tokens refused', async () => (await v2('bob', secrets['bob-ci'] as string)) === 401, { timeoutMs: 5000 });
    assert.equal(await v2('bob', secrets['bob-laptop'] as string), 401);
  });
});
