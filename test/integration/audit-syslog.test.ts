/**
 * The audit trail into a SIEM (`audit.syslog`), received by a real rsyslogd over each transport:
 * plain TCP (RFC 6587 octet counting) with structured data, TLS (RFC 5425) verified against the
 * configured CA, and UDP (RFC 5426) with the record as JSON. rsyslog's own RFC 5424 parser and its
 * mmpstrucdata module read every message; what they parsed must be what the gateway recorded.
 *
 * Records come from real traffic: a skopeo push, a pull refused by the rules, a login refused with a
 * hostile user name (every character that could end a structured-data element, a header or a line:
 * `"`, `\`, `]`, `=`, spaces, control characters, non-ASCII), a repository and tag spelled with every
 * character their grammar allows, and a token granted at /auth/token. No message may carry a
 * password, an Authorization header or the token itself.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { request } from 'undici';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage, type OciImage } from '../helpers/oci-image.js';
import { skopeoCopy, dockerRef } from '../helpers/skopeo.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { startRsyslog, type ReceivedSyslog, type RunningRsyslog } from '../helpers/rsyslog.js';

const SD_ID = 'audit@32473';
const ALICE = { user: 'alice', password: 'alice-Sysl0g-secret' };
/** Every character the repository grammar allows: lower case, digits, `.`, `_`, `__`, runs of `-`, `/`. */
const HOSTILE_REPOSITORY = 'a0.b_c__d-e---f/g9/h__i.j-k';
/** Every character the tag grammar allows: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`. */
const HOSTILE_TAG = '_Az09.-_x';
/** A user name tried at a login: everything that could break out of a PARAM-VALUE, a header or a line. */
const HOSTILE_USER = 'eve"] [x@1 a="b"] \\ \\" =\u0000\u0001\u001b[31m\n<13>1 - forged - - - -\r\u007f\u0085 é ü 日本';
/** C0, DEL and C1 controls. */
// eslint-disable-next-line no-control-regex -- control characters are what is looked for
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
/** What a structured PARAM-VALUE carries of it once parsed: the same, control characters as `\uXXXX` text. */
const HOSTILE_USER_AS_SD = HOSTILE_USER.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** A login refused at the token endpoint's password grant, whose `username` may hold any character. */
async function refusedPasswordGrant(gate: TestGate, username: string): Promise<void> {
  const form = new URLSearchParams({ grant_type: 'password', service: 'syslog-test', username, password: 'guess' });
  const reply = await request(`${gate.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
    dispatcher: gate.dispatcher,
  });
  await reply.body.dump();
  assert.equal(reply.statusCode, 401);
}

function auditParams(message: ReceivedSyslog): Record<string, string> {
  const params = message.sd?.[SD_ID];
  assert.ok(params, `no ${SD_ID} element parsed in ${JSON.stringify(message)}`);
  return params;
}

describe('audit trail to syslog (rsyslog over TCP, TLS and UDP)', () => {
  let dir: string;
  let tls: TlsPair;
  let rsyslog: RunningRsyslog;
  let image: OciImage;
  const gates: TestGate[] = [];

  const startSyslogGate = async (name: string, syslog: Record<string, unknown>): Promise<TestGate> => {
    const gate = await startGate({
      dir: join(dir, name),
      tls,
      users: { [ALICE.user]: ALICE.password },
      bcryptCost: 4,
      config: {
        groups: { team: [ALICE.user], 'ops "a] b': [ALICE.user] },
        access: [
          { repository: 'team/**', actions: ['pull', 'push'], subjects: ['group:team'] },
          { repository: 'a0.b_c__d-e---f/**', actions: ['pull', 'push'], subjects: ['group:team'] },
        ],
        auth: { token: { service: 'syslog-test' } },
        audit: { enabled: true, file: join(dir, name, 'audit.log'), syslog: { hostname: name, appName: 'rg-test', ...syslog } },
      },
    });
    gates.push(gate);
    return gate;
  };
  const client = (gate: TestGate, authHeader?: string) =>
    new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, ...(authHeader ? { authHeader } : {}) }));
  const fromGate = (name: string) => (all: ReceivedSyslog[]) => all.filter((message) => message.hostname === name);

  before(async () => {
    dir = await makeTempDir('rg-audit-syslog-');
    tls = await makeTlsPair(join(dir, 'tls'));
    rsyslog = await startRsyslog(join(dir, 'rsyslog'), { tls: { certFile: tls.certFile, keyFile: tls.keyFile } });
    image = await makeOciImage(join(dir, 'image'), { tag: 'v1', layers: [randomBytes(600), randomBytes(700)] });
  });

  after(async () => {
    for (const gate of gates) await gate.stop();
    await rsyslog.close();
    await removeDir(dir);
  });

  test('over TCP, structured data: a skopeo push, a refused pull, a refused login and a token grant arrive, parsed as recorded', async () => {
    const gate = await startSyslogGate('gate-tcp', { address: `127.0.0.1:${rsyslog.ports.tcp}`, transport: 'tcp', facility: 'local3' });
    const pushed = await skopeoCopy({
      from: image.ref,
      to: dockerRef(gate.host, 'team/app', 'v1'),
      dest: { creds: ALICE, certDir: tls.caDir },
    });
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal((await client(gate).call('GET', '/v2/team/app/manifests/v1')).status, 401);
    assert.equal((await client(gate, basic(ALICE.user, 'wrong-Passw0rd')).call('GET', '/v2/')).status, 401);
    const token = await request(`${gate.url}/auth/token?service=syslog-test&scope=repository:team/app:pull`, {
      headers: { authorization: basic(ALICE.user, ALICE.password) },
      dispatcher: gate.dispatcher,
    });
    const issued = (await token.body.json()) as { token: string };
    assert.equal(token.statusCode, 200);

    const messages = fromGate('gate-tcp')(
      await rsyslog.waitForMessages('the tcp records', (all) => fromGate('gate-tcp')(all).some((m) => m.msgid === 'token-grant')),
    );
    for (const message of messages) {
      assert.equal(message.transport, 'tcp');
      assert.equal(message.appname, 'rg-test');
      assert.equal(message.procid, String(process.pid));
      // local3 = 19: PRI 19*8 + 6 (info) for an allowed record, + 5 (notice) for a refusal.
      assert.equal(message.pri, 19 * 8 + (auditParams(message).decision === 'allow' ? 6 : 5));
    }
    const push = messages.find((m) => m.msgid === 'push' && auditParams(m).tag === 'v1');
    assert.ok(push, 'the manifest push arrived');
    assert.deepEqual(
      { ...auditParams(push) },
      {
        ...auditParams(push),
        user: ALICE.user,
        'groups.0': 'team',
        'groups.1': 'ops "a] b',
        action: 'push',
        repository: 'team/app',
        decision: 'allow',
        status: '201',
        method: 'PUT',
      },
    );
    assert.match(push.msg, /^ ?allow:push:201$/);
    const refusedPull = messages.find((m) => m.msgid === 'pull');
    assert.equal(refusedPull && auditParams(refusedPull).decision, 'deny');
    const login = messages.find((m) => m.msgid === 'login');
    assert.equal(login && auditParams(login).user, ALICE.user);
    assert.equal(login && auditParams(login).reason, 'invalid-credentials');
    const grant = messages.find((m) => m.msgid === 'token-grant');
    assert.ok(grant, 'the token grant arrived');
    assert.equal(auditParams(grant).scope, 'repository:team/app:pull');
    assert.equal(auditParams(grant).grant, 'caller');
    assert.equal(auditParams(grant).endpoint, '/auth/token');

    const everything = JSON.stringify(await rsyslog.received());
    for (const secret of [ALICE.password, 'wrong-Passw0rd', issued.token, basic(ALICE.user, ALICE.password).slice(6)])
      assert.ok(!everything.includes(secret), 'no password, credentials or token reach the collector');
  });

  test('a hostile user name, repository and tag give valid syslog whose structured data round-trips', async () => {
    const gate = gates[0] as TestGate;
    await client(gate, basic(ALICE.user, ALICE.password)).pushImage(HOSTILE_REPOSITORY, HOSTILE_TAG);
    await refusedPasswordGrant(gate, HOSTILE_USER);

    const messages = fromGate('gate-tcp')(
      await rsyslog.waitForMessages('the hostile records', (all) =>
        fromGate('gate-tcp')(all).some((m) => m.msgid === 'login' && auditParams(m).user !== ALICE.user),
      ),
    );
    const push = messages.find((m) => m.msgid === 'push' && auditParams(m).tag === HOSTILE_TAG);
    assert.ok(push, 'the push with the hostile tag parsed');
    assert.equal(auditParams(push).repository, HOSTILE_REPOSITORY);
    const login = messages.find((m) => m.msgid === 'login' && auditParams(m).user !== ALICE.user);
    assert.ok(login);
    assert.equal(auditParams(login).user, HOSTILE_USER_AS_SD, 'the tried name round-trips, control characters as \\uXXXX');
    assert.equal(Object.keys(login.sd ?? {}).length, 1, 'no forged element');
    assert.ok(!new RegExp(CONTROL.source).test(login.sdRaw), 'no control character on the wire');
    assert.equal(login.appname, 'rg-test', 'the header is untouched');
  });

  test('over TLS, verified against audit.syslog.ca, records arrive', async () => {
    const gate = await startSyslogGate('gate-tls', { address: `127.0.0.1:${rsyslog.ports.tls}`, transport: 'tls', ca: tls.caFile });
    assert.equal((await client(gate).call('GET', '/v2/team/tls/manifests/latest')).status, 401);
    const [message] = fromGate('gate-tls')(await rsyslog.waitForMessages('a tls record', (all) => fromGate('gate-tls')(all).length > 0));
    assert.ok(message);
    assert.equal(message.transport, 'tls');
    assert.equal(auditParams(message).repository, 'team/tls');
    assert.equal(auditParams(message).decision, 'deny');
  });

  test('over UDP, the record as JSON: the hostile user name round-trips exactly', async () => {
    const gate = await startSyslogGate('gate-udp', { address: `127.0.0.1:${rsyslog.ports.udp}`, transport: 'udp', format: 'json' });
    await refusedPasswordGrant(gate, HOSTILE_USER);
    const [message] = fromGate('gate-udp')(await rsyslog.waitForMessages('a udp record', (all) => fromGate('gate-udp')(all).length > 0));
    assert.ok(message);
    assert.equal(message.transport, 'udp');
    assert.equal(message.sdRaw, '-');
    const record = JSON.parse(message.msg) as Record<string, unknown>;
    assert.equal(record.user, HOSTILE_USER);
    assert.equal(record.action, 'login');
    assert.equal(record.decision, 'deny');
    assert.ok(!record.time || typeof record.time === 'string');
  });
});
