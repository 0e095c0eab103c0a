/**
 * The attack: a read racing a delete. A pull of a blob through the cache asks the upstream (the
 * fill's GET, or the HEAD that checks a cached digest is in the repository); the upstream answers
 * "here it is" just before a DELETE through the gateway removes the blob, and that answer reaches
 * the gateway only after the delete has finished. The gateway then wrote its "the upstream has
 * this digest in this repository" marker after the delete had removed it, so the deleted blob went
 * on being served from the cache, to anyone who may pull the repository, for the marker's 10
 * minutes. An answer asked for before a delete finished must never outlive that delete.
 *
 * The same race for tags, with `tagTtl`: the upstream's answer to "which digest does this tag
 * name", asked before a push through the gateway moved the tag and arriving after it, was kept for
 * the whole tagTtl, so pulls by tag went on getting the manifest the push had replaced.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { RegistryClient, randomBlob, assertError } from '../helpers/registry-client.js';
import { waitFor } from '../helpers/wait.js';

const ALICE = { user: 'alice', password: 'alice-secret-1' };

describe('a cached read racing a delete', () => {
  let dir: string;
  let registry: RunningDistribution;
  let proxy: FaultProxy;
  let gate: TestGate;
  let client: RegistryClient;

  before(async () => {
    dir = await makeTempDir('rg-cache-race-');
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    proxy = await startFaultProxy(registry.url);
    gate = await startGate({
      dir,
      users: { [ALICE.user]: ALICE.password },
      config: {
        upstream: { url: proxy.url, cache: true },
        cache: { dir: join(dir, 'cache') },
        access: [{ repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] }],
      },
    });
    client = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(ALICE.user, ALICE.password) }));
  });

  after(async () => {
    proxy.releaseHeld();
    await gate.stop();
    await proxy.stop();
    await registry.stop();
    await removeDir(dir);
  });

  async function heldWhile(method: 'GET' | 'HEAD', part: string, read: () => Promise<unknown>, change: () => Promise<void>): Promise<void> {
    proxy.setFault(part, 'hold', [method]);
    const racing = read();
    await waitFor('the upstream answered the read, held back', () => proxy.heldCount === 1);
    proxy.clearFaults();
    await change();
    proxy.releaseHeld();
    await racing; // what it got was true when the upstream answered; what matters is what comes after
  }

  async function deleteDuringHeldAnswer(path: string, digest: string, method: 'GET' | 'HEAD'): Promise<void> {
    await heldWhile(
      method,
      digest,
      () => client.call('GET', path),
      async () => assert.equal((await client.call('DELETE', path)).status, 202),
    );
  }

  test('a fill whose upstream answer arrives after the delete does not serve the deleted blob', async () => {
    const blob = randomBlob(64 * 1024);
    const digest = await client.pushBlob('race/fill', blob);
    const path = `/v2/race/fill/blobs/${digest}`;
    await deleteDuringHeldAnswer(path, digest, 'GET');
    assertError(await client.call('GET', path), 404, 'BLOB_UNKNOWN');
  });

  test('a repository check whose answer arrives after the delete does not serve the deleted blob', async () => {
    const blob = randomBlob(64 * 1024);
    const first = await client.pushBlob('race/first', blob);
    assert.equal((await client.call('GET', `/v2/race/first/blobs/${first}`)).status, 200); // cached through race/first
    const digest = await client.pushBlob('race/second', blob);
    const path = `/v2/race/second/blobs/${digest}`;
    await deleteDuringHeldAnswer(path, digest, 'HEAD');
    assertError(await client.call('GET', path), 404, 'BLOB_UNKNOWN');
  });

  test('with tagTtl, a tag answer asked before a push through the gateway moved the tag is not kept', async () => {
    const tagged = await startGate({
      dir: join(dir, 'tag-ttl'),
      users: { [ALICE.user]: ALICE.password },
      config: {
        upstream: { url: proxy.url, cache: true },
        cache: { dir: join(dir, 'tag-ttl-cache'), tagTtl: '1h' },
        access: [{ repository: '**', actions: ['pull', 'push'], subjects: ['authenticated'] }],
      },
    });
    try {
      const through = new RegistryClient(() => ({ baseUrl: tagged.url, authHeader: basic(ALICE.user, ALICE.password) }));
      await through.pushImage('race/tagged', 'v1');
      let moved = '';
      await heldWhile(
        'HEAD',
        '/v2/race/tagged/manifests/v1',
        () => through.call('GET', '/v2/race/tagged/manifests/v1'),
        async () => {
          moved = (await through.pushImage('race/tagged', 'v1')).digest;
        },
      );
      const now = await through.call('GET', '/v2/race/tagged/manifests/v1');
      assert.equal(now.headers['docker-content-digest'], moved);
    } finally {
      await tagged.stop();
    }
  });
});
