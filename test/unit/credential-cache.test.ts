import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CachedVerifier, CredentialCache } from '../../src/auth/credential-cache.js';
import type { AuthProvider, Credentials, Identity } from '../../src/auth/identity.js';

/** A provider that knows fixed passwords, counts its calls and can be held until released. */
class FakeProvider implements AuthProvider {
  readonly name = 'fake';
  calls = 0;
  closed = false;
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;
  constructor(public passwords: Record<string, string>) {}

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open();
  }

  async verify({ user, password }: Credentials): Promise<Identity | null> {
    this.calls += 1;
    await this.gate;
    return this.passwords[user] === password ? { user, groups: [], via: 'htpasswd' } : null;
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function clock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

const alice = { user: 'alice', password: 'correct horse' };

describe('CachedVerifier', () => {
  it('verifies once and then answers from the cache', async () => {
    const provider = new FakeProvider({ alice: 'correct horse' });
    const verifier = new CachedVerifier(provider, { maxEntries: 10, ttlMs: 60_000 });
    const first = await verifier.verify(alice);
    const second = await verifier.verify(alice);
    assert.equal(first?.user, 'alice');
    assert.equal(second, first);
    assert.equal(provider.calls, 1);
    assert.equal(verifier.name, 'fake');
  });

  it('never caches a failure', async () => {
    const provider = new FakeProvider({ alice: 'correct horse' });
    const verifier = new CachedVerifier(provider, { maxEntries: 10, ttlMs: 60_000 });
    assert.equal(await verifier.verify({ user: 'alice', password: 'wrong' }), null);
    assert.equal(await verifier.verify({ user: 'alice', password: 'wrong' }), null);
    assert.equal(provider.calls, 2);
    assert.equal(verifier.cache.size, 0);
  });

  it('distinguishes passwords and users', async () => {
    const provider = new FakeProvider({ alice: 'correct horse', bob: 'correct horse' });
    const verifier = new CachedVerifier(provider, { maxEntries: 10, ttlMs: 60_000 });
    await verifier.verify(alice);
    assert.equal(await verifier.verify({ user: 'alice', password: 'correct horse ' }), null);
    assert.equal((await verifier.verify({ user: 'bob', password: 'correct horse' }))?.user, 'bob');
    assert.equal(provider.calls, 3);
  });

  it("never trusts a credential past its own expiry (a federated token's exp), whatever the TTL", async () => {
    const time = clock();
    const validUntil = time.now() + 500;
    const expiring: AuthProvider = {
      name: 'federated',
      verify: () => Promise.resolve({ user: 'gh:octo-org/app', groups: [], via: 'federated', validUntil }),
    };
    const verifier = new CachedVerifier(expiring, { maxEntries: 10, ttlMs: 60_000, now: time.now });
    await verifier.verify(alice);
    assert.equal(verifier.cache.size, 1);
    time.advance(499);
    assert.ok(verifier.cache.get(verifier.cache.keyOf(alice)), 'trusted until its expiry');
    time.advance(1);
    assert.equal(verifier.cache.get(verifier.cache.keyOf(alice)), undefined, 'not one millisecond past it');
    const expired = new CachedVerifier(expiring, { maxEntries: 10, ttlMs: 60_000, now: () => validUntil + 1 });
    await expired.verify(alice); // verified within the issuer's clock skew, already past exp: never cached
    assert.equal(expired.cache.size, 0);
  });

  it('expires entries after the TTL, counted from verification', async () => {
    const time = clock();
    const provider = new FakeProvider({ alice: 'correct horse' });
    const verifier = new CachedVerifier(provider, { maxEntries: 10, ttlMs: 1000, now: time.now });
    await verifier.verify(alice);
    time.advance(999);
    await verifier.verify(alice); // a hit does not extend the entry
    assert.equal(provider.calls, 1);
    time.advance(1);
    await verifier.verify(alice);
    assert.equal(provider.calls, 2);
  });

  it('is bounded, evicting the least recently used entry', async () => {
    const provider = new FakeProvider({ a: 'pw', b: 'pw', c: 'pw' });
    const verifier = new CachedVerifier(provider, { maxEntries: 2, ttlMs: 60_000 });
    await verifier.verify({ user: 'a', password: 'pw' });
    await verifier.verify({ user: 'b', password: 'pw' });
    await verifier.verify({ user: 'a', password: 'pw' }); // a is now the most recent
    await verifier.verify({ user: 'c', password: 'pw' }); // evicts b
    assert.equal(verifier.cache.size, 2);
    assert.equal(provider.calls, 3);
    await verifier.verify({ user: 'a', password: 'pw' });
    assert.equal(provider.calls, 3);
    await verifier.verify({ user: 'b', password: 'pw' });
    assert.equal(provider.calls, 4);
  });

  it('flush forgets everything (a password change or a removed user takes effect at once)', async () => {
    const provider = new FakeProvider({ alice: 'correct horse' });
    const verifier = new CachedVerifier(provider, { maxEntries: 10, ttlMs: 60_000 });
    await verifier.verify(alice);
    provider.passwords = {};
    verifier.flush();
    assert.equal(verifier.cache.size, 0);
    assert.equal(await verifier.verify(alice), null);
  });

  it('does not cache a verification that started before a flush', async () => {
    const provider = new FakeProvider({ alice: 'correct horse' });
    const verifier = new CachedVerifier(provider, { maxEntries: 10, ttlMs: 60_000 });
    provider.hold();
    const pending = verifier.verify(alice);
    verifier.flush();
    provider.release();
    assert.equal((await pending)?.user, 'alice');
    assert.equal(verifier.cache.size, 0);
  });

  it('coalesces concurrent identical verifications into one provider call', async () => {
    const provider = new FakeProvider({ alice: 'correct horse' });
    const verifier = new CachedVerifier(provider, { maxEntries: 10, ttlMs: 60_000 });
    provider.hold();
    const results = Array.from({ length: 20 }, () => verifier.verify(alice));
    const wrong = verifier.verify({ user: 'alice', password: 'nope' });
    provider.release();
    const identities = await Promise.all(results);
    assert.ok(identities.every((identity) => identity?.user === 'alice'));
    assert.equal(await wrong, null);
    assert.equal(provider.calls, 2);
  });

  it('propagates a provider error to every waiter and caches nothing', async () => {
    const failing: AuthProvider = {
      name: 'failing',
      verify: () => Promise.reject(new Error('backend down')),
    };
    const verifier = new CachedVerifier(failing, { maxEntries: 10, ttlMs: 60_000 });
    await Promise.all([assert.rejects(verifier.verify(alice), /backend down/), assert.rejects(verifier.verify(alice), /backend down/)]);
    assert.equal(verifier.cache.size, 0);
  });

  it('caches nothing when the size or the TTL is 0', async () => {
    for (const options of [
      { maxEntries: 0, ttlMs: 60_000 },
      { maxEntries: 10, ttlMs: 0 },
    ]) {
      const provider = new FakeProvider({ alice: 'correct horse' });
      const verifier = new CachedVerifier(provider, options);
      await verifier.verify(alice);
      await verifier.verify(alice);
      assert.equal(provider.calls, 2);
    }
  });

  it('closes the provider', async () => {
    const provider = new FakeProvider({});
    await new CachedVerifier(provider, { maxEntries: 1, ttlMs: 1 }).close();
    assert.equal(provider.closed, true);
  });
});

describe('CredentialCache keys', () => {
  it('hold neither the password nor a plain hash of it, and differ between processes (random key)', () => {
    const one = new CredentialCache({ maxEntries: 10, ttlMs: 1000 });
    const two = new CredentialCache({ maxEntries: 10, ttlMs: 1000 });
    const key = one.keyOf(alice);
    assert.ok(!key.includes(alice.password) && !key.includes('alice'));
    assert.equal(key, one.keyOf({ ...alice }));
    assert.notEqual(key, two.keyOf(alice));
    assert.notEqual(key, one.keyOf({ user: 'alice', password: 'correct horsf' }));
    // "ab" + "c" and "a" + "bc" must not collide.
    assert.notEqual(one.keyOf({ user: 'ab', password: 'c' }), one.keyOf({ user: 'a', password: 'bc' }));
  });
});
