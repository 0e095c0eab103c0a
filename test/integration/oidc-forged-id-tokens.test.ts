/**
 * The attack: an ID token the gateway must not believe, from the provider's token endpoint — signed
 * by a key the provider does not publish (claiming its key id, or another), expired, issued for
 * another client or by another issuer, unsigned (`alg: none`), or an HMAC keyed with the client
 * secret (a value the client knows too, so no proof the provider made it). Any of them believed
 * would sign in whoever the token names. An attacker-controlled provider (test/helpers/hostile-idp.ts)
 * hands each one to the gateway's real code flow; each is refused with a 401 page, no session and an
 * audit line, never a 5xx. A valid token from the same provider signs in, so the refusals are the
 * checks' doing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { startGate, type TestGate } from '../helpers/gate.js';
import { makeTlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { UiClient } from '../helpers/ui-client.js';
import { parseAuditLines, readAuditText, waitForAudit } from '../helpers/access-http.js';
import { ID_TOKEN_SCENARIOS, startHostileIdp, type HostileIdp, type IdTokenScenario } from '../helpers/hostile-idp.js';
import { finishSignIn, startSignIn } from '../helpers/oidc-sign-in.js';

describe('ID tokens that must not be believed', () => {
  let dir: string;
  let idp: HostileIdp;
  let gate: TestGate;
  let auditFile: string;

  before(async () => {
    dir = await makeTempDir('rg-oidc-forged-');
    idp = await startHostileIdp(dir);
    auditFile = join(dir, 'audit.log');
    gate = await startGate({
      dir,
      tls: await makeTlsPair(join(dir, 'gate-tls')),
      config: {
        auth: { oidc: { issuer: idp.issuer, clientId: idp.clientId, clientSecretFile: idp.clientSecretFile, ca: idp.tls.caFile } },
        audit: { enabled: true, file: auditFile },
      },
    });
  });
  after(async () => {
    await gate.stop();
    await idp.stop();
    await removeDir(dir);
  });

  async function signInWith(scenario: IdTokenScenario): Promise<{ status: number; body: string; signedIn: boolean }> {
    idp.next = scenario;
    const ui = new UiClient(gate.url, gate.dispatcher);
    const authorize = await startSignIn(ui);
    const answer = await request(authorize, { dispatcher: idp.dispatcher });
    await answer.body.dump();
    const callback = new URL(answer.headers.location as string);
    const reply = await finishSignIn(ui, callback);
    return { status: reply.status, body: reply.body, signedIn: /Signed in as/.test((await ui.get('/ui/')).body) };
  }

  test('a valid ID token from the same provider signs in', async () => {
    const outcome = await signInWith('valid');
    assert.equal(outcome.status, 200, outcome.body.slice(0, 500));
    assert.equal(outcome.signedIn, true);
  });

  for (const scenario of ID_TOKEN_SCENARIOS.filter((name) => name !== 'valid')) {
    test(`${scenario}: refused with a 401, no session, an audit line`, async () => {
      const before = parseAuditLines(await readAuditText(auditFile)).length;
      const outcome = await signInWith(scenario);
      assert.equal(outcome.status, 401, outcome.body.slice(0, 500));
      assert.match(outcome.body, /could not be accepted/);
      assert.equal(outcome.signedIn, false);
      const lines = await waitForAudit(auditFile, (all) => all.length > before);
      const line = lines.slice(before).find((entry) => entry.action === 'login');
      assert.ok(line, 'an audit line');
      assert.equal(line.decision, 'deny');
      assert.equal(line.status, 401);
      assert.match(String(line.reason), /^oidc-(id-token-invalid|signature-invalid)$/);
    });
  }

  test('no ID token reaches the audit trail', async () => {
    const trail = await readAuditText(auditFile);
    for (const token of idp.issued) assert.ok(!trail.includes(token.split('.')[1] as string), 'no ID token payload in the audit trail');
  });
});
