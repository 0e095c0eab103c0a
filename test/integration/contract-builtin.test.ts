/**
 * The shared registry contract (test/helpers/contract.ts) against the built-in registry as
 * production assembles it (startRegistryGate from a config: plain HTTP on 127.0.0.1, one user who
 * may do everything, storing in a temp dir); plus the parts of the Backend interface that are not
 * HTTP, asked of a second backend opened on the same storage.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { registerContractSuite } from '../helpers/contract.js';
import { join } from 'node:path';
import pino from 'pino';
import type { Backend } from '../../src/backend/backend.js';
import { createFilesystemBackend } from '../../src/backend/filesystem/index.js';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient, sha256, sha512 } from '../helpers/registry-client.js';

const USER = { user: 'contract', password: 'contract-builtin-pw' };

let dir: string;
let gate: TestGate | undefined;
/** The same storage, opened as the Backend interface. */
let backend: Backend | undefined;

before(async () => {
  dir = await makeTempDir('registry-gate-contract-');
  const root = join(dir, 'registry');
  gate = await startGate({
    dir,
    users: { [USER.user]: USER.password },
    config: { storage: { root }, access: [{ repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] }] },
  });
  backend = await createFilesystemBackend({
    root,
    uploadMaxAgeMs: 24 * 3600_000,
    bodyTimeoutMs: 10_000,
    logger: pino({ level: 'silent' }),
  });
});

after(async () => {
  await backend?.close();
  await gate?.stop();
  await removeDir(dir);
});

registerContractSuite('built-in registry', () => {
  if (!gate) throw new Error('the built-in registry is not started yet');
  return { baseUrl: gate.url, authHeader: basic(USER.user, USER.password), backend: 'builtin' };
});

test('manifestDigest answers for tags and digests of the repository only', async () => {
  const client = new RegistryClient(() => ({ baseUrl: gate!.url, authHeader: basic(USER.user, USER.password) }));
  const image = await client.pushImage('has/manifest', 'v1');
  assert.equal(await backend!.manifestDigest('has/manifest', 'v1'), image.digest);
  assert.equal(await backend!.manifestDigest('has/manifest', image.digest), image.digest);
  assert.equal(await backend!.manifestDigest('has/manifest', 'v2'), undefined);
  assert.equal(await backend!.manifestDigest('has/manifest', sha256('nothing')), undefined);
  assert.equal(await backend!.manifestDigest('has/manifest', sha512(image.manifest)), undefined);
  assert.equal(await backend!.manifestDigest('has/other', 'v1'), undefined);
  assert.equal(await backend!.manifestDigest('has/manifest', image.blobs[0] as string), undefined, 'a blob is not a manifest');
});
