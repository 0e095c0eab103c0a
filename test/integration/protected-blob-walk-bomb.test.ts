/**
 * The check "is this blob used by a protected tag?" fails closed when its walk is too large.
 *
 * The attack: alice may push and delete in release/** but holds no `overwrite`. She tags as v1 (a
 * protected tag) content built so that the walk over it cannot be finished cheaply: a chain of
 * indexes deeper than any release nests them (depth), or an index of entries whose manifests add up
 * to tens of MiB (breadth). The walk used to stop one level below the tag, so an image at the
 * bottom of the chain lost its layer to her delete (202: failing open); and it read every entry of
 * every index whatever their size. Now one request's walk stays within DECISION_LIMITS
 * (src/lib/work-budget.ts), and a walk that cannot finish refuses the delete (403 DENIED, saying
 * why), whether or not the blob is really used: a refusal, never a delete allowed blind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DECISION_LIMITS } from '../../src/lib/work-budget.js';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { OCI_MANIFEST, RegistryClient, randomBlob, sha256, type Reply } from '../helpers/registry-client.js';
import { BACKEND_KINDS, startBackend, type BackendUnderTest } from '../helpers/access-http.js';
import { makeTlsPair } from '../helpers/tls.js';

const PASSWORDS = { alice: 'alice-pw-1' };
const RULES = [{ repository: 'release/**', actions: ['pull', 'push', 'delete'], subjects: ['user:alice'], protectedTags: ['v*'] }];
const UNDECIDED =
  'the protected tags of this repository hold more content than one request may check for this blob; deleting it needs overwrite';
/** Entries of the wide index, each a manifest this large: together past DECISION_LIMITS.bytes. */
const WIDE_ENTRY_BYTES = 3.9 * 1024 * 1024;
const WIDE_ENTRIES = Math.floor(DECISION_LIMITS.bytes / WIDE_ENTRY_BYTES) + 1;

function refusal(reply: Reply): { status: number; message: string | undefined } {
  const errors = reply.status === 403 ? reply.json<{ errors: Array<{ code: string; message: string }> }>().errors : [];
  return { status: reply.status, message: errors.find((error) => error.code === 'DENIED')?.message };
}

for (const kind of BACKEND_KINDS) {
  describe(`protected tags over content too large to check (${kind})`, () => {
    let dir: string;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let alice: RegistryClient;

    before(async () => {
      dir = await makeTempDir('rg-blob-walk-bomb-');
      const tls = await makeTlsPair(join(dir, 'tls'));
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

    test(`an image ${DECISION_LIMITS.depth + 2} indexes below v1: its layer, and any other blob, are refused`, async () => {
      const repository = 'release/deep';
      const image = await alice.pushImage(repository, 'digest');
      let entry = { mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifest.length };
      for (let level = 1; level <= DECISION_LIMITS.depth + 2; level++) {
        entry = await alice.pushIndex(repository, level === DECISION_LIMITS.depth + 2 ? 'v1' : 'digest', [entry]);
      }
      const layer = image.blobs[1] as string;
      assert.deepEqual(refusal(await alice.call('DELETE', `/v2/${repository}/blobs/${layer}`)), { status: 403, message: UNDECIDED });
      assert.equal((await alice.call('HEAD', `/v2/${repository}/blobs/${layer}`)).status, 200, 'the layer is still there');
      const loose = await alice.pushBlob(repository, randomBlob(512));
      assert.deepEqual(
        refusal(await alice.call('DELETE', `/v2/${repository}/blobs/${loose}`)),
        { status: 403, message: UNDECIDED },
        'a walk that cannot finish cannot tell an unused blob either',
      );
    });

    test(`v1 naming ${WIDE_ENTRIES} manifests of ${(WIDE_ENTRY_BYTES / 1024 / 1024).toFixed(1)} MiB: a blob delete is refused`, async () => {
      const repository = 'release/wide';
      const base = await alice.pushImage(repository, 'digest');
      const baseManifest = JSON.parse(base.manifest.toString('utf8')) as Record<string, unknown>;
      const entries = [];
      for (let index = 0; index < WIDE_ENTRIES; index++) {
        const padding = `${index}-`.padEnd(WIDE_ENTRY_BYTES, 'x');
        const padded = Buffer.from(JSON.stringify({ ...baseManifest, annotations: { 'org.example.padding': padding } }));
        await alice.pushManifest(repository, sha256(padded), padded, OCI_MANIFEST);
        entries.push({ mediaType: OCI_MANIFEST, digest: sha256(padded), size: padded.length });
      }
      await alice.pushIndex(repository, 'v1', entries);
      const loose = await alice.pushBlob(repository, randomBlob(512));
      assert.deepEqual(refusal(await alice.call('DELETE', `/v2/${repository}/blobs/${loose}`)), { status: 403, message: UNDECIDED });
      assert.equal((await alice.call('HEAD', `/v2/${repository}/blobs/${loose}`)).status, 200, 'the blob is still there');
    });
  });
}
