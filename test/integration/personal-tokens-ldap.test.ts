/**
 * Personal access tokens of directory users (a real slapd over StartTLS): made in the web UI after
 * an LDAP login, used by a registry client as the user's password. The owner is asked of the
 * directory again (no password: a search as the service account), at most once per auth.cacheTtl
 * however many requests come: a user taken out of a group loses what the group granted, a user
 * deleted from the directory loses every token, within that time; a directory that cannot answer
 * is a 503 (the client may try again), never a token taken for good or for bad.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startSlapd, type RunningSlapd } from '../helpers/slapd.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { UiClient } from '../helpers/ui-client.js';
import { waitFor } from '../helpers/wait.js';
import { makePersonalToken } from '../helpers/personal-tokens.js';

describe('personal access tokens of LDAP users', () => {
  let dir: string;
  let slapd: RunningSlapd;
  let gate: TestGate;
  const tokens: Record<string, string> = {};
  const status = async (user: string, path: string) =>
    (
      await new RegistryClient(() => ({
        baseUrl: gate.url,
        dispatcher: gate.dispatcher,
        authHeader: basic(user, tokens[user] ?? ''),
      })).call('GET', path)
    ).status;

  before(async () => {
    dir = await makeTempDir('rg-pat-ldap-');
    slapd = await startSlapd();
    gate = await startGate({
      dir,
      tls: await makeTlsPair(join(dir, 'tls')),
      config: {
        auth: {
          providers: ['ldap'],
          ldap: {
            url: slapd.url,
            bindDN: slapd.serviceDN,
            bindPasswordFile: slapd.servicePasswordFile,
            userBase: slapd.peopleBase,
            tls: { ca: slapd.caFile },
            timeout: '2s',
          },
          cacheTtl: '1s',
        },
        access: [
          { repository: 'team/**', actions: ['pull', 'push'], subjects: ['group:readers'] },
          { repository: 'open/**', actions: ['pull', 'push'], subjects: ['authenticated'] },
        ],
      },
    });
    for (const user of ['bob', 'carol'] as const) {
      const ui = new UiClient(gate.url, gate.dispatcher);
      assert.equal((await ui.logIn(user, slapd.users[user].password)).status, 303, `${user} logs in`);
      tokens[user] = await makePersonalToken(ui, { name: 'cli', repositories: ['team/**', 'open/**'], actions: ['pull', 'push'] });
    }
    const bob = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic('bob', tokens.bob ?? '') }));
    await bob.pushImage('team/app', 'latest');
    await bob.pushImage('open/app', 'latest');
  });
  after(async () => {
    await gate.stop();
    await slapd.close();
    await removeDir(dir);
  });

  test('a token acts as its directory user, with the directory’s groups', async () => {
    assert.equal(await status('bob', '/v2/team/app/manifests/latest'), 200);
    assert.equal(await status('carol', '/v2/team/app/manifests/latest'), 403, 'carol is in no group');
    assert.equal(await status('carol', '/v2/open/app/manifests/latest'), 200);
  });

  test('taken out of the group, the owner’s tokens lose what it granted', async () => {
    await slapd.modify(`dn: cn=readers,${slapd.groupsBase}\nchangetype: modify\ndelete: member\nmember: ${slapd.users.bob.dn}\n`);
    await waitFor('team refused to bob’s token', async () => (await status('bob', '/v2/team/app/manifests/latest')) === 403, {
      timeoutMs: 4000,
    });
    assert.equal(await status('bob', '/v2/open/app/manifests/latest'), 200);
  });

  test('deleted from the directory, the owner’s tokens stop', async () => {
    await slapd.modify(`dn: ${slapd.users.carol.dn}\nchangetype: delete\n`);
    await waitFor('carol’s token refused', async () => (await status('carol', '/v2/open/app/manifests/latest')) === 401, {
      timeoutMs: 4000,
    });
  });

  test('a directory that cannot answer is a 503, not a verdict', async () => {
    await slapd.stop();
    await waitFor('503 once the remembered answer is old', async () => (await status('bob', '/v2/open/app/manifests/latest')) === 503, {
      timeoutMs: 6000,
    });
  });
});
