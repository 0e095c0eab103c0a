/**
 * Access rules end to end with a real client (skopeo) over verified TLS, on both backends (the
 * built-in registry, and CNCF Distribution 2.8 behind the gateway):
 *
 * - a team member pushes under its team's prefix and not under another team's;
 * - `users/${user}/**` lets each user push under its own name only;
 * - the catalog lists only what the caller may pull, and paging it with n=1 through the Link
 *   headers is consistent and complete;
 * - a protected tag can be created, not moved, unless a rule grants overwrite;
 * - a cross-repository mount from a repository the caller may not pull leaks nothing: the gateway
 *   turns it into an ordinary upload (202, not 201), the blob is not readable in the target until
 *   the caller uploads it itself, and the push still succeeds.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AccessPolicy } from '../../src/access/policy.js';
import type { AccessRuleConfig } from '../../src/config/schema.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage, type OciImage } from '../helpers/oci-image.js';
import { skopeoCopy, skopeoInspect, dockerRef, type Credentials, type SkopeoResult } from '../helpers/skopeo.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { BACKEND_KINDS, startBackend, waitForAudit, type BackendUnderTest } from '../helpers/access-http.js';

const PASSWORDS = {
  alice: 'alice-pw-1',
  bob: 'bob-pw-2',
  dave: 'dave-pw-3',
  reader: 'reader-pw-4',
  admin: 'admin-pw-5',
  auditor: 'auditor-pw-6',
} as const;
type User = keyof typeof PASSWORDS;
const GROUPS = { 'team-a': ['alice'], 'team-b': ['bob'] };
const RULES: AccessRuleConfig[] = [
  { repository: 'team-a/**', actions: ['pull', 'push'], subjects: ['group:team-a'] }, // 0
  { repository: 'team-b/**', actions: ['pull', 'push'], subjects: ['group:team-b'] }, // 1
  { repository: 'users/${user}/**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] }, // 2
  { repository: 'team-a/**', actions: ['pull'], subjects: ['user:reader'] }, // 3
  { repository: 'release/**', actions: ['pull', 'push'], subjects: ['group:team-a'], protectedTags: ['v*', 'latest'] }, // 4
  { repository: 'release/**', actions: ['pull', 'push', 'overwrite'], subjects: ['user:admin'] }, // 5
  { repository: '**', actions: ['pull'], subjects: ['user:auditor'] }, // 6
];

const creds = (user: User): Credentials => ({ user, password: PASSWORDS[user] });

function assertPushed(result: SkopeoResult, what: string): void {
  assert.equal(result.code, 0, `${what} should succeed:\n${result.command}\n${result.stderr}`);
}

function assertRefused(result: SkopeoResult, what: string): void {
  assert.notEqual(result.code, 0, `${what} should fail`);
  assert.match(result.stderr, /denied|403|unauthorized|forbidden/i, `${what}: ${result.stderr}`);
}

for (const kind of BACKEND_KINDS) {
  describe(`skopeo through access rules (${kind})`, () => {
    let dir: string;
    let tls: TlsPair;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let auditFile: string;
    let imageA: OciImage;
    let imageB: OciImage;
    let imageM: OciImage;

    const policy = new AccessPolicy(RULES);
    const http = (user?: User) =>
      new RegistryClient(() => ({
        baseUrl: gate.url,
        dispatcher: gate.dispatcher,
        ...(user ? { authHeader: basic(user, PASSWORDS[user]) } : {}),
      }));
    const push = (user: User, image: OciImage, repository: string, tag: string) =>
      skopeoCopy({
        from: image.ref,
        to: dockerRef(gate.host, repository, tag),
        dest: { creds: creds(user), certDir: tls.caDir },
        preserveDigests: true,
      });
    async function digestOf(repository: string, tag: string): Promise<string> {
      const inspected = await skopeoInspect(dockerRef(gate.host, repository, tag), {
        creds: creds('auditor'),
        certDir: tls.caDir,
        raw: true,
      });
      assert.equal(inspected.code, 0, inspected.stderr);
      return `sha256:${createHash('sha256').update(inspected.stdout).digest('hex')}`;
    }

    before(async () => {
      dir = await makeTempDir('rg-access-skopeo-');
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
      // Unique content per backend, so skopeo's blob cache of one run never helps the other.
      imageA = await makeOciImage(join(dir, 'image-a'), { layers: [randomBytes(300), randomBytes(200)] });
      imageB = await makeOciImage(join(dir, 'image-b'), { layers: [randomBytes(310)] });
      imageM = await makeOciImage(join(dir, 'image-m'), { layers: [randomBytes(320), randomBytes(330)] });
    });

    after(async () => {
      await gate.stop();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    test('a team member pushes under team-a/** and not under team-b/**', async () => {
      assertPushed(await push('alice', imageA, 'team-a/app', '1'), 'alice → team-a/app');
      assert.equal(await digestOf('team-a/app', '1'), imageA.manifestDigest);
      assertRefused(await push('alice', imageA, 'team-b/app', '1'), 'alice → team-b/app');
      const bobs = await http('bob').pushImage('team-b/app', '1');
      assert.equal((await http('auditor').call('HEAD', '/v2/team-b/app/manifests/1')).status, 200);
      assert.equal((await http('auditor').call('HEAD', `/v2/team-b/app/manifests/${bobs.digest}`)).status, 200);
    });

    test('users/${user}/** lets each user push under its own name only', async () => {
      assertPushed(await push('dave', imageA, 'users/dave/app', '1'), 'dave → users/dave/app');
      assertRefused(await push('dave', imageA, 'users/alice/app', '1'), 'dave → users/alice/app');
      assert.equal((await http('auditor').call('GET', '/v2/users/alice/app/tags/list')).status, 404, 'nothing was created for alice');
      await http('alice').pushImage('users/alice/tool', '1');
    });

    test('the catalog lists only what the caller may pull; paging with n=1 is consistent and complete', async () => {
      // More repositories, interleaved so that hidden names sit between visible ones.
      await http('alice').pushImage('team-a/tools/x', '1');
      await http('alice').pushImage('team-a/zeta', '1');
      await http('bob').pushImage('team-b/zzz', '1');
      await http('bob').pushImage('team-b/aaa', '1');
      const everything = (await http('auditor').call('GET', '/v2/_catalog?n=1000')).json<{ repositories: string[] }>().repositories;
      for (const name of [
        'team-a/app',
        'team-a/tools/x',
        'team-a/zeta',
        'team-b/aaa',
        'team-b/app',
        'team-b/zzz',
        'users/alice/tool',
        'users/dave/app',
      ]) {
        assert.ok(everything.includes(name), `the auditor sees ${name}: ${everything.join(' ')}`);
      }

      for (const user of ['reader', 'alice', 'bob', 'dave'] as const) {
        const identity = {
          user,
          groups: Object.entries(GROUPS)
            .filter(([, m]) => m.includes(user))
            .map(([g]) => g),
          via: 'htpasswd' as const,
        };
        const expected = everything.filter((name) => policy.decide(identity, name, 'pull').allowed);
        const whole = await http(user).call('GET', '/v2/_catalog');
        assert.equal(whole.status, 200, whole.text());
        assert.deepEqual(whole.json<{ repositories: string[] }>().repositories, expected, `${user}'s catalog`);

        const paged: string[] = [];
        let next: string | undefined = '/v2/_catalog?n=1';
        for (let pages = 0; next !== undefined; pages++) {
          assert.ok(pages <= expected.length + 1, `${user}: paging must end`);
          const page = await http(user).call('GET', next);
          assert.equal(page.status, 200, page.text());
          const names = page.json<{ repositories: string[] }>().repositories;
          assert.ok(names.length <= 1, `${user}: n=1 gives at most one name per page, got ${names.join(' ')}`);
          paged.push(...names);
          const link = page.headers.link;
          if (link === undefined) next = undefined;
          else {
            const match = /^<([^>]+)>; rel="next"$/.exec(link);
            assert.ok(match, `Link header: ${link}`);
            next = match[1];
            assert.ok(names.length === 1, `${user}: a Link only after a full page (${link})`);
          }
        }
        assert.deepEqual(paged, expected, `${user}: the pages together are the whole catalog, in order, without repeats`);
      }
      assert.equal((await http().call('GET', '/v2/_catalog')).status, 401, 'anonymous may not pull anything, so no catalog');
    });

    test('a protected tag is created once, not moved, unless a rule grants overwrite', async () => {
      assertPushed(await push('alice', imageA, 'release/app', 'v1'), 'alice creates release/app:v1');
      assertRefused(await push('alice', imageB, 'release/app', 'v1'), 'alice moves release/app:v1');
      assert.equal(await digestOf('release/app', 'v1'), imageA.manifestDigest, 'v1 did not move');

      // The refusal is the gateway's 403, before the manifest reaches the registry.
      const manifestB = await readFile(join(imageB.layoutDir, 'blobs', 'sha256', imageB.manifestDigest.slice('sha256:'.length)));
      const direct = await http('alice').call('PUT', '/v2/release/app/manifests/v1', {
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: manifestB,
      });
      assert.equal(direct.status, 403, direct.text());
      assert.equal(direct.json<{ errors: Array<{ code: string }> }>().errors[0]?.code, 'DENIED');

      assertPushed(await push('alice', imageB, 'release/app', 'dev'), 'an unprotected tag is created');
      assertPushed(await push('alice', imageA, 'release/app', 'dev'), 'an unprotected tag moves');
      assert.equal(await digestOf('release/app', 'dev'), imageA.manifestDigest);

      assertPushed(await push('alice', imageB, 'release/app', 'latest'), 'alice creates release/app:latest');
      assertRefused(await push('alice', imageA, 'release/app', 'latest'), 'alice moves release/app:latest');

      assertPushed(await push('admin', imageB, 'release/app', 'v1'), 'admin moves v1 (overwrite granted)');
      assert.equal(await digestOf('release/app', 'v1'), imageB.manifestDigest, 'v1 moved');
    });

    test('pushing the same image again to an existing protected tag is not a move', async () => {
      // release/app:latest is imageB (previous test). Pushing imageB again moves nothing; CI retries and
      // `docker push` of an unchanged image do exactly this.
      assertPushed(await push('alice', imageB, 'release/app', 'latest'), 'alice re-pushes the identical release/app:latest');
      assert.equal(await digestOf('release/app', 'latest'), imageB.manifestDigest);
    });

    test('a mount from a repository the caller may not pull leaks nothing, and the push still succeeds', async () => {
      assertPushed(await push('bob', imageM, 'team-b/secret', '1'), 'bob → team-b/secret');
      const alice = http('alice');
      const layer = imageM.layerDigests[0]!;
      assert.equal((await alice.call('GET', `/v2/team-b/secret/blobs/${layer}`)).status, 403, 'alice may not read team-b');
      assert.equal((await alice.call('HEAD', `/v2/team-a/mirror/blobs/${layer}`)).status, 404, 'not in the target yet');

      const mount = await alice.call('POST', `/v2/team-a/mirror/blobs/uploads/?mount=${layer}&from=team-b/secret`, {
        headers: { 'content-length': '0' },
      });
      assert.equal(mount.status, 202, `an ordinary upload, not a mount: ${mount.status} ${mount.text()}`);
      assert.ok(mount.headers.location, 'the upload has a Location');
      const cancel = await alice.call('DELETE', RegistryClient.pathOf(mount.headers.location));
      assert.ok(cancel.status === 204 || cancel.status === 202 || cancel.status === 200, `cancel: ${cancel.status}`);
      assert.equal((await alice.call('HEAD', `/v2/team-a/mirror/blobs/${layer}`)).status, 404, 'the refused mount linked nothing');
      assert.equal((await alice.call('GET', `/v2/team-a/mirror/blobs/${layer}`)).status, 404);

      // Control: a mount from a repository alice may pull is a real mount.
      const allowed = await alice.call('POST', `/v2/team-a/other/blobs/uploads/?mount=${imageA.layerDigests[0]}&from=team-a/app`, {
        headers: { 'content-length': '0' },
      });
      assert.equal(allowed.status, 201, `mount from team-a/app: ${allowed.text()}`);
      assert.equal((await alice.call('HEAD', `/v2/team-a/other/blobs/${imageA.layerDigests[0]}`)).status, 200);

      // skopeo knows these blobs in team-b/secret (bob pushed them from this process) and would mount them from
      // there; it first checks the candidate with a HEAD, which the gateway refuses (403), so it uploads instead.
      assertPushed(await push('alice', imageM, 'team-a/mirror', '1'), 'alice → team-a/mirror with blobs that exist only in team-b');
      assert.equal((await alice.call('HEAD', `/v2/team-a/mirror/blobs/${layer}`)).status, 200, 'readable once alice uploaded it');
      assert.equal(await digestOf('team-a/mirror', '1'), imageM.manifestDigest);

      // The audit trail shows alice uploading every layer herself, and no mount from team-b granted.
      const lines = await waitForAudit(auditFile, (all) => all.some((line) => line.repository === 'team-a/mirror' && line.tag === '1'));
      for (const digest of imageM.layerDigests) {
        assert.ok(
          lines.some(
            (line) =>
              line.user === 'alice' &&
              line.repository === 'team-a/mirror' &&
              line.action === 'push' &&
              line.digest === digest &&
              line.decision === 'allow',
          ),
          `alice uploaded ${digest} herself`,
        );
      }
      assert.ok(
        !lines.some((line) => line.action === 'mount' && line.from === 'team-b/secret' && line.decision === 'allow'),
        'no mount from team-b/secret was granted',
      );
    });
  });
}
