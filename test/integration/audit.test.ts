/**
 * The audit trail (`audit: { file }`), on both backends: a real skopeo push leaves one JSON line per
 * blob and one for the manifest, with who (user, groups, client address), what (action, repository,
 * digest, tag), the decision and the rule that granted it; a refusal leaves a deny line; no line
 * ever holds a password or an Authorization header; and after logrotate moves the file away and the
 * gateway is told to reload (SIGHUP), new lines go to a new file at the configured path.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage, type OciImage } from '../helpers/oci-image.js';
import { skopeoCopy, dockerRef } from '../helpers/skopeo.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { BACKEND_KINDS, readAuditText, startBackend, waitForAudit, type AuditLine, type BackendUnderTest } from '../helpers/access-http.js';

const PASSWORDS = { alice: 'alice-Aud1t-secret', bob: 'bob-Aud1t-secret' };
const GROUPS = { 'team-a': ['alice'], 'team-b': ['bob'] };
const RULES = [
  { repository: 'team-a/**', actions: ['pull', 'push', 'delete'], subjects: ['group:team-a'] }, // 0
  { repository: 'team-b/**', actions: ['pull', 'push'], subjects: ['group:team-b'] }, // 1
];
const WRONG_PASSWORD = 'not-alices-Passw0rd';

for (const kind of BACKEND_KINDS) {
  describe(`audit trail (${kind})`, () => {
    let dir: string;
    let tls: TlsPair;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let auditFile: string;
    let image: OciImage;

    const http = (user?: keyof typeof PASSWORDS, password?: string) =>
      new RegistryClient(() => ({
        baseUrl: gate.url,
        dispatcher: gate.dispatcher,
        ...(user ? { authHeader: basic(user, password ?? PASSWORDS[user]) } : {}),
      }));
    const lines = (done: (all: AuditLine[]) => boolean) => waitForAudit(auditFile, done);

    before(async () => {
      dir = await makeTempDir('rg-audit-');
      tls = await makeTlsPair(join(dir, 'tls'));
      backend = await startBackend(kind, join(dir, 'distribution'));
      auditFile = join(dir, 'audit', 'audit.log');
      gate = await startGate({
        dir: join(dir, 'gate'),
        tls,
        users: PASSWORDS,
        bcryptCost: 4,
        config: { groups: GROUPS, access: RULES, audit: { enabled: true, file: auditFile }, ...backend.gateConfig },
      });
      image = await makeOciImage(join(dir, 'image'), { tag: 'v1', layers: [randomBytes(700), randomBytes(800), randomBytes(900)] });
    });

    after(async () => {
      await gate.stop();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    test('a skopeo push of a multi-layer image: one line per blob and one for the manifest', async () => {
      const pushed = await skopeoCopy({
        from: image.ref,
        to: dockerRef(gate.host, 'team-a/app', 'v1'),
        dest: { creds: { user: 'alice', password: PASSWORDS.alice }, certDir: tls.caDir },
        preserveDigests: true,
      });
      assert.equal(pushed.code, 0, pushed.stderr);
      const all = await lines((found) => found.some((line) => line.repository === 'team-a/app' && line.tag === 'v1'));
      const pushes = all.filter((line) => line.repository === 'team-a/app' && line.action === 'push');
      const blobs = [image.configDigest, ...image.layerDigests];

      for (const line of pushes) {
        assert.equal(line.user, 'alice');
        assert.deepEqual(line.groups, ['team-a']);
        assert.equal(line.client, '127.0.0.1');
        assert.equal(line.decision, 'allow');
        assert.equal(line.rule, 0);
        assert.equal(line.status, 201, JSON.stringify(line));
        assert.equal(line.method, 'PUT', JSON.stringify(line));
      }
      const blobLines = pushes.filter((line) => line.tag === undefined);
      assert.deepEqual(
        blobLines.map((line) => line.digest).sort(),
        [...blobs].sort(),
        `one line per blob:\n${blobLines.map((l) => JSON.stringify(l)).join('\n')}`,
      );
      const manifestLines = pushes.filter((line) => line.tag !== undefined);
      assert.equal(manifestLines.length, 1, 'one line for the manifest');
      assert.equal(manifestLines[0]?.tag, 'v1');
      assert.equal(manifestLines[0].digest, image.manifestDigest);
      assert.equal(pushes.length, blobs.length + 1, 'nothing else is recorded as a push');
    });

    test('a mount and a delete are recorded with their digests', async () => {
      const alice = http('alice');
      const layer = image.layerDigests[0]!;
      const mounted = await alice.call('POST', `/v2/team-a/copy/blobs/uploads/?mount=${layer}&from=team-a/app`, {
        headers: { 'content-length': '0' },
      });
      assert.equal(mounted.status, 201, mounted.text());
      const deleted = await alice.call('DELETE', `/v2/team-a/app/manifests/${image.manifestDigest}`);
      assert.equal(deleted.status, 202, deleted.text());
      const all = await lines((found) => found.some((line) => line.action === 'delete'));
      const mount = all.find((line) => line.action === 'mount');
      assert.ok(mount, 'a mount line');
      assert.equal(mount.repository, 'team-a/copy');
      assert.equal(mount.from, 'team-a/app');
      assert.equal(mount.digest, layer);
      assert.equal(mount.decision, 'allow');
      const deletion = all.find((line) => line.action === 'delete');
      assert.ok(deletion, 'a delete line');
      assert.equal(deletion.repository, 'team-a/app');
      assert.equal(deletion.digest, image.manifestDigest);
      assert.equal(deletion.user, 'alice');
      assert.equal(deletion.rule, 0);
    });

    test('a denied push records a deny line', async () => {
      const refused = await skopeoCopy({
        from: image.ref,
        to: dockerRef(gate.host, 'team-b/app', 'v1'),
        dest: { creds: { user: 'alice', password: PASSWORDS.alice }, certDir: tls.caDir },
        preserveDigests: true,
      });
      assert.notEqual(refused.code, 0);
      const upload = await http('alice').call('POST', '/v2/team-b/app/blobs/uploads/', { headers: { 'content-length': '0' } });
      assert.equal(upload.status, 403);
      const anonymous = await http().call('GET', '/v2/team-b/app/tags/list');
      assert.equal(anonymous.status, 401);

      const all = await lines((found) => found.some((line) => line.user === null && line.repository === 'team-b/app'));
      const denials = all.filter((line) => line.repository === 'team-b/app' && line.decision === 'deny');
      assert.ok(
        denials.some(
          (line) => line.user === 'alice' && line.action === 'push' && line.method === 'POST' && line.status === 403 && line.rule === -1,
        ),
        JSON.stringify(denials),
      );
      assert.ok(
        denials.some((line) => line.user === null && line.action === 'pull' && line.status === 401),
        JSON.stringify(denials),
      );
      for (const line of denials) {
        assert.equal(line.client, '127.0.0.1');
        if (line.user === 'alice') assert.deepEqual(line.groups, ['team-a']);
      }
      assert.ok(!all.some((line) => line.repository === 'team-b/app' && line.decision === 'allow'), 'nothing in team-b/app was allowed');
    });

    test('refused credentials leave a deny line (action login) that names no password', async () => {
      const reply = await http('alice', WRONG_PASSWORD).call('GET', '/v2/team-a/app/tags/list');
      assert.equal(reply.status, 401);
      const all = await waitForAudit(auditFile, (found) => found.some((line) => line.action === 'login'), 1000);
      const login = all.find((line) => line.action === 'login');
      assert.ok(
        login,
        `a refused login is a denied request and must be audited (audit.ts documents action "login for refused credentials"); actions seen: ${[...new Set(all.map((l) => l.action))].join(', ')}`,
      );
      assert.equal(login.decision, 'deny');
      assert.equal(login.status, 401);
    });

    test('no line contains a password or an Authorization header', async () => {
      // A request with a wrong password too, so that a leak of a refused secret would show.
      await http('bob', WRONG_PASSWORD).call('POST', '/v2/team-b/app/blobs/uploads/', { headers: { 'content-length': '0' } });
      await http('bob').call('GET', '/v2/team-a/app/tags/list');
      const all = await lines((found) => found.some((line) => line.user === 'bob' && line.repository === 'team-a/app'));
      assert.ok(all.length > 0);
      const text = await readAuditText(auditFile);
      for (const secret of [...Object.values(PASSWORDS), WRONG_PASSWORD]) {
        assert.ok(!text.includes(secret), 'a password in the audit trail');
        for (const user of Object.keys(PASSWORDS))
          assert.ok(!text.includes(Buffer.from(`${user}:${secret}`).toString('base64')), 'Basic credentials in the audit trail');
      }
      assert.doesNotMatch(text, /authorization|Basic [A-Za-z0-9+/=]{8,}|Bearer /i);
    });

    test('after the file is moved away and the gateway reloads, new lines go to a new file at the configured path', async () => {
      const before = await readAuditText(auditFile);
      assert.ok(before.length > 0);
      const rotated = `${auditFile}.1`;
      await rename(auditFile, rotated);
      await gate.gate.reload('SIGHUP');

      await http('alice').pushImage('team-a/rotated', 'r1');
      const fresh = await lines((found) => found.some((line) => line.repository === 'team-a/rotated' && line.tag === 'r1'));
      assert.ok(
        fresh.some((line) => line.repository === 'team-a/rotated' && line.tag === 'r1'),
        'new lines are in a new file at the configured path',
      );
      assert.ok(
        fresh.every((line) => line.repository === 'team-a/rotated'),
        'the new file starts empty',
      );
      const old = await readAuditText(rotated);
      assert.equal(old, before, 'the moved file got nothing more');
    });
  });
}
