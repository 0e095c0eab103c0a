/**
 * The attack: a personal access token is a password only for its owner. Someone holding alice's
 * token (or bob, with his own name) presents it with another user's name — at /v2/ with Basic
 * credentials, at the token endpoint with Basic credentials or in the password grant, or with
 * alice's name spelled otherwise — hoping to act as that other user, or as alice under a name that
 * reaches other rules. Each is one generic 401 and an audit line naming the name tried; alice's
 * own name still works.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { UiClient } from '../helpers/ui-client.js';
import { waitForAudit } from '../helpers/access-http.js';
import { makePersonalToken } from '../helpers/personal-tokens.js';

const PASSWORDS = { alice: 'alice-other-pw-1', bob: 'bob-other-pw-2' } as const;

describe('a personal token presented with another user’s name', () => {
  let dir: string;
  let gate: TestGate;
  let auditFile: string;
  let token: string;

  before(async () => {
    dir = await makeTempDir('rg-pat-other-');
    auditFile = join(dir, 'audit.log');
    gate = await startGate({
      dir,
      users: PASSWORDS,
      bcryptCost: 4,
      config: {
        auth: { token: { keyDir: join(dir, 'keys') } },
        audit: { enabled: true, file: auditFile },
        access: [
          { repository: '${user}/**', actions: ['pull', 'push'], subjects: ['authenticated'] },
          { repository: 'team/**', actions: ['pull'], subjects: ['user:bob'] },
        ],
      },
    });
    const alice = new UiClient(gate.url);
    assert.equal((await alice.logIn('alice', PASSWORDS.alice)).status, 303);
    token = await makePersonalToken(alice, { name: 'cli', repositories: ['**'], actions: ['pull', 'push'] });
    await new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('alice', token) })).pushImage('alice/app', 'latest');
  });
  after(async () => {
    await gate.stop();
    await removeDir(dir);
  });

  const status = async (user: string, path: string) =>
    (await new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(user, token) })).call('GET', path)).status;

  test('at /v2/, with Basic credentials, in any other name or spelling', async () => {
    assert.equal(await status('alice', '/v2/alice/app/manifests/latest'), 200, 'the owner’s name works');
    for (const name of ['bob', 'Alice', 'ALICE', 'alice ', 'ａｌｉｃｅ', '']) {
      assert.equal(await status(name, '/v2/'), 401, `as ${JSON.stringify(name)}`);
      assert.equal(await status(name, '/v2/team/x/manifests/latest'), 401, `as ${JSON.stringify(name)}`);
    }
    const lines = await waitForAudit(auditFile, (all) => all.some((line) => line.user === 'bob' && line.action === 'login'));
    const refused = lines.find((line) => line.user === 'bob' && line.action === 'login');
    assert.ok(refused);
    assert.equal(refused.decision, 'deny');
    assert.equal(refused.status, 401);
    assert.equal(refused.reason, 'invalid-credentials');
  });

  test('at the token endpoint: Basic credentials, the password grant, and `account`', async () => {
    const get = (user: string, query = '') =>
      request(`${gate.url}/auth/token?service=registry-gate&scope=repository:team/x:pull${query}`, {
        headers: { authorization: basic(user, token) },
      });
    const asBob = await get('bob');
    assert.equal(asBob.statusCode, 401);
    await asBob.body.dump();
    const accountMismatch = await get('alice', '&account=bob');
    assert.equal(accountMismatch.statusCode, 401);
    await accountMismatch.body.dump();
    const grant = await request(`${gate.url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: 'bob', password: token, service: 'registry-gate' }).toString(),
    });
    assert.equal(grant.statusCode, 401);
    await grant.body.dump();
    const lines = await waitForAudit(
      auditFile,
      (all) => all.filter((line) => line.endpoint === '/auth/token' && line.decision === 'deny').length >= 3,
    );
    const refusals = lines.filter((line) => line.endpoint === '/auth/token' && line.decision === 'deny');
    assert.deepEqual(
      refusals.map((line) => [line.user, line.reason]),
      [
        ['bob', 'invalid-credentials'],
        ['alice', 'account-mismatch'],
        ['bob', 'invalid-credentials'],
      ],
    );
  });
});
