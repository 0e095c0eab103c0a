/**
 * Cross-repository mounts in bearer mode. A mount (`POST …/blobs/uploads/?mount=D&from=SRC`) needs
 * push on the target and pull on SRC. Distribution's challenge for it names both scopes
 * (`scope="repository:T:pull,push repository:SRC:pull"`), so a client's token can mount; a gateway
 * whose challenge named only the target made every mount through it an ordinary upload (the OCI
 * conformance suite then skipped its mount checks). Now: the challenge names both; a token that
 * lacks the source's scope, where the policy would grant it, is asked again (401
 * insufficient_scope, audited with the reason `scope`); and where the policy does not let the
 * caller read SRC, the token endpoint leaves SRC out and the mount stays an ordinary upload (202),
 * never a challenge the client cannot satisfy.
 *
 * Against the built-in registry, and Distribution 2.8 in token mode (which checks the source's pull
 * in the gateway's own upstream token).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir, freePort } from '../helpers/process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { RegistryClient, randomBlob } from '../helpers/registry-client.js';
import { waitForAudit } from '../helpers/access-http.js';
import { SigningKeys } from '../../src/auth/token/keys.js';

const SERVICE = 'registry-gate.mount-test';
const ISSUER = 'registry-gate-mount-test';
const PASSWORDS = { alice: 'alice-M0unt-secret', bob: 'bob-M0unt-secret' };
const RULES = [
  { repository: 'team-a/**', actions: ['pull', 'push'], subjects: ['user:alice'] },
  { repository: 'base/**', actions: ['pull'], subjects: ['user:alice'] },
  { repository: '**', actions: ['pull', 'push'], subjects: ['user:bob'] },
];

/** The `scope` parameter of a Bearer challenge. */
function challengeScope(challenge: string | undefined): string | undefined {
  return /scope="([^"]*)"/.exec(challenge ?? '')?.[1];
}

for (const backend of ['built-in registry', 'Distribution in token mode'] as const) {
  describe(`mounts in bearer mode (${backend})`, () => {
    let dir: string;
    let tls: TlsPair;
    let distribution: RunningDistribution | undefined;
    let gate: TestGate;
    let auditFile: string;
    let baseLayer: string;
    let secretLayer: string;

    const as = (authorization?: string) =>
      new RegistryClient(() => ({
        baseUrl: gate.url,
        dispatcher: gate.dispatcher,
        ...(authorization ? { authHeader: authorization } : {}),
      }));

    /** A token for `user` covering what the policy grants of `scope` (space-separated scopes, as in a challenge). */
    async function tokenFor(user: keyof typeof PASSWORDS, scope: string): Promise<{ header: string; granted: string }> {
      const reply = await as(basic(user, PASSWORDS[user])).call('GET', `/auth/token?${new URLSearchParams({ service: SERVICE, scope })}`);
      assert.equal(reply.status, 200, reply.text());
      const body = reply.json<{ token: string; scope: string }>();
      return { header: `Bearer ${body.token}`, granted: body.scope };
    }

    const mount = (client: RegistryClient, target: string, digest: string, from: string) =>
      client.call('POST', `/v2/${target}/blobs/uploads/?mount=${digest}&from=${from}`, { headers: { 'content-length': '0' } });

    before(async () => {
      dir = await makeTempDir('rg-bearer-mount-');
      tls = await makeTlsPair(join(dir, 'tls'));
      const keyDir = join(dir, 'keys');
      auditFile = join(dir, 'audit.log');
      const port = await freePort();
      const config: Record<string, unknown> = {
        listen: `127.0.0.1:${port}`,
        access: RULES,
        audit: { enabled: true, file: auditFile },
        auth: { scheme: 'bearer', token: { service: SERVICE, issuer: ISSUER, keyDir } },
      };
      if (backend === 'Distribution in token mode') {
        const keys = await SigningKeys.open({ dir: keyDir, algorithm: 'ES256' });
        await keys.close();
        distribution = await startDistribution({
          dir: join(dir, 'distribution'),
          auth: {
            token: { realm: `https://127.0.0.1:${port}/auth/token`, service: SERVICE, issuer: ISSUER, rootcertbundle: keys.certBundleFile },
          },
        });
        config.upstream = { url: distribution.url };
      }
      gate = await startGate({ dir: join(dir, 'gate'), tls, users: PASSWORDS, bcryptCost: 4, config });
      const bob = as((await tokenFor('bob', 'repository:base/image:pull,push repository:secret/x:pull,push')).header);
      baseLayer = await bob.pushBlob('base/image', randomBlob(2048));
      secretLayer = await bob.pushBlob('secret/x', randomBlob(2048));
    });

    after(async () => {
      await gate.stop();
      await distribution?.stop();
      if (dir) await removeDir(dir);
    });

    test('a mount without a token is challenged for the target and for pull on the source, in one scope parameter', async () => {
      const reply = await mount(as(), 'team-a/app', baseLayer, 'base/image');
      assert.equal(reply.status, 401);
      assert.equal(
        challengeScope(reply.headers['www-authenticate']),
        'repository:team-a/app:pull,push repository:base/image:pull',
        reply.headers['www-authenticate'],
      );
      // An ordinary upload start names the target alone.
      const plain = await as().call('POST', '/v2/team-a/app/blobs/uploads/', { headers: { 'content-length': '0' } });
      assert.equal(challengeScope(plain.headers['www-authenticate']), 'repository:team-a/app:pull,push');
    });

    test('a token for the target alone is asked again for both scopes; the token for both mounts the blob', async () => {
      const targetOnly = await tokenFor('alice', 'repository:team-a/app:pull,push');
      const refused = await mount(as(targetOnly.header), 'team-a/app', baseLayer, 'base/image');
      assert.equal(refused.status, 401, `the token cannot mount, the policy could: ${refused.status} ${refused.text()}`);
      assert.match(refused.headers['www-authenticate'] ?? '', /error="insufficient_scope"/);
      const scope = challengeScope(refused.headers['www-authenticate']);
      assert.equal(scope, 'repository:team-a/app:pull,push repository:base/image:pull');

      const both = await tokenFor('alice', scope);
      assert.equal(both.granted, 'repository:team-a/app:pull,push repository:base/image:pull');
      const mounted = await mount(as(both.header), 'team-a/app', baseLayer, 'base/image');
      assert.equal(mounted.status, 201, `a real mount: ${mounted.status} ${mounted.text()}`);
      assert.equal((await as(both.header).call('HEAD', `/v2/team-a/app/blobs/${baseLayer}`)).status, 200, 'the blob is in the target now');

      const lines = await waitForAudit(auditFile, (all) => all.some((line) => line.action === 'mount' && line.decision === 'allow'));
      const asked = lines.find((line) => line.action === 'mount' && line.decision === 'deny');
      assert.ok(asked, `the refused mount is audited: ${JSON.stringify(lines)}`);
      assert.equal(asked.reason, 'scope');
      assert.equal(asked.status, 401);
      assert.equal(asked.from, 'base/image');
      assert.equal(asked.user, 'alice');
    });

    test('a mount from a repository the caller may not read is an ordinary upload, not a challenge it cannot meet', async () => {
      const first = await mount(as(), 'team-a/other', secretLayer, 'secret/x');
      const scope = challengeScope(first.headers['www-authenticate']);
      assert.equal(scope, 'repository:team-a/other:pull,push repository:secret/x:pull');
      const token = await tokenFor('alice', scope);
      assert.equal(token.granted, 'repository:team-a/other:pull,push', 'the token endpoint leaves the unreadable source out');
      const client = as(token.header);
      const reply = await mount(client, 'team-a/other', secretLayer, 'secret/x');
      assert.equal(reply.status, 202, `an ordinary upload: ${reply.status} ${reply.text()}`);
      assert.equal((await client.call('DELETE', RegistryClient.pathOf(reply.headers.location))).status, 204);
      assert.equal((await client.call('HEAD', `/v2/team-a/other/blobs/${secretLayer}`)).status, 404, 'nothing was mounted');
    });
  });
}
