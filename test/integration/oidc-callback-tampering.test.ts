/**
 * The attacks on the OpenID Connect callback, against a real provider:
 *
 * - a callback delivered to a browser that started no sign-in (a victim lured to an attacker's
 *   callback URL: login CSRF), or with a `state` other than the one this browser's sign-in sent;
 * - a replayed callback: the same URL and the same login-state cookie once more, after the
 *   sign-in it finished (refused here, before the provider is asked to exchange the code again);
 * - a `code` from another session: the attacker's own code put into the victim's callback, with
 *   the victim's state (the PKCE verifier of the victim's sign-in does not match the code, so the
 *   provider refuses the exchange);
 * - the provider's own refusal (`error=access_denied`).
 *
 * Each is refused with a page that says so (4xx, never a 5xx), no session, and an audit line with
 * a reason code.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGate, type TestGate } from '../helpers/gate.js';
import { makeTlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { UiClient } from '../helpers/ui-client.js';
import { waitForAudit } from '../helpers/access-http.js';
import { startTestOp, type TestOp } from '../helpers/oidc-provider.js';
import { finishSignIn, passProvider, startSignIn } from '../helpers/oidc-sign-in.js';

const ACCOUNTS = { victim: { password: 'victim-pw-1', groups: [] }, mallory: { password: 'mallory-pw-2', groups: [] } };

describe('tampered OpenID Connect callbacks', () => {
  let dir: string;
  let op: TestOp;
  let gate: TestGate;
  let auditFile: string;
  const browser = () => new UiClient(gate.url, gate.dispatcher);
  const signedIn = async (ui: UiClient) => /Signed in as/.test((await ui.get('/ui/')).body);
  const refusedWith = async (reason: string) => {
    const lines = await waitForAudit(auditFile, (all) => all.some((line) => line.reason === reason));
    const line = lines.find((entry) => entry.reason === reason);
    assert.ok(line, `an audit line with reason ${reason}`);
    assert.equal(line.action, 'login');
    assert.equal(line.decision, 'deny');
    assert.equal(line.endpoint, '/ui/oidc/callback');
    assert.equal(line.via, 'oidc');
    return line;
  };

  before(async () => {
    dir = await makeTempDir('rg-oidc-tamper-');
    op = await startTestOp(dir, ACCOUNTS);
    auditFile = join(dir, 'audit.log');
    gate = await startGate({
      dir,
      tls: await makeTlsPair(join(dir, 'gate-tls')),
      config: {
        auth: {
          oidc: { issuer: op.issuer, clientId: op.clientId, clientSecretFile: op.clientSecretFile, ca: op.tls.caFile },
        },
        audit: { enabled: true, file: auditFile },
      },
    });
    op.registerClient(gate.url);
  });
  after(async () => {
    await gate.stop();
    await op.stop();
    await removeDir(dir);
  });

  test('a callback in a browser that started no sign-in is refused (login CSRF)', async () => {
    const attacker = browser();
    const callback = await passProvider(op, await startSignIn(attacker), { username: 'mallory', password: 'mallory-pw-2' }, gate.url);
    const victim = browser();
    const reply = await finishSignIn(victim, callback);
    assert.equal(reply.status, 400);
    assert.match(reply.body, /No sign-in was started in this browser/);
    assert.equal(await signedIn(victim), false);
    await refusedWith('oidc-no-login-state');
  });

  test('a callback with another state than this browser’s sign-in sent is refused', async () => {
    const ui = browser();
    const callback = await passProvider(op, await startSignIn(ui), { username: 'victim', password: 'victim-pw-1' }, gate.url);
    callback.searchParams.set('state', 'not-the-state-that-was-sent');
    const reply = await finishSignIn(ui, callback);
    assert.equal(reply.status, 400);
    assert.equal(await signedIn(ui), false);
    await refusedWith('oidc-state-mismatch');
  });

  test('a replayed callback (the same URL and login cookie again) is refused', async () => {
    const ui = browser();
    const authorize = await startSignIn(ui);
    const loginCookie = [...ui.cookies].find(([name]) => name.endsWith('rg_oidc'));
    assert.ok(loginCookie, 'the login state cookie');
    const callback = await passProvider(op, authorize, { username: 'victim', password: 'victim-pw-1' }, gate.url);
    assert.equal((await finishSignIn(ui, callback)).status, 200, 'the first use signs in');
    const replayer = browser();
    replayer.cookies.set(loginCookie[0], loginCookie[1]);
    const replay = await finishSignIn(replayer, callback);
    assert.equal(replay.status, 400);
    assert.match(replay.body, /finished already/);
    assert.equal(await signedIn(replayer), false);
    await refusedWith('oidc-state-replayed');
  });

  test('a code from another session, with this session’s state, is refused by the provider', async () => {
    const victim = browser();
    const victimCallback = await passProvider(op, await startSignIn(victim), { username: 'victim', password: 'victim-pw-1' }, gate.url);
    const attacker = browser();
    const attackerCallback = await passProvider(
      op,
      await startSignIn(attacker),
      { username: 'mallory', password: 'mallory-pw-2' },
      gate.url,
    );
    const mixed = new URL(victimCallback);
    mixed.searchParams.set('code', attackerCallback.searchParams.get('code') as string);
    const reply = await finishSignIn(victim, mixed);
    assert.equal(reply.status, 401);
    assert.equal(await signedIn(victim), false, 'the victim is not signed in as the attacker');
    const line = await refusedWith('oidc-refused');
    assert.match(String(line.detail), /invalid_grant/);
  });

  test('malformed callbacks are a 4xx, never a 5xx', async () => {
    const variants = [
      (state: string) => `state=${state}&state=${state}&code=abc`,
      (state: string) => `state=${state}`,
      (state: string) => `state=${state}&code=${'x'.repeat(1500)}`,
      (state: string) => `state=${state}&code=abc&iss=https%3A%2F%2Fevil.example`,
      (state: string) => `state=${state}&code=%00%ff`,
      () => 'code=abc',
      () => '',
    ];
    for (const variant of variants) {
      const ui = browser();
      const state = new URL(await startSignIn(ui)).searchParams.get('state') ?? '';
      const reply = await ui.get(`/ui/oidc/callback?${variant(state)}`);
      assert.ok(reply.status >= 400 && reply.status < 500, `${variant('STATE')}: ${reply.status}`);
      assert.equal(await signedIn(ui), false);
    }
  });

  test('the provider’s refusal is shown and audited', async () => {
    const ui = browser();
    const authorize = new URL(await startSignIn(ui));
    const reply = await ui.get(`/ui/oidc/callback?error=access_denied&state=${authorize.searchParams.get('state') ?? ''}`);
    assert.equal(reply.status, 401);
    assert.match(reply.body, /did not sign you in \(access_denied\)/);
    await refusedWith('oidc-provider-error');
  });
});
