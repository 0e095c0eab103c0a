/**
 * The web UI's small parts: escaping (no repository name, label or annotation can become markup),
 * the strict path grammar (a hostile spelling names no page at all), signed sessions (a changed,
 * foreign or expired cookie is nobody; each carries its credential stamp and issue time), CSRF
 * tokens bound to browser, session and user, cookies, and the log of logged-out sessions (rewritten
 * with its live lines once mostly expired, followed by every reader across the rewrite).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { html, Html } from '../../src/ui/html.js';
import { uiPageFromPath, isUiPath } from '../../src/ui/paths.js';
import { SessionKeys } from '../../src/ui/session.js';
import { readCookie, setCookie } from '../../src/ui/cookies.js';
import { RevokedSessions } from '../../src/ui/revoked-sessions.js';
import { KeyedLock } from '../../src/lib/section-lock.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

describe('html', () => {
  test('escapes every interpolated value, joins arrays, keeps Html as it is', () => {
    const name = '<script>alert("x")</script>&\'';
    const page = html`<p title="${name}">${name}</p>${[html`<b>${'1<2'}</b>`, 'a&b']}${null}${undefined}${false}${0}`;
    assert.ok(page instanceof Html);
    assert.equal(
      page.text,
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p><b>1&lt;2</b>a&amp;b0',
    );
  });
});

describe('UI paths', () => {
  test('pages by the distribution grammar', () => {
    assert.deepEqual(uiPageFromPath('/ui/'), { kind: 'repositories' });
    assert.deepEqual(uiPageFromPath('/'), { kind: 'root-redirect' });
    assert.deepEqual(uiPageFromPath('/ui/r/team-a/app'), { kind: 'repository', repository: 'team-a/app' });
    assert.deepEqual(uiPageFromPath('/ui/r/a/b/c/-/manifest/v1.0'), { kind: 'manifest', repository: 'a/b/c', reference: 'v1.0' });
    assert.deepEqual(uiPageFromPath(`/ui/r/a/-/manifest/sha256:${'a'.repeat(64)}`), {
      kind: 'manifest',
      repository: 'a',
      reference: `sha256:${'a'.repeat(64)}`,
    });
    assert.deepEqual(uiPageFromPath('/ui/r/a/-/delete'), { kind: 'delete', repository: 'a' });
    assert.deepEqual(uiPageFromPath('/ui/static/ui.css'), { kind: 'static', name: 'ui.css' });
    assert.ok(isUiPath('/ui/anything') && isUiPath('/?x') && isUiPath('/ui') && !isUiPath('/v2/') && !isUiPath('/uix'));
  });

  test('a hostile spelling names no page', () => {
    for (const path of [
      '/ui/r/team-b%2Fsecret',
      '/ui/r/team-a/../team-b/secret',
      '/ui/r/team-a/./app',
      '/ui/r//team-b/secret',
      '/ui/r/team-b/secret/',
      '/ui/r/TEAM-B/secret',
      '/ui/r/team-a\\..\\team-b',
      '/ui/r/team-b/secret\0',
      '/ui/r/a/-/manifest/../../b',
      '/ui/r/a/-/manifest/1/x',
      '/ui/r/a/-/-/delete',
      '/ui/r/-/delete',
      '/ui/r/a/-/',
      '/ui/static/../../package.json',
      '/ui/static/UI.css',
      `/ui/r/${'a'.repeat(256)}`,
      '/ui/r/a/-/manifest/-x',
      '/ui/r/a/-/manifest/:x',
    ]) {
      assert.equal(uiPageFromPath(path), undefined, path);
    }
  });
});

describe('UI sessions and CSRF tokens', () => {
  test('a session verifies with its key until it expires; a changed or foreign cookie is nobody', async () => {
    const dir = await makeTempDir('rg-ui-keys-');
    try {
      const keys = await SessionKeys.open(dir);
      assert.equal((await stat(join(dir, 'session.key'))).mode & 0o777, 0o600);
      const again = await SessionKeys.open(dir);
      const { value, session } = keys.issue(
        { user: 'robot$ci', via: 'robot', subjectId: 'id-1', credentialStamp: 'stamp-1' },
        60_000,
        1_000,
      );
      assert.deepEqual(again.verify(value, 2_000), session, 'the same key file, the same sessions');
      assert.equal(session.credentialStamp, 'stamp-1', 'bound to the credential it was issued for');
      assert.equal(session.issuedAt, 1_000);
      assert.equal(keys.verify(value, 61_000), undefined, 'expired');
      const [payload, signature] = value.split('.') as [string, string];
      const forged = Buffer.from(Buffer.from(payload, 'base64url').toString('utf8').replace('robot$ci', 'admin')).toString('base64url');
      assert.equal(keys.verify(`${forged}.${signature}`, 2_000), undefined, 'a changed payload');
      assert.equal(keys.verify(`${payload}.${signature.slice(0, -2)}AA`, 2_000), undefined, 'a changed signature');
      assert.equal(keys.verify('garbage', 2_000), undefined);
      const other = await SessionKeys.open(join(dir, 'other'));
      assert.equal(other.verify(value, 2_000), undefined, 'another server’s key');
    } finally {
      await removeDir(dir);
    }
  });

  test('a CSRF token is valid only for its nonce, session and user', async () => {
    const dir = await makeTempDir('rg-ui-csrf-');
    try {
      const keys = await SessionKeys.open(dir);
      const nonce = SessionKeys.newNonce();
      const token = keys.csrfToken(nonce, 'sid-1', 'alice');
      assert.equal(keys.csrfTokenMatches(token, nonce, 'sid-1', 'alice'), true);
      assert.equal(keys.csrfTokenMatches(token, SessionKeys.newNonce(), 'sid-1', 'alice'), false, 'another browser');
      assert.equal(keys.csrfTokenMatches(token, nonce, 'sid-2', 'alice'), false, 'another session');
      assert.equal(keys.csrfTokenMatches(token, nonce, 'sid-1', 'bob'), false, 'another user');
      assert.equal(keys.csrfTokenMatches(null, nonce, 'sid-1', 'alice'), false);
      assert.equal(keys.csrfTokenMatches(token, undefined, 'sid-1', 'alice'), false, 'no nonce cookie');
      assert.equal(keys.csrfTokenMatches('', nonce, 'sid-1', 'alice'), false);
    } finally {
      await removeDir(dir);
    }
  });

  test('the logout log: rewritten with its live lines once mostly expired; another reader follows appends and the rewrite', async () => {
    const dir = await makeTempDir('rg-ui-revoked-');
    const lock = new KeyedLock();
    const writer = await RevokedSessions.open(dir, lock);
    // Another worker: its own copy, kept up to date from the file.
    const reader = await RevokedSessions.open(dir, lock);
    try {
      const hour = Date.now() + 3_600_000;
      await writer.revoke('long-lived', hour);
      await waitFor('the other reader sees the append', () => reader.has('long-lived'));
      const soon = Date.now() + 20;
      // Sessions that expire while the log grows: past 1024 lines, with at most half of them live, it is rewritten.
      for (let index = 0; index < 1023; index += 1) await writer.revoke(`short-${String(index)}`, soon);
      const text = await readFile(join(dir, 'revoked-sessions.log'), 'utf8');
      assert.ok(text.split('\n').length < 100, `rewritten with the live lines only (${String(text.length)} bytes)`);
      assert.match(text, /^long-lived \d+$/m);
      assert.equal(writer.has('long-lived'), true);
      assert.equal(writer.has('short-1'), false, 'expired: not revoked any more, nor needed');
      await writer.revoke('after-rewrite', hour);
      await waitFor('the other reader follows the rewritten log', () => reader.has('after-rewrite') && reader.has('long-lived'));
      const restarted = await RevokedSessions.open(dir, lock);
      assert.equal(restarted.has('long-lived') && restarted.has('after-rewrite'), true, 'a process started later reads both');
      await restarted.close();
    } finally {
      await Promise.all([writer.close(), reader.close()]);
      await removeDir(dir);
    }
  });

  test('cookies: HttpOnly and SameSite=Strict always, Secure with the __Host- prefix over https', () => {
    assert.equal(
      setCookie('session', 'v', true, 60).replace(/Expires=[^;]+/, 'Expires=X'),
      '__Host-rg_session=v; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=60; Expires=X',
    );
    assert.equal(setCookie('csrf', 'n', false), 'rg_csrf=n; Path=/; HttpOnly; SameSite=Strict');
    assert.equal(readCookie({ cookie: 'a=1; __Host-rg_session=xyz; rg_session=no' }, '__Host-rg_session'), 'xyz');
    assert.equal(readCookie({}, 'rg_csrf'), undefined);
  });
});
