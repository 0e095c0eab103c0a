/**
 * The attack: an open redirect through the sign-in's return address. A link to
 * `/ui/oidc/login?return=https://evil.example/` (or `//evil.example`, `/\evil.example`, a
 * `javascript:` URL, a path that climbs out of /ui/) would send a victim, freshly signed in at the
 * real provider, on to a page of the attacker's that looks like it (phishing for the password or a
 * token). Only a page of this UI is accepted as the return address: anything else is refused at the
 * login with a page that says why, and an audit line; a good one is where the browser lands.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGate, type TestGate } from '../helpers/gate.js';
import { makeTlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { UiClient } from '../helpers/ui-client.js';
import { parseAuditLines, readAuditText, waitForAudit } from '../helpers/access-http.js';
import { startTestOp, type TestOp } from '../helpers/oidc-provider.js';
import { signInThroughProvider } from '../helpers/oidc-sign-in.js';

const HOSTILE = [
  'https://evil.example/',
  '//evil.example/ui/',
  '/\\evil.example',
  '/ui//evil.example',
  'javascript:alert(1)',
  '/ui/../../etc',
  '/ui/%2e%2e/x',
  '/ui/r/a?next=<script>',
  '/ui/oidc/callback?code=x',
  '/ui/logout',
  ' /ui/',
  'ui/',
];

describe('the sign-in’s return address', () => {
  let dir: string;
  let op: TestOp;
  let gate: TestGate;
  let auditFile: string;

  before(async () => {
    dir = await makeTempDir('rg-oidc-redirect-');
    op = await startTestOp(dir, { alice: { password: 'alice-pw-1', groups: [] } });
    auditFile = join(dir, 'audit.log');
    gate = await startGate({
      dir,
      tls: await makeTlsPair(join(dir, 'gate-tls')),
      config: {
        auth: { oidc: { issuer: op.issuer, clientId: op.clientId, clientSecretFile: op.clientSecretFile, ca: op.tls.caFile } },
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

  test('anything but a page of this UI is refused before the provider is asked', async () => {
    for (const target of HOSTILE) {
      const ui = new UiClient(gate.url, gate.dispatcher);
      const reply = await ui.get(`/ui/oidc/login?return=${encodeURIComponent(target)}`);
      assert.equal(reply.status, 400, `return=${target}`);
      assert.equal(reply.headers.location, undefined, `return=${target}: no redirect`);
      assert.match(reply.body, /not a page of this site/);
      assert.ok(!reply.body.includes('evil.example/'), 'the address is not echoed');
      assert.ok(![...ui.cookies.keys()].some((name) => name.endsWith('rg_oidc')), 'no sign-in was started');
    }
    const lines = await waitForAudit(
      auditFile,
      (all) => all.filter((line) => line.reason === 'bad-return-address').length >= HOSTILE.length,
    );
    const refused = lines.filter((line) => line.reason === 'bad-return-address');
    assert.equal(refused.length, HOSTILE.length);
    assert.ok(refused.every((line) => line.endpoint === '/ui/oidc/login' && line.status === 400 && line.decision === 'deny'));
  });

  test('a page of this UI is where the browser lands after signing in', async () => {
    const ui = new UiClient(gate.url, gate.dispatcher);
    const reply = await signInThroughProvider(ui, op, { username: 'alice', password: 'alice-pw-1' }, '/ui/r/team-a/app');
    assert.match(reply.body, /<meta http-equiv="refresh" content="0;url=\/ui\/r\/team-a\/app">/);
    assert.match(reply.body, /<a href="\/ui\/r\/team-a\/app">Continue<\/a>/);
    assert.ok(parseAuditLines(await readAuditText(auditFile)).some((line) => line.action === 'login' && line.decision === 'allow'));
  });
});
