/**
 * `registry-gate credential-provider`, the kubelet's image credential provider, run as the kubelet
 * runs it: a child process given the CredentialProviderRequest JSON the kubelet writes (with the
 * pod's projected service-account token, KEP-4412) on stdin. It trades the token at the gateway
 * and prints a CredentialProviderResponse whose password is the gateway's own registry token,
 * limited to pulling that image's repository: skopeo pulls with it, and cannot pull another
 * repository or push. A pod of a namespace no policy trusts gets nothing, and no token is printed.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { makeOciImage } from '../helpers/oci-image.js';
import { skopeoCopy, skopeoInspect, dockerRef } from '../helpers/skopeo.js';
import { ADMIN, AUDIENCE, startFederatedGate, startIssuers, type Issuers } from '../helpers/federation.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');
const SERVICE = 'registry.test';

interface KubeletAuth {
  username: string;
  password: string;
}

describe('the kubelet credential provider', () => {
  let dir: string;
  let tls: TlsPair;
  let issuers: Issuers;
  let gate: TestGate;

  /** The exec protocol: the request JSON on stdin, the response JSON on stdout. */
  const provide = (request: Record<string, unknown>) =>
    runProcess(process.execPath, [CLI, 'credential-provider', '--gateway', gate.url, '--service', SERVICE, '--ca', tls.caFile], {
      input: JSON.stringify(request),
      timeoutMs: 30_000,
    });
  const kubeletRequest = (image: string, serviceAccountToken: string) => ({
    apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
    kind: 'CredentialProviderRequest',
    image,
    serviceAccountToken,
    serviceAccountAnnotations: { 'registry.example.com/pull': 'true' },
  });

  before(async () => {
    dir = await makeTempDir('rg-federation-kubelet-');
    tls = await makeTlsPair(join(dir, 'tls'));
    issuers = await startIssuers(join(dir, 'issuers'));
    gate = await startFederatedGate(join(dir, 'gate'), tls, issuers, { auth: { token: { service: SERVICE, keyDir: join(dir, 'keys') } } });
    const image = await makeOciImage(join(dir, 'image'), { layers: [randomBytes(256)] });
    for (const repository of ['ci/octo-org/app/web', 'ci/octo-org/other/web']) {
      const pushed = await skopeoCopy({
        from: image.ref,
        to: dockerRef(gate.host, repository, 'v1'),
        dest: { creds: ADMIN, certDir: tls.caDir },
      });
      assert.equal(pushed.code, 0, pushed.stderr);
    }
  });

  after(async () => {
    await gate.stop();
    await issuers.stop();
    await removeDir(dir);
  });

  test("a pod's service-account token becomes a pull credential for that image's repository only", async () => {
    const saToken = await issuers.kubernetes.kubernetes('apps', 'web', AUDIENCE);
    const ran = await provide(kubeletRequest(`${gate.host}/ci/octo-org/app/web:v1`, saToken));
    assert.equal(ran.code, 0, ran.stderr);
    const response = JSON.parse(ran.stdout) as {
      apiVersion: string;
      kind: string;
      cacheKeyType: string;
      cacheDuration: string;
      auth: Record<string, KubeletAuth>;
    };
    assert.equal(response.apiVersion, 'credentialprovider.kubelet.k8s.io/v1');
    assert.equal(response.kind, 'CredentialProviderResponse');
    assert.equal(response.cacheKeyType, 'Image');
    assert.match(response.cacheDuration, /^\d+s$/);
    assert.deepEqual(Object.keys(response.auth), [gate.host]);
    const creds = response.auth[gate.host] as KubeletAuth;
    assert.notEqual(creds.password, saToken, 'the gateway answers a token of its own');
    assert.ok(!ran.stdout.includes(saToken) && !ran.stderr.includes(saToken));

    const asKubelet = { user: creds.username, password: creds.password };
    const pulled = await skopeoInspect(dockerRef(gate.host, 'ci/octo-org/app/web', 'v1'), { creds: asKubelet, certDir: tls.caDir });
    assert.equal(pulled.code, 0, pulled.stderr);
    const other = await skopeoInspect(dockerRef(gate.host, 'ci/octo-org/other/web', 'v1'), { creds: asKubelet, certDir: tls.caDir });
    assert.notEqual(other.code, 0, 'another repository, which the pod could pull with its own token, is outside this credential');
    assert.match(other.stderr, /denied|403|unauthorized/i);
  });

  test('a pod no policy trusts, a request without a token, and an image of another registry get nothing', async () => {
    const outsider = await issuers.kubernetes.kubernetes('kube-system', 'web', AUDIENCE);
    const refused = await provide(kubeletRequest(`${gate.host}/ci/octo-org/app/web:v1`, outsider));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /refused the service-account token \(401\)/);
    assert.equal(refused.stdout, '');
    assert.ok(!refused.stderr.includes(outsider));

    const noToken = await provide({
      apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
      kind: 'CredentialProviderRequest',
      image: `${gate.host}/x:1`,
    });
    assert.notEqual(noToken.code, 0);
    assert.match(noToken.stderr, /tokenAttributes/);

    const elsewhere = await provide(
      kubeletRequest('docker.io/library/alpine:3', await issuers.kubernetes.kubernetes('apps', 'web', AUDIENCE)),
    );
    assert.notEqual(elsewhere.code, 0);
    assert.match(elsewhere.stderr, /not an image of/);
  });
});
