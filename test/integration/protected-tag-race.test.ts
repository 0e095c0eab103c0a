/**
 * Protected tags: the first push wins a race, and a release cannot be broken by deleting its blobs.
 *
 * The race: `v*` is protected (a push may create such a tag, never move it). Two pushers send
 * manifest A and manifest B to the new tag `v1` at the same moment, four requests each. The gateway
 * used to check "does v1 exist?" for every request before any of them wrote, so both sides got 201
 * and the tag ended on whichever write landed last: an acknowledged release push silently replaced.
 * Now the first create wins and every PUT of the other content gets 403 DENIED, naming the tag; the
 * built-in registry checks and writes in one step, and in front of an upstream the gateway
 * serialises such pushes (across its worker processes too) and checks again after the write.
 *
 * The blob delete: alice may delete in release/** but holds no `overwrite`. Deleting the layer of a
 * manifest that a protected tag names would break the release as surely as moving the tag; it is
 * refused. A blob no protected tag uses may still be deleted, on the built-in registry and in front
 * of an upstream alike (the gateway walks the protected tags' content through the backend's reads).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { startConfiguredGateProcess, type GateProcess } from '../helpers/gate-process.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, RegistryClient, randomBlob, sha256, type Reply } from '../helpers/registry-client.js';
import { BACKEND_KINDS, startBackend, type BackendUnderTest } from '../helpers/access-http.js';
import { makeTlsPair, trustingAgent, type TlsPair } from '../helpers/tls.js';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';

const PASSWORDS = { alice: 'alice-pw-1', carol: 'carol-pw-3' };
const RULES = [
  { repository: 'release/**', actions: ['pull', 'push', 'delete'], subjects: ['user:alice'], protectedTags: ['v*'] },
  { repository: 'release/**', actions: ['pull', 'push', 'delete', 'overwrite'], subjects: ['user:carol'] },
];
const PARALLEL = 4;

/** Pushes a config and a layer, returns a manifest for them (not pushed). */
async function prepareManifest(
  client: RegistryClient,
  repository: string,
  label: string,
): Promise<{ bytes: Buffer; digest: string; layer: string }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', label }));
  const layer = randomBlob(2048);
  const configDigest = await client.pushBlob(repository, config);
  const layerDigest = await client.pushBlob(repository, layer);
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: layer.length }],
    }),
  );
  return { bytes, digest: sha256(bytes), layer: layerDigest };
}

/** PARALLEL PUTs of each manifest to the same new tag, interleaved, all in flight together. */
async function race(client: RegistryClient, repository: string, tag: string, a: Buffer, b: Buffer): Promise<{ a: Reply[]; b: Reply[] }> {
  const put = (bytes: Buffer) =>
    client.call('PUT', `/v2/${repository}/manifests/${tag}`, { headers: { 'content-type': OCI_MANIFEST }, body: bytes });
  const requests = Array.from({ length: PARALLEL }, () => [put(a), put(b)]).flat();
  const replies = await Promise.all(requests);
  return { a: replies.filter((_, index) => index % 2 === 0), b: replies.filter((_, index) => index % 2 === 1) };
}

/** Exactly one side won: all its PUTs 201, all the other side's 403 DENIED naming the tag; the tag names the winner. */
async function assertOneWinner(
  client: RegistryClient,
  repository: string,
  tag: string,
  replies: { a: Reply[]; b: Reply[] },
  digests: { a: string; b: string },
): Promise<void> {
  const statuses = { a: replies.a.map((reply) => reply.status), b: replies.b.map((reply) => reply.status) };
  const winner = statuses.a.every((status) => status === 201) ? 'a' : 'b';
  const loser = winner === 'a' ? 'b' : 'a';
  assert.deepEqual(statuses[winner], Array(PARALLEL).fill(201), `the winner's pushes: ${JSON.stringify(statuses)}`);
  assert.deepEqual(statuses[loser], Array(PARALLEL).fill(403), `the other pushes are refused: ${JSON.stringify(statuses)}`);
  for (const reply of replies[loser]) {
    const error = reply.json<{ errors: Array<{ code: string; message: string }> }>().errors[0];
    assert.equal(error?.code, 'DENIED');
    assert.match(error.message, new RegExp(`protected tag.*${tag}|${tag}.*protected`), 'the refusal names the protected tag');
  }
  const current = await client.call('HEAD', `/v2/${repository}/manifests/${tag}`);
  assert.equal(current.headers['docker-content-digest'], digests[winner], 'the tag names the manifest whose push was acknowledged');
}

for (const kind of BACKEND_KINDS) {
  describe(`protected tags under concurrency (${kind})`, () => {
    let dir: string;
    let tls: TlsPair;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let alice: RegistryClient;
    let carol: RegistryClient;

    before(async () => {
      dir = await makeTempDir();
      tls = await makeTlsPair(join(dir, 'tls'));
      backend = await startBackend(kind, join(dir, 'distribution'));
      gate = await startGate({ dir, tls, users: PASSWORDS, bcryptCost: 4, config: { access: RULES, ...backend.gateConfig } });
      alice = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic('alice', PASSWORDS.alice) }));
      carol = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic('carol', PASSWORDS.carol) }));
    });

    after(async () => {
      await gate.stop();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    test('parallel first pushes of two manifests to a new protected tag: one wins, the other is refused', async () => {
      for (const round of [1, 2, 3]) {
        const a = await prepareManifest(alice, 'release/app', `a${round}`);
        const b = await prepareManifest(alice, 'release/app', `b${round}`);
        const tag = `v${round}.0`;
        await assertOneWinner(alice, 'release/app', tag, await race(alice, 'release/app', tag, a.bytes, b.bytes), {
          a: a.digest,
          b: b.digest,
        });
      }
    });

    test('a tag that is not protected still follows the last push, and overwrite still moves a protected one', async () => {
      const a = await prepareManifest(alice, 'release/app', 'dev-a');
      const b = await prepareManifest(alice, 'release/app', 'dev-b');
      await alice.pushManifest('release/app', 'dev', a.bytes, OCI_MANIFEST);
      await alice.pushManifest('release/app', 'dev', b.bytes, OCI_MANIFEST);
      assert.equal((await alice.call('HEAD', '/v2/release/app/manifests/dev')).headers['docker-content-digest'], b.digest);
      await alice.pushManifest('release/app', 'v9', a.bytes, OCI_MANIFEST);
      await carol.pushManifest('release/app', 'v9', b.bytes, OCI_MANIFEST);
      assert.equal(
        (await alice.call('HEAD', '/v2/release/app/manifests/v9')).headers['docker-content-digest'],
        b.digest,
        'carol holds overwrite',
      );
    });

    test("deleting a protected release's layer needs overwrite", async () => {
      const release = await prepareManifest(alice, 'release/lib', 'release');
      await alice.pushManifest('release/lib', 'v1', release.bytes, OCI_MANIFEST);
      const refused = await alice.call('DELETE', `/v2/release/lib/blobs/${release.layer}`);
      assert.equal(refused.status, 403, `alice may not delete v1's layer: ${refused.text()}`);
      assert.equal((await alice.call('HEAD', `/v2/release/lib/blobs/${release.layer}`)).status, 200, 'the layer is still there');

      const loose = await alice.pushBlob('release/lib', randomBlob(512));
      const looseDelete = await alice.call('DELETE', `/v2/release/lib/blobs/${loose}`);
      assert.equal(looseDelete.status, 202, `a blob no protected tag uses may go: ${looseDelete.text()}`);

      const byCarol = await carol.call('DELETE', `/v2/release/lib/blobs/${release.layer}`);
      assert.equal(byCarol.status, 202, `carol holds overwrite: ${byCarol.text()}`);
    });
  });
}

describe('protected tags under concurrency, two worker processes in front of Distribution', () => {
  let dir: string;
  let distribution: RunningDistribution;
  let gate: GateProcess;
  let alice: RegistryClient;

  before(async () => {
    dir = await makeTempDir();
    const tls = await makeTlsPair(join(dir, 'tls'));
    distribution = await startDistribution({ dir: join(dir, 'distribution') });
    gate = await startConfiguredGateProcess({
      dir,
      users: PASSWORDS,
      config: {
        tls: { cert: tls.certFile, key: tls.keyFile },
        upstream: { url: distribution.url },
        auth: { htpasswd: 'htpasswd' },
        access: RULES,
        workers: 2,
        log: { level: 'warn' },
        audit: { enabled: false },
      },
    });
    const dispatcher = trustingAgent(tls.caPem);
    alice = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher, authHeader: basic('alice', PASSWORDS.alice) }));
  });

  after(async () => {
    await gate.stop();
    await distribution.stop();
    if (dir) await removeDir(dir);
  });

  test('one winner when the racing pushes reach different workers', async () => {
    for (const round of [1, 2, 3]) {
      const a = await prepareManifest(alice, 'release/app', `wa${round}`);
      const b = await prepareManifest(alice, 'release/app', `wb${round}`);
      const tag = `v${round}.0`;
      await assertOneWinner(alice, 'release/app', tag, await race(alice, 'release/app', tag, a.bytes, b.bytes), {
        a: a.digest,
        b: b.digest,
      });
    }
  });
});
