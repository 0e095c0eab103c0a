/**
 * Nothing secret in logs: a real `registry-gate serve` process at log level debug, with the audit
 * trail on stdout, goes through everything OpenID Connect and personal tokens do — sign-ins, a
 * refused callback, tokens made, used, refused with another name, re-checks with the provider that
 * rotate its refresh tokens, and a user the provider disables — and then neither its output nor
 * its data files hold the client secret, an authorization code, an access, ID or refresh token of
 * the provider, a personal token's secret, or a session cookie (zot once logged its OIDC secret;
 * verdaccio its token secret).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { basic } from '../helpers/gate.js';
import { startConfiguredGateProcess, type ConfiguredGateProcess } from '../helpers/gate-process.js';
import { makeTlsPair, trustingAgent } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { UiClient } from '../helpers/ui-client.js';
import { waitFor } from '../helpers/wait.js';
import { makePersonalToken } from '../helpers/personal-tokens.js';
import { startTestOp, type TestOp } from '../helpers/oidc-provider.js';
import { finishSignIn, passProvider, startSignIn } from '../helpers/oidc-sign-in.js';

const ACCOUNTS = { alice: { password: 'alice-secret-idp-pw', groups: ['team-a'] } };

async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await filesUnder(path)));
    else if ((await stat(path)).size < 4 * 1024 * 1024) found.push(path);
  }
  return found;
}

describe('no secret of the OpenID Connect flow or of personal tokens reaches a log or a data file', () => {
  let dir: string;
  let op: TestOp;
  let gate: ConfiguredGateProcess;
  const secrets: string[] = [];

  before(async () => {
    dir = await makeTempDir('rg-oidc-secrets-');
    const tls = await makeTlsPair(join(dir, 'gate-tls'));
    op = await startTestOp(dir, ACCOUNTS);
    gate = await startConfiguredGateProcess({
      dir,
      users: { local: 'local-pw-123' },
      config: {
        tls: { cert: tls.certFile, key: tls.keyFile },
        dataDir: './data',
        log: { level: 'debug', format: 'json' },
        auth: {
          htpasswd: './htpasswd',
          oidc: {
            issuer: op.issuer,
            clientId: op.clientId,
            clientSecretFile: op.clientSecretFile,
            ca: op.tls.caFile,
            scopes: ['openid', 'profile', 'groups', 'offline_access'],
            recheckInterval: '1s',
          },
        },
        access: [{ repository: 'team-a/**', actions: ['pull', 'push'], subjects: ['group:team-a'] }],
      },
    });
    op.registerClient(gate.url);
    const dispatcher = trustingAgent(tls.caPem);
    const ui = new UiClient(gate.url, dispatcher);

    // A refused callback, then a sign-in.
    const refused = await passProvider(op, await startSignIn(ui), { username: 'alice', password: ACCOUNTS.alice.password }, gate.url);
    secrets.push(refused.searchParams.get('code') as string);
    refused.searchParams.set('state', 'tampered');
    assert.equal((await finishSignIn(ui, refused)).status, 400);
    const callback = await passProvider(op, await startSignIn(ui), { username: 'alice', password: ACCOUNTS.alice.password }, gate.url);
    secrets.push(callback.searchParams.get('code') as string);
    assert.equal((await finishSignIn(ui, callback)).status, 200);
    secrets.push(...[...ui.cookies.values()]);

    // A token made, used, refused under another name; re-checks that rotate the refresh token.
    const token = await makePersonalToken(ui, { name: 'cli', repositories: ['team-a/**'], actions: ['pull'] });
    secrets.push(token);
    const v2 = async (user: string) => {
      const response = await request(`${gate.url}/v2/`, { headers: { authorization: basic(user, token) }, dispatcher });
      await response.body.dump();
      return response.statusCode;
    };
    assert.equal(await v2('mallory'), 401);
    await waitFor('two re-checks', async () => (await v2('alice')) === 200 && op.refreshGrants >= 2, { timeoutMs: 8000, intervalMs: 250 });
    op.disable('alice');
    await waitFor('the disabled user’s token refused', async () => (await v2('alice')) === 401, { timeoutMs: 5000, intervalMs: 250 });
    // The ended user's tokens are deleted just after: wait for that write, so the files below hold still.
    await waitFor(
      'the ended user’s tokens deleted',
      async () => !(await readFile(join(dir, 'data', 'tokens', 'personal-tokens.json'), 'utf8')).includes('"owner": "alice"'),
    );
    secrets.push(op.clientSecret, ...op.issued);
    await dispatcher.close();
  });
  after(async () => {
    await gate.stop();
    await op.stop();
    await removeDir(dir);
  });

  test('the process output (app, access and audit logs) holds none of them', () => {
    const output = gate.output();
    assert.match(output, /"action":"credentials-ended"/, 'the run did what it should (the audit trail is in the output)');
    assert.ok(secrets.length >= 8, `secrets collected: ${secrets.length}`);
    for (const secret of secrets) {
      assert.ok(secret.length >= 16, 'a secret worth looking for');
      assert.ok(!output.includes(secret), `a secret (${secret.slice(0, 4)}…) is in the output`);
    }
  });

  test('the data files hold none of them (the refresh token is sealed, the personal token hashed)', async () => {
    const files = await filesUnder(join(dir, 'data'));
    assert.ok(files.some((file) => file.endsWith('accounts.json')));
    for (const file of files) {
      // A temporary file of an atomic write may be gone by now; what it became is in the list too.
      const content = await readFile(file, 'utf8').catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
        throw error;
      });
      for (const secret of secrets) assert.ok(!content.includes(secret), `a secret (${secret.slice(0, 4)}…) is in ${file}`);
    }
  });
});
