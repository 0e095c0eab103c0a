/**
 * A protected release cannot lose its layers through a nested index.
 *
 * The attack: `v*` is protected; alice may push and delete in release/** but holds no `overwrite`,
 * so she may not move or delete v1, nor delete a blob v1's image uses. v1 is an index whose entry is
 * another index whose entry is the image (as a release of releases, or an attestation index, nests
 * them). The check "is this blob used by a protected tag?" followed one level of index and stopped
 * there: alice deleted the image's layer and config (202 each), and v1 no longer pulled. Now the
 * check follows entries at any depth (within the request's limits, src/lib/work-budget.ts), so both
 * deletes are refused with 403 DENIED and the release still pulls with skopeo; a blob that no
 * protected tag uses may still be deleted.
 *
 * On the built-in registry and in front of Distribution 2.8, which now share one walk
 * (src/access/protected-blobs.ts). In front of Distribution every blob delete in a repository with
 * protected tags used to be refused, the unused blob's too; now the same walk decides there.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { OCI_MANIFEST, RegistryClient, randomBlob, type Reply } from '../helpers/registry-client.js';
import { BACKEND_KINDS, startBackend, type BackendUnderTest } from '../helpers/access-http.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { dockerRef, skopeoCopy, skopeoInspect } from '../helpers/skopeo.js';
import { readOciLayoutDigests } from '../helpers/oci-image.js';

const PASSWORDS = { alice: 'alice-pw-1' };
const RULES = [{ repository: 'release/**', actions: ['pull', 'push', 'delete'], subjects: ['user:alice'], protectedTags: ['v*'] }];
const REPOSITORY = 'release/app';

function deniedMessage(reply: Reply): string | undefined {
  return reply.json<{ errors: Array<{ code: string; message: string }> }>().errors.find((error) => error.code === 'DENIED')?.message;
}

for (const kind of BACKEND_KINDS) {
  describe(`a protected release's blobs under index → index → image (${kind})`, () => {
    let dir: string;
    let tls: TlsPair;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let alice: RegistryClient;

    before(async () => {
      dir = await makeTempDir('rg-nested-index-');
      tls = await makeTlsPair(join(dir, 'tls'));
      backend = await startBackend(kind, join(dir, 'distribution'));
      gate = await startGate({
        dir: join(dir, 'gate'),
        tls,
        users: PASSWORDS,
        bcryptCost: 4,
        config: { access: RULES, ...backend.gateConfig },
      });
      alice = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic('alice', PASSWORDS.alice) }));
    });

    after(async () => {
      await gate.stop();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    test("deleting the image's layer or config is refused, and v1 still pulls", async () => {
      const image = await alice.pushImage(REPOSITORY, 'digest', { layers: 2 });
      const platform = { os: 'linux', architecture: 'amd64' };
      const inner = await alice.pushIndex(REPOSITORY, 'digest', [
        { mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifest.length, platform },
      ]);
      await alice.pushIndex(REPOSITORY, 'v1', [{ ...inner, platform }]);

      const [config, ...layers] = image.blobs as [string, ...string[]];
      for (const blob of [...layers, config]) {
        const refused = await alice.call('DELETE', `/v2/${REPOSITORY}/blobs/${blob}`);
        assert.equal(refused.status, 403, `the delete of ${blob} is refused: ${refused.text()}`);
        assert.equal(deniedMessage(refused), 'this blob is used by a protected tag; deleting it needs overwrite');
        assert.equal((await alice.call('HEAD', `/v2/${REPOSITORY}/blobs/${blob}`)).status, 200, `${blob} is still there`);
      }

      // The release still pulls, whole: v1's index, its entry's index, and through that the image with
      // every blob (skopeo 1.9 does not follow an index entry that is an index, so it is asked for
      // that entry itself; it picks the image for linux/amd64 there and fetches config and layers).
      const access = { creds: { user: 'alice', password: PASSWORDS.alice }, certDir: tls.caDir };
      const outer = await skopeoInspect(dockerRef(gate.host, REPOSITORY, 'v1'), { ...access, raw: true });
      assert.equal(outer.code, 0, outer.stderr);
      assert.deepEqual(
        (JSON.parse(outer.stdout) as { manifests: Array<{ digest: string }> }).manifests.map((entry) => entry.digest),
        [inner.digest],
      );
      const out = join(dir, `pulled-${kind}`);
      const pulled = await skopeoCopy({
        from: dockerRef(gate.host, REPOSITORY, inner.digest),
        to: `oci:${out}:v1`,
        src: access,
        preserveDigests: true,
        extraArgs: ['--override-os', 'linux', '--override-arch', 'amd64'],
      });
      assert.equal(pulled.code, 0, pulled.stderr);
      const digests = await readOciLayoutDigests(out, 'v1');
      assert.equal(digests.manifestDigest, image.digest);
      assert.deepEqual([digests.configDigest, ...digests.layerDigests], image.blobs);
    });

    test('a blob no protected tag uses may still be deleted', async () => {
      const loose = await alice.pushBlob(REPOSITORY, randomBlob(512));
      const deleted = await alice.call('DELETE', `/v2/${REPOSITORY}/blobs/${loose}`);
      assert.equal(deleted.status, 202, `nothing protected uses it: ${deleted.text()}`);
    });
  });
}
