/**
 * The shared registry contract (test/helpers/contract.ts) against the built-in registry, served by
 * a minimal adapter (route → backend → OCI error JSON) on 127.0.0.1, storing in a temp dir; plus
 * the parts of the Backend interface that are not HTTP.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { registerContractSuite } from '../helpers/contract.js';
import { startBuiltinServer, type BuiltinServer } from '../helpers/builtin-server.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient, sha256, sha512 } from '../helpers/registry-client.js';

let root: string;
let server: BuiltinServer | undefined;

before(async () => {
  root = await makeTempDir('registry-gate-contract-');
  server = await startBuiltinServer({ root });
});

after(async () => {
  await server?.close();
  await removeDir(root);
});

registerContractSuite('built-in registry', () => {
  if (!server) throw new Error('the built-in registry is not started yet');
  return { baseUrl: server.baseUrl, backend: 'builtin' };
});

test('manifestDigest answers for tags and digests of the repository only', async () => {
  const backend = server!.backend;
  const client = new RegistryClient(() => ({ baseUrl: server!.baseUrl }));
  const image = await client.pushImage('has/manifest', 'v1');
  assert.equal(await backend.manifestDigest('has/manifest', 'v1'), image.digest);
  assert.equal(await backend.manifestDigest('has/manifest', image.digest), image.digest);
  assert.equal(await backend.manifestDigest('has/manifest', 'v2'), undefined);
  assert.equal(await backend.manifestDigest('has/manifest', sha256('nothing')), undefined);
  assert.equal(await backend.manifestDigest('has/manifest', sha512(image.manifest)), undefined);
  assert.equal(await backend.manifestDigest('has/other', 'v1'), undefined);
  assert.equal(await backend.manifestDigest('has/manifest', image.blobs[0] as string), undefined, 'a blob is not a manifest');
});
