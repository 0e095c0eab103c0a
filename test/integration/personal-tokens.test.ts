/**
 * Personal access tokens of htpasswd users, end to end: made in the web UI (the secret shown once,
 * recognisable by its prefix and checksum, stored only as a hash), then used by a registry client
 * with Basic `USER:TOKEN` at /v2/. A token acts as its owner narrowed by its own scopes, so it never
 * does more than the owner may do now, and it stops: when revoked (by its owner, or all of a user's
 * by an admin), when it expires, when its owner is deleted; and it narrows at once when the owner
 * leaves the group that granted a repository. Its last use is listed with the client's address,
 * and its expiry cannot pass auth.tokens.maxLifetime.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGate, basic, writeHtpasswd, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { UiClient } from '../helpers/ui-client.js';
import { waitFor } from '../helpers/wait.js';
import { parseAuditLines, readAuditText, waitForAudit } from '../helpers/access-http.js';
import { makePersonalToken, postTokenForm, tokenIdByName } from '../helpers/personal-tokens.js';
import { isWellFormedPersonalToken } from '../../src/auth/personal-tokens/secret.js';

const PASSWORDS = { alice: 'alice-pat-pw-1', bob: 'bob-pat-pw-2', admin: 'admin-pat-pw-3' } as const;

describe('personal access tokens of htpasswd users', () => {
  let dir: string;
  let gate: TestGate;
  let groupFile: string;
  let auditFile: string;
  let storeFile: string;
  const ui = (user: keyof typeof PASSWORDS) => async () => {
    const client = new UiClient(gate.url);
    const reply = await client.logIn(user, PASSWORDS[user]);
    assert.equal(reply.status, 303, `${user} logs in`);
    return client;
  };
  const registry = (user: string, password: string) => new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(user, password) }));
  const manifestStatus = async (user: string, password: string, method: string, repository: string) =>
    (await registry(user, password).call(method, `/v2/${repository}/manifests/latest`)).status;

  before(async () => {
    dir = await makeTempDir('rg-pat-');
    groupFile = join(dir, 'groups');
    auditFile = join(dir, 'audit.log');
    storeFile = join(dir, 'data', 'tokens', 'personal-tokens.json');
    await writeFile(groupFile, 'team-a: alice bob\nadmins: admin\n');
    gate = await startGate({
      dir,
      users: PASSWORDS,
      bcryptCost: 4,
      config: {
        auth: { groupFile, tokens: { maxLifetime: '60d' } },
        audit: { enabled: true, file: auditFile },
        ui: { adminGroup: 'admins' },
        access: [
          { repository: 'team-a/**', actions: ['pull', 'push', 'delete'], subjects: ['group:team-a'] },
          { repository: 'shared/**', actions: ['pull'], subjects: ['authenticated'] },
          { repository: 'shared/**', actions: ['push'], subjects: ['group:admins'] },
        ],
      },
    });
    await registry('alice', PASSWORDS.alice).pushImage('team-a/app', 'latest');
    await registry('admin', PASSWORDS.admin).pushImage('shared/base', 'latest');
  });
  after(async () => {
    await gate.stop();
    await removeDir(dir);
  });

  test('a token made in the UI is shown once, recognisable, and stored only as a hash', async () => {
    const alice = await ui('alice')();
    const secret = await makePersonalToken(alice, { name: 'laptop', repositories: ['team-a/**'], actions: ['pull', 'push'] });
    assert.match(secret, /^rgpat_[0-9A-Za-z]{38}$/);
    assert.ok(isWellFormedPersonalToken(secret), 'its checksum holds');
    const stored = await readFile(storeFile, 'utf8');
    assert.ok(!stored.includes(secret), 'the store never holds the secret');
    assert.ok(stored.includes(createHash('sha256').update(secret).digest('hex')), 'the store holds its SHA-256');
    const listing = await alice.get('/ui/tokens');
    assert.equal(listing.status, 200);
    assert.match(listing.body, /<th scope="row">laptop<\/th>/);
    assert.ok(!listing.body.includes(secret), 'the list never shows the secret again');
  });

  test('it acts as its owner, narrowed by its scopes', async () => {
    const alice = await ui('alice')();
    const writer = await makePersonalToken(alice, { name: 'ci-writer', repositories: ['team-a/**'], actions: ['pull', 'push'] });
    const reader = await makePersonalToken(alice, { name: 'ci-reader', repositories: ['team-a/*'], actions: ['pull'] });
    await registry('alice', writer).pushImage('team-a/tool', 'latest');
    assert.equal(await manifestStatus('alice', writer, 'GET', 'team-a/tool'), 200);
    // The owner may pull shared/**, the token names only team-a/**: the scope narrows.
    assert.equal(await manifestStatus('alice', writer, 'GET', 'shared/base'), 403);
    assert.equal(await manifestStatus('alice', reader, 'GET', 'team-a/app'), 200);
    const push = await registry('alice', reader).call('POST', '/v2/team-a/app/blobs/uploads/', { headers: { 'content-length': '0' } });
    assert.equal(push.status, 403, 'a pull-only token cannot push');
    const lines = await waitForAudit(auditFile, (all) =>
      all.some((line) => line.action === 'push' && line.repository === 'team-a/tool' && line.decision === 'allow'),
    );
    const pushed = lines.find((line) => line.action === 'push' && line.repository === 'team-a/tool' && line.decision === 'allow');
    assert.ok(pushed);
    assert.equal(pushed.via, 'personal-token');
    assert.equal(pushed.user, 'alice');
    assert.equal(pushed.tokenId, await tokenIdByName(alice, 'ci-writer'));
    assert.ok(lines.some((line) => line.repository === 'team-a/app' && line.decision === 'deny' && line.reason === 'scope'));
  });

  test('its last use is listed with the time and the client address', async () => {
    const alice = await ui('alice')();
    const secret = await makePersonalToken(alice, { name: 'used', repositories: ['team-a/**'], actions: ['pull'] });
    assert.match((await alice.get('/ui/tokens')).body, /<th scope="row">used<\/th>[\s\S]*?<td data-label="Last used">never<\/td>/);
    assert.equal(await manifestStatus('alice', secret, 'GET', 'team-a/app'), 200);
    const row = (await alice.get('/ui/tokens')).body.split('<tr>').find((text) => text.includes('<th scope="row">used</th>'));
    assert.match(
      row ?? '',
      /<td data-label="Last used"><time datetime="[^"]+"[^>]*>[^<]+<\/time> <span class="muted">from 127\.0\.0\.1<\/span>/,
    );
  });

  test('revoked by its owner, it is refused at once', async () => {
    const alice = await ui('alice')();
    const secret = await makePersonalToken(alice, { name: 'to-revoke', repositories: ['team-a/**'], actions: ['pull'] });
    assert.equal(await manifestStatus('alice', secret, 'GET', 'team-a/app'), 200);
    const id = await tokenIdByName(alice, 'to-revoke');
    const revoked = await alice.post('/ui/tokens/revoke', { id }, { tokenFrom: '/ui/tokens' });
    assert.equal(revoked.status, 303);
    assert.equal(await manifestStatus('alice', secret, 'GET', 'team-a/app'), 401);
    // Nobody revokes another user's token by its id.
    const bob = await ui('bob')();
    const bobs = await makePersonalToken(bob, { name: 'bobs', repositories: ['team-a/**'], actions: ['pull'] });
    const other = await alice.post('/ui/tokens/revoke', { id: await tokenIdByName(bob, 'bobs') }, { tokenFrom: '/ui/tokens' });
    assert.equal(other.status, 404);
    assert.equal(await manifestStatus('bob', bobs, 'GET', 'team-a/app'), 200);
  });

  test('an expired token is refused', async () => {
    const alice = await ui('alice')();
    const secret = await makePersonalToken(alice, { name: 'short', repositories: ['team-a/**'], actions: ['pull'] });
    assert.equal(await manifestStatus('alice', secret, 'GET', 'team-a/app'), 200);
    // Time cannot be sped up in a running server: the token's expiry is moved to a second from now instead.
    const store = JSON.parse(await readFile(storeFile, 'utf8')) as { tokens: Array<{ name: string; expires: string }> };
    for (const token of store.tokens) if (token.name === 'short') token.expires = new Date(Date.now() + 1000).toISOString();
    await writeFile(storeFile, JSON.stringify(store));
    await waitFor('the expired token refused', async () => (await manifestStatus('alice', secret, 'GET', 'team-a/app')) === 401, {
      timeoutMs: 5000,
    });
  });

  test('the expiry cannot pass auth.tokens.maxLifetime', async () => {
    const alice = await ui('alice')();
    const page = await alice.get('/ui/tokens');
    const offered = [...page.body.matchAll(/<option value="([^"]+)"/g)].map((match) => match[1]);
    assert.deepEqual(offered, ['1d', '7d', '30d', '60d']);
    const refused = await postTokenForm(alice, { name: 'forever', repositories: ['team-a/**'], actions: ['pull'], expires: '365d' });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /Choose one of the offered expiries/);
  });

  test('an owner who leaves the group that granted a repository narrows every token at once', async () => {
    const bob = await ui('bob')();
    const secret = await makePersonalToken(bob, { name: 'team', repositories: ['team-a/**', 'shared/**'], actions: ['pull'] });
    assert.equal(await manifestStatus('bob', secret, 'GET', 'team-a/app'), 200);
    await writeFile(groupFile, 'team-a: alice\nadmins: admin\n');
    await waitFor('team-a refused to the token', async () => (await manifestStatus('bob', secret, 'GET', 'team-a/app')) === 403, {
      timeoutMs: 5000,
    });
    assert.equal(await manifestStatus('bob', secret, 'GET', 'shared/base'), 200, 'what the rules still give bob stays');
    await writeFile(groupFile, 'team-a: alice bob\nadmins: admin\n');
    await waitFor('team-a given back', async () => (await manifestStatus('bob', secret, 'GET', 'team-a/app')) === 200, { timeoutMs: 5000 });
  });

  test('an admin revokes every token of a user; nobody else may', async () => {
    const bob = await ui('bob')();
    const first = await makePersonalToken(bob, { name: 'one', repositories: ['team-a/**'], actions: ['pull'] });
    const second = await makePersonalToken(bob, { name: 'two', repositories: ['team-a/**'], actions: ['pull'] });
    const alice = await ui('alice')();
    const refused = await alice.post('/ui/tokens/revoke-all', { user: 'bob' }, { tokenFrom: '/ui/tokens' });
    assert.equal(refused.status, 404);
    assert.equal(await manifestStatus('bob', first, 'GET', 'team-a/app'), 200);
    const admin = await ui('admin')();
    const page = await admin.get('/ui/tokens');
    assert.match(page.body, /Every user's tokens/);
    const done = await admin.post('/ui/tokens/revoke-all', { user: 'bob' }, { tokenFrom: '/ui/tokens' });
    assert.equal(done.status, 303);
    assert.equal(await manifestStatus('bob', first, 'GET', 'team-a/app'), 401);
    assert.equal(await manifestStatus('bob', second, 'GET', 'team-a/app'), 401);
    const lines = parseAuditLines(await readAuditText(auditFile));
    assert.ok(
      lines.some(
        (line) => line.action === 'token-revoke' && line.user === 'alice' && line.decision === 'deny' && line.reason === 'not-admin',
      ),
    );
    assert.equal(lines.filter((line) => line.action === 'token-revoke' && line.user === 'admin' && line.owner === 'bob').length >= 2, true);
  });

  test('a deleted owner’s tokens stop at once', async () => {
    const alice = await ui('alice')();
    const secret = await makePersonalToken(alice, { name: 'until-deleted', repositories: ['team-a/**'], actions: ['pull'] });
    assert.equal(await manifestStatus('alice', secret, 'GET', 'team-a/app'), 200);
    await writeHtpasswd(gate.htpasswdFile, { bob: PASSWORDS.bob, admin: PASSWORDS.admin }, 4);
    await waitFor('the deleted owner’s token refused', async () => (await manifestStatus('alice', secret, 'GET', 'team-a/app')) === 401, {
      timeoutMs: 5000,
    });
  });
});
