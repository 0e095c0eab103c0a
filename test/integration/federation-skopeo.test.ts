/**
 * Workload identity federation end to end: real issuers over TLS (their own CAs) minting tokens
 * shaped like GitHub Actions', GitLab CI's and a Kubernetes service account's, and skopeo pushing
 * and pulling with such a token as its password, in Basic mode and in bearer mode (where skopeo
 * trades it at /auth/token for a registry token of the gateway's own).
 *
 * `ci/${claims.repository}/**` gives each CI repository its own namespace: a job of octo-org/app
 * cannot push into octo-org/other's. The issuer's key is rotated mid-test, and the audit trail
 * names the trust policy, the issuer and the subject of every federated request.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { request } from 'undici';
import type { TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage, type OciImage } from '../helpers/oci-image.js';
import { skopeoCopy, skopeoInspect, dockerRef, type SkopeoResult } from '../helpers/skopeo.js';
import { waitForAudit } from '../helpers/access-http.js';
import { pollUntil } from '../helpers/wait.js';
import { MIN_FETCH_INTERVAL_MS } from '../../src/auth/federation/issuer-keys.js';
import { AUDIENCE, startFederatedGate, startIssuers, type Issuers } from '../helpers/federation.js';

function assertOk(result: SkopeoResult, what: string): void {
  assert.equal(result.code, 0, `${what} should succeed:\n${result.command}\n${result.stderr}`);
}

function assertRefused(result: SkopeoResult, what: string): void {
  assert.notEqual(result.code, 0, `${what} should fail`);
  assert.match(result.stderr, /denied|403|unauthorized|forbidden/i, `${what}: ${result.stderr}`);
}

for (const scheme of ['basic', 'bearer'] as const) {
  describe(`skopeo with federated tokens (${scheme} mode)`, () => {
    let dir: string;
    let tls: TlsPair;
    let issuers: Issuers;
    let gate: TestGate;
    let image: OciImage;

    const push = (token: string, repository: string, tag = 'v1') =>
      skopeoCopy({
        from: image.ref,
        to: dockerRef(gate.host, repository, tag),
        dest: { creds: { user: 'ci', password: token }, certDir: tls.caDir },
        preserveDigests: true,
        redact: [token],
      });
    const inspect = (token: string, repository: string, tag = 'v1') =>
      skopeoInspect(dockerRef(gate.host, repository, tag), { creds: { user: 'ci', password: token }, certDir: tls.caDir, redact: [token] });

    /** What the gateway answers a request authenticated with `token` (/v2/ in Basic mode, /auth/token in bearer mode). */
    const statusWith = async (token: string) => {
      const path = scheme === 'basic' ? '/v2/' : '/auth/token?service=registry.test';
      const answer = await request(`${gate.url}${path}`, {
        dispatcher: gate.dispatcher,
        headers: { authorization: `Basic ${Buffer.from(`ci:${token}`).toString('base64')}` },
      });
      await answer.body.dump();
      return answer.statusCode;
    };

    before(async () => {
      dir = await makeTempDir('rg-federation-skopeo-');
      tls = await makeTlsPair(join(dir, 'tls'));
      issuers = await startIssuers(join(dir, 'issuers'));
      const bearer = { scheme: 'bearer', token: { service: 'registry.test', keyDir: join(dir, 'keys') } };
      gate = await startFederatedGate(join(dir, 'gate'), tls, issuers, scheme === 'bearer' ? { auth: bearer } : {});
      image = await makeOciImage(join(dir, 'image'), { layers: [randomBytes(300), randomBytes(200)] });
    });

    after(async () => {
      await gate.stop();
      await issuers.stop();
      await removeDir(dir);
    });

    test('a GitHub job pushes to and pulls from its own namespace, and the audit trail names policy, issuer and subject', async () => {
      const token = await issuers.github.github('octo-org/app', AUDIENCE);
      assertOk(await push(token, 'ci/octo-org/app/web'), 'octo-org/app → ci/octo-org/app/web');
      assertOk(await inspect(token, 'ci/octo-org/app/web'), 'octo-org/app pulls ci/octo-org/app/web');
      const lines = await waitForAudit(join(dir, 'gate', 'audit.log'), (all) => all.some((line) => line.action === 'push'));
      const pushed = lines.find((line) => line.action === 'push' && line.decision === 'allow');
      assert.ok(pushed, 'an audit line for the push');
      assert.equal(pushed.user, 'gh:octo-org/app');
      assert.deepEqual(pushed.federation, {
        policy: 'github',
        issuer: issuers.github.url,
        subject: 'repo:octo-org/app:ref:refs/heads/main',
      });
      const trail = lines.map((line) => JSON.stringify(line)).join('\n');
      assert.ok(!trail.includes(token) && !trail.includes(token.split('.')[2] ?? '-'), 'the token is never in the trail');
    });

    test("a job of repository A cannot push into repository B's namespace", async () => {
      const jobA = await issuers.github.github('octo-org/app', AUDIENCE);
      const jobB = await issuers.github.github('octo-org/other', AUDIENCE);
      assertRefused(await push(jobA, 'ci/octo-org/other/web'), 'octo-org/app → ci/octo-org/other/web');
      assertRefused(await push(jobA, 'ci/octo-org/app-evil/web'), 'octo-org/app → ci/octo-org/app-evil/web (a prefix is not a namespace)');
      assertOk(await push(jobB, 'ci/octo-org/other/web'), 'octo-org/other → its own namespace');
      // A job of another owner is refused by the policy's condition, so it has no namespace at all.
      const outsider = await issuers.github.github('evil-org/app', AUDIENCE);
      assertRefused(await push(outsider, 'ci/evil-org/app/web'), 'evil-org/app (not octo-org)');
    });

    test('a GitLab job of a protected ref pushes to its project namespace; a pod pulls CI images and pushes nothing', async () => {
      const job = await issuers.gitlab.gitlab('acme/widgets', AUDIENCE);
      assertOk(await push(job, 'gitlab/acme/widgets/api'), 'acme/widgets → gitlab/acme/widgets/api');
      const unprotected = await issuers.gitlab.gitlab('acme/widgets', AUDIENCE, { ref_protected: 'false' });
      assertRefused(await push(unprotected, 'gitlab/acme/widgets/api', 'v2'), 'a job of an unprotected ref');
      const pod = await issuers.kubernetes.kubernetes('apps', 'web', AUDIENCE);
      assertOk(await inspect(pod, 'ci/octo-org/app/web'), 'a pod of namespace apps pulls');
      assertRefused(await push(pod, 'ci/octo-org/app/web', 'pod'), 'a pod pushes');
      const otherNamespace = await issuers.kubernetes.kubernetes('kube-system', 'web', AUDIENCE);
      assertRefused(await inspect(otherNamespace, 'ci/octo-org/app/web'), 'a pod of another namespace');
    });

    test("the issuer's key is rotated mid-test: a token of the new key is accepted once the keys may be fetched again, with one fetch", async () => {
      const fetches = () => issuers.github.requests.get('/jwks') ?? 0;
      const before = fetches();
      await issuers.github.rotate(true);
      const token = await issuers.github.github('octo-org/app', AUDIENCE, { run_id: 'after-rotation' });
      // Unknown kids make the gateway ask the issuer at most once per MIN_FETCH_INTERVAL_MS (5 s): poll until that has passed.
      const status = await pollUntil(
        () => statusWith(token),
        (code) => code === 200,
        { timeoutMs: MIN_FETCH_INTERVAL_MS + 3000, intervalMs: 250 },
      );
      assert.equal(status, 200, 'a token of the new key');
      assertOk(await inspect(token, 'ci/octo-org/app/web'), 'skopeo with a token of the new key');
      assert.equal(fetches(), before + 1, 'however many requests named the unknown kid, the keys were fetched once');
    });

    if (scheme === 'bearer') {
      test("the registry token answered at /auth/token is the gateway's own, down-scoped, and lives no longer than the policy allows", async () => {
        const job = await issuers.gitlab.gitlab('acme/widgets', AUDIENCE);
        const scope = 'repository:gitlab/acme/widgets/api:pull,push&scope=repository:gitlab/acme/other/api:pull,push';
        const answer = await request(`${gate.url}/auth/token?service=registry.test&scope=${scope}`, {
          dispatcher: gate.dispatcher,
          headers: { authorization: `Basic ${Buffer.from(`ci:${job}`).toString('base64')}` },
        });
        const body = (await answer.body.json()) as { token: string; expires_in: number; scope: string; refresh_token?: string };
        assert.equal(answer.statusCode, 200);
        assert.notEqual(body.token, job);
        assert.equal(body.scope, 'repository:gitlab/acme/widgets/api:pull,push');
        assert.ok(body.expires_in <= 120, `lives at most the gitlab policy's 2m (got ${body.expires_in})`);
        assert.equal(body.refresh_token, undefined);
      });
    }
  });
}
