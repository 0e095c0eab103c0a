/**
 * A personal access token ends when its owner's credential does.
 *
 * The attack: a password is stolen. The thief signs in to the web UI as the user and makes a
 * personal access token (`rgpat_…`, good for up to 90 days). The administrator does what one does
 * then: `htpasswd -B` gives the user a new password (or the directory does, for an LDAP user), or
 * `registry-gate token revoke --user NAME` ends everything issued to the user. The UI session and
 * refresh tokens ended; the personal token did not: it was checked only for its owner's existence,
 * so the thief kept pushing and pulling with skopeo and `docker login` until the token expired.
 * Now each token carries the stamp of the credential its owner had when it was made, and is
 * refused once the owner's current credential has another stamp, or once the user's tokens were
 * revoked; the same holds for a user of the OpenID provider, whose UI session and tokens
 * `token revoke --user` ends too.
 *
 * Real clients (skopeo, the token endpoint's password grant), Debian's `htpasswd`, a real OpenLDAP,
 * a real OpenID Provider and the real CLI, against the gateway as production assembles it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { CLI } from '../helpers/gate-process.js';
import { makePersonalToken } from '../helpers/personal-tokens.js';
import { startTestOp, type TestOp } from '../helpers/oidc-provider.js';
import { signInThroughProvider } from '../helpers/oidc-sign-in.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { dockerRef, skopeoInspect } from '../helpers/skopeo.js';
import { startSlapd, sshaHash, type RunningSlapd } from '../helpers/slapd.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { UiClient } from '../helpers/ui-client.js';
import { waitFor } from '../helpers/wait.js';

const SERVICE = 'registry-gate.test';
const ACCESS = [
  { repository: 'shared/**', actions: ['pull'], subjects: ['authenticated'] },
  { repository: '**', actions: ['pull', 'push'], subjects: ['user:pusher'] },
];
const PUSHER = { pusher: 'pusher-pat-reset-pw' };
/** "Within 2 seconds": the htpasswd file is watched; revocations are a watched file in the key directory. */
const WITHIN = { timeoutMs: 2000, intervalMs: 100 };

interface Setup {
  dir: string;
  tls: TlsPair;
  gate: TestGate;
  /** A config for the CLI that names the gateway's data and key directories. */
  cliConfig: string;
}

async function openSetup(prefix: string, users: Record<string, string>, auth: Record<string, unknown> = {}, op?: TestOp): Promise<Setup> {
  const dir = await makeTempDir(prefix);
  const tls = await makeTlsPair(join(dir, 'tls'));
  const token = { service: SERVICE, keyDir: join(dir, 'keys') };
  const gate = await startGate({
    dir,
    tls,
    users: { ...users, ...PUSHER },
    bcryptCost: 4,
    config: { access: ACCESS, auth: { ...auth, token } },
  });
  op?.registerClient(gate.url);
  const cliConfig = join(dir, 'cli.yaml');
  await writeFile(cliConfig, JSON.stringify({ dataDir: join(dir, 'data'), auth: { token } }));
  const pusher = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('pusher', PUSHER.pusher), dispatcher: gate.dispatcher }));
  await pusher.pushImage('shared/app', '1');
  return { dir, tls, gate, cliConfig };
}

async function signedInUi(gate: TestGate, user: string, password: string): Promise<UiClient> {
  const ui = new UiClient(gate.url, gate.dispatcher);
  assert.equal((await ui.logIn(user, password)).status, 303, `${user} signs in to the UI`);
  return ui;
}

function makePullToken(ui: UiClient, name: string): Promise<string> {
  return makePersonalToken(ui, { name, repositories: ['shared/**'], actions: ['pull'] });
}

/** GET /v2/shared/app/tags/list with the token as the owner's password. */
async function v2Status(gate: TestGate, user: string, token: string): Promise<number> {
  const client = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(user, token), dispatcher: gate.dispatcher }));
  return (await client.call('GET', '/v2/shared/app/tags/list')).status;
}

/** The token endpoint's password grant with the token as the password. */
async function grantStatus(gate: TestGate, user: string, token: string): Promise<number> {
  const response = await request(`${gate.url}/auth/token`, {
    method: 'POST',
    dispatcher: gate.dispatcher,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'password',
      username: user,
      password: token,
      service: SERVICE,
      scope: 'repository:shared/app:pull',
    }).toString(),
  });
  await response.body.dump();
  return response.statusCode;
}

async function skopeoPulls(setup: Setup, user: string, token: string): Promise<boolean> {
  const inspected = await skopeoInspect(dockerRef(setup.gate.host, 'shared/app', '1'), {
    creds: { user, password: token },
    certDir: setup.tls.caDir,
  });
  if (inspected.code !== 0)
    assert.match(inspected.stderr, /unauthorized|authentication required|401/i, 'refused as unauthorized, nothing else');
  return inspected.code === 0;
}

/** The token works with skopeo, at /v2/ and at the token endpoint. */
async function assertWorks(setup: Setup, user: string, token: string, what: string): Promise<void> {
  assert.equal(await v2Status(setup.gate, user, token), 200, `${what}: Basic at /v2/`);
  assert.equal(await grantStatus(setup.gate, user, token), 200, `${what}: the password grant`);
  assert.equal(await skopeoPulls(setup, user, token), true, `${what}: skopeo`);
}

/** Within 2 s the token is refused at /v2/; then skopeo and the token endpoint refuse it too. */
async function assertEnds(setup: Setup, user: string, token: string, what: string): Promise<void> {
  await waitFor(`${what}: the personal token refused at /v2/`, async () => (await v2Status(setup.gate, user, token)) === 401, WITHIN);
  assert.equal(await grantStatus(setup.gate, user, token), 401, `${what}: the password grant refuses it`);
  assert.equal(await skopeoPulls(setup, user, token), false, `${what}: skopeo is refused`);
}

async function revokeUser(setup: Setup, user: string): Promise<void> {
  const revoked = await runProcess(process.execPath, [CLI, 'token', 'revoke', '--user', user, '-c', setup.cliConfig], {
    timeoutMs: 30_000,
  });
  assert.equal(revoked.code, 0, revoked.stderr);
}

async function closeSetup(setup: Setup | undefined): Promise<void> {
  if (!setup) return;
  await setup.gate.stop();
  await removeDir(setup.dir);
}

describe('htpasswd owners', () => {
  const users = { alice: 'alice-pat-reset-pw-1', dave: 'dave-pat-reset-pw-2' };
  let setup: Setup | undefined;
  const use = () => setup as Setup;

  before(async () => {
    setup = await openSetup('rg-pat-reset-', users);
  });
  after(() => closeSetup(setup));

  test('`htpasswd -B` gives alice a new password: the token made with the old one ends within 2 s', async () => {
    const token = await makePullToken(await signedInUi(use().gate, 'alice', users.alice), 'made-by-the-thief');
    await assertWorks(use(), 'alice', token, 'before the reset');

    const reset = await runProcess('htpasswd', ['-b', '-B', '-C', '4', use().gate.htpasswdFile, 'alice', 'alice-New-pw-after-theft'], {
      timeoutMs: 30_000,
    });
    assert.equal(reset.code, 0, reset.stderr);
    await assertEnds(use(), 'alice', token, 'after the password reset');

    const renewed = await makePullToken(await signedInUi(use().gate, 'alice', 'alice-New-pw-after-theft'), 'made-after-the-reset');
    await assertWorks(use(), 'alice', renewed, 'a token made with the new password');
  });

  test('`token revoke --user dave` ends his personal tokens as it ends his sessions, not his password', async () => {
    const token = await makePullToken(await signedInUi(use().gate, 'dave', users.dave), 'before-the-revocation');
    await assertWorks(use(), 'dave', token, 'before the revocation');
    await revokeUser(use(), 'dave');
    await assertEnds(use(), 'dave', token, 'after token revoke --user');

    const renewed = await makePullToken(await signedInUi(use().gate, 'dave', users.dave), 'after-the-revocation');
    await assertWorks(use(), 'dave', renewed, 'a token made after the revocation');
  });
});

describe('LDAP owners', () => {
  let slapd: RunningSlapd | undefined;
  let setup: Setup | undefined;

  before(async () => {
    slapd = await startSlapd();
    setup = await openSetup(
      'rg-pat-reset-ldap-',
      {},
      {
        providers: ['htpasswd', 'ldap'],
        // A token's owner is remembered as long as a verified password is: the change shows within it.
        cacheTtl: '1s',
        ldap: {
          url: slapd.url,
          bindDN: slapd.serviceDN,
          bindPasswordFile: slapd.servicePasswordFile,
          userBase: slapd.peopleBase,
          tls: { ca: slapd.caFile },
          timeout: '2s',
        },
      },
    );
  });
  after(async () => {
    await closeSetup(setup);
    await slapd?.close();
  });

  test("the directory changes xavier's password: the token made with the old one ends", async () => {
    const directory = slapd as RunningSlapd;
    const { xavier } = directory.users;
    const token = await makePullToken(await signedInUi((setup as Setup).gate, 'xavier', xavier.password), 'made-by-the-thief');
    await assertWorks(setup as Setup, 'xavier', token, 'before the change');

    const newPassword = 'xavier-New-pw-after-theft';
    await directory.modify(`dn: ${xavier.dn}\nchangetype: modify\nreplace: userPassword\nuserPassword: ${sshaHash(newPassword)}\n`);
    await assertEnds(setup as Setup, 'xavier', token, 'after the directory changed the password');
  });
});

describe('OpenID Connect owners', () => {
  const accounts = { olivia: { password: 'olivia-idp-pw-1', groups: ['team-a'] } };
  let op: TestOp | undefined;
  let opDir: string | undefined;
  let setup: Setup | undefined;

  before(async () => {
    opDir = await makeTempDir('rg-pat-reset-op-');
    op = await startTestOp(opDir, accounts);
    setup = await openSetup(
      'rg-pat-reset-oidc-',
      {},
      {
        oidc: {
          issuer: op.issuer,
          clientId: op.clientId,
          clientSecretFile: op.clientSecretFile,
          ca: op.tls.caFile,
          scopes: ['openid', 'profile', 'groups', 'offline_access'],
        },
      },
      op,
    );
  });
  after(async () => {
    await closeSetup(setup);
    await op?.stop();
    if (opDir) await removeDir(opDir);
  });

  test('`token revoke --user olivia` ends her UI session and her personal tokens', async () => {
    const gate = (setup as Setup).gate;
    const ui = new UiClient(gate.url, gate.dispatcher);
    await signInThroughProvider(ui, op as TestOp, { username: 'olivia', password: accounts.olivia.password });
    const token = await makePullToken(ui, 'made-in-a-stolen-session');
    await assertWorks(setup as Setup, 'olivia', token, 'before the revocation');

    await revokeUser(setup as Setup, 'olivia');
    await assertEnds(setup as Setup, 'olivia', token, 'after token revoke --user');
    await waitFor('her UI session signed out', async () => !/Signed in as/.test((await ui.get('/ui/')).body), WITHIN);
  });
});
