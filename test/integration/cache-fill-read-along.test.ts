/**
 * Requests that arrive while the content cache is filling a blob read the fill as it arrives
 * (src/backend/cache/live-fills.ts) instead of waiting for the whole blob to be stored: eight
 * cold pulls of one blob cost one upstream transfer and start at once. What a follower is sent is
 * held to the same rule as the first client: never a complete body that does not match its digest,
 * and a follower for another repository is not sent a fill it has not been told that repository has.
 */
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { RegistryClient, randomBlob, sha256 } from '../helpers/registry-client.js';
import { waitFor } from '../helpers/wait.js';

const ALICE = { user: 'alice', password: 'alice-secret-1' };

interface StreamedPull {
  /** Bytes received so far. */
  received(): number;
  /** The whole body and whether it ended cleanly (false: the connection was cut). */
  readonly done: Promise<{ body: Buffer; complete: boolean; status: number }>;
}

describe('reading along a cache fill in progress', () => {
  let dir: string;
  let registry: RunningDistribution;
  let proxy: FaultProxy;
  let gate: TestGate;
  let client: RegistryClient;

  function streamedPull(path: string): StreamedPull {
    let count = 0;
    const done = (async () => {
      const response = await request(`${gate.url}${path}`, { headers: { authorization: basic(ALICE.user, ALICE.password) } }).catch(
        () => undefined, // cut before any answer
      );
      if (!response) return { body: Buffer.alloc(0), complete: false, status: 0 };
      const chunks: Buffer[] = [];
      try {
        for await (const chunk of response.body) {
          chunks.push(chunk as Buffer);
          count += (chunk as Buffer).length;
        }
        return { body: Buffer.concat(chunks), complete: true, status: response.statusCode };
      } catch {
        return { body: Buffer.concat(chunks), complete: false, status: response.statusCode };
      }
    })();
    return { received: () => count, done };
  }

  before(async () => {
    dir = await makeTempDir('rg-read-along-');
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    proxy = await startFaultProxy(registry.url);
    gate = await startGate({
      dir,
      users: { [ALICE.user]: ALICE.password },
      config: {
        upstream: { url: proxy.url, cache: true },
        cache: { dir: join(dir, 'cache'), maxSize: '1GiB' },
        access: [{ repository: '**', actions: ['pull', 'push'], subjects: ['authenticated'] }],
      },
    });
    client = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(ALICE.user, ALICE.password) }));
  });

  after(async () => {
    await gate.stop();
    await proxy.stop();
    await registry.stop();
    await removeDir(dir);
  });

  beforeEach(() => proxy.clearFaults());

  test('followers are sent the bytes of a fill while the upstream is still sending it, and one upstream GET serves all', async () => {
    const blob = randomBlob(16 * 1024 * 1024);
    const digest = await client.pushBlob('along/app', blob);
    proxy.setFault(digest, 'stall-half');
    const path = `/v2/along/app/blobs/${digest}`;
    const leader = streamedPull(path);
    await waitFor('the upstream stalled half-way', () => proxy.heldCount === 1);
    const followers = Array.from({ length: 7 }, () => streamedPull(path));
    // The upstream has sent half and waits: every follower gets a good part of that half now.
    await waitFor('followers reading the fill while the upstream is stalled', () =>
      followers.every((follower) => follower.received() >= blob.length / 4),
    );
    assert.ok(
      followers.every((follower) => follower.received() < blob.length),
      'nobody has the whole blob before the rest arrived',
    );
    proxy.releaseHeld();
    for (const pull of [leader, ...followers]) {
      const { body, complete, status } = await pull.done;
      assert.equal(status, 200);
      assert.ok(complete);
      assert.equal(sha256(body), digest);
    }
    assert.equal(proxy.count('GET', digest), 1, 'one upstream GET for eight pulls');
  });

  test('a fill that turns out wrong cuts every follower short: none holds a complete body', async () => {
    const blob = randomBlob(8 * 1024 * 1024);
    const digest = await client.pushBlob('along/app', blob);
    proxy.setFault(digest, 'wrong-bytes');
    const pulls = Array.from({ length: 6 }, () => streamedPull(`/v2/along/app/blobs/${digest}`));
    for (const pull of pulls) {
      const { body, complete } = await pull.done;
      assert.ok(!complete || body.length < blob.length, 'a cut connection, never the whole wrong body');
    }
    proxy.clearFaults();
    const healed = await client.call('GET', `/v2/along/app/blobs/${digest}`);
    assert.equal(sha256(healed.body), digest);
  });

  test('a fill whose upstream body breaks off cuts its followers too', async () => {
    const blob = randomBlob(8 * 1024 * 1024);
    const digest = await client.pushBlob('along/app', blob);
    proxy.setFault(digest, 'cut-half');
    const pulls = Array.from({ length: 6 }, () => streamedPull(`/v2/along/app/blobs/${digest}`));
    for (const pull of pulls) {
      const { body, complete, status } = await pull.done;
      assert.ok(!complete || body.length < blob.length || status !== 200);
    }
  });

  test('a pull for another repository does not read a fill along before the upstream says that repository has it', async () => {
    const blob = randomBlob(8 * 1024 * 1024);
    const digest = await client.pushBlob('along/has-it', blob);
    proxy.setFault(digest, 'stall-half');
    const leader = streamedPull(`/v2/along/has-it/blobs/${digest}`);
    await waitFor('the upstream stalled half-way', () => proxy.heldCount === 1);
    const outsider = streamedPull(`/v2/along/lacks-it/blobs/${digest}`);
    // A follower in the repository that has it, started after the outsider, reads along: by the
    // time it has, the outsider would have too, had it been let.
    const insider = streamedPull(`/v2/along/has-it/blobs/${digest}`);
    await waitFor('a follower of the same repository reading along', () => insider.received() >= blob.length / 4);
    assert.equal(outsider.received(), 0, 'nothing of the fill was sent for a repository the upstream did not name');
    proxy.releaseHeld();
    assert.equal((await leader.done).complete, true);
    assert.equal(sha256((await insider.done).body), digest);
    const answer = await outsider.done;
    assert.equal(answer.status, 404, 'the upstream does not have the blob in along/lacks-it');
  });
});
