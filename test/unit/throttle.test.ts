/**
 * Brute-force protection in one process: the shared contract (test/helpers/throttle-contract.ts)
 * with the counters in memory, and what only memory has: bounded size, and the configuration and
 * provider wrapper. The attacks are described in the contract; here too all with a fake clock.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RegistryError } from '../../src/oci/errors.js';
import type { AuthProvider, Credentials, Identity } from '../../src/auth/identity.js';
import { LoginThrottle, normalizeAddress, ThrottledProvider } from '../../src/auth/throttle/index.js';
import { throttleConfigSchema, type ThrottleConfigInput } from '../../src/config/schema/throttle.js';
import { retryAfter, throttleContract } from '../helpers/throttle-contract.js';

function makeThrottle(overrides: ThrottleConfigInput = {}) {
  let now = 1_000_000;
  const throttle = new LoginThrottle(throttleConfigSchema.parse(overrides), { now: () => now });
  return {
    throttle,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

async function fail(throttle: LoginThrottle, user: string, ip: string, password: string): Promise<void> {
  await (await throttle.check(user, ip, password)).failure();
}

let guess = 0;
const nextGuess = () => `guess-${(guess += 1)}`;

throttleContract('in memory', (overrides) => {
  const { throttle, advance } = makeThrottle(overrides);
  return Promise.resolve({ next: () => throttle, one: throttle, advance });
});

test('addresses: IPv4 as is, IPv4-mapped as IPv4, IPv6 reduced to its prefix', () => {
  assert.equal(normalizeAddress('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(normalizeAddress('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2:0:0:0:0/64');
  assert.equal(normalizeAddress('[2001:db8::1]'), '2001:db8:0:0:0:0:0:0/64');
  assert.equal(normalizeAddress('fe80::1%eth0', 128), 'fe80:0:0:0:0:0:0:1/128');
  assert.equal(normalizeAddress('2001:db8:abcd:12ff::', 56), '2001:db8:abcd:1200:0:0:0:0/56');
});

describe('bounded memory', () => {
  test('no more than maxTrackedKeys accounts, addresses and remembered successes', async () => {
    const { throttle, advance } = makeThrottle({ maxTrackedKeys: 50, maxFailuresPerIp: 100_000 });
    for (let i = 0; i < 5000; i += 1) {
      await fail(throttle, `random-${i}`, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, nextGuess());
      await (await throttle.check(`user-${i}`, '192.0.2.1', `password-${i}`)).success();
      advance(10);
    }
    const size = throttle.size;
    assert.ok(size.accounts <= 50 && size.addresses <= 50 && size.pairs <= 50 && size.knownGood <= 50, JSON.stringify(size));
  });

  test('a flood of new names does not evict a blocked account', async () => {
    const { throttle, advance } = makeThrottle({ maxTrackedKeys: 20, maxFailuresPerIp: 100_000, maxDelay: '1h' });
    for (let i = 0; i < 12; i += 1) {
      try {
        await fail(throttle, 'victim', '10.0.0.1', nextGuess());
      } catch {
        advance(5_000);
      }
    }
    const before = await retryAfter(() => throttle.check('victim', '10.0.0.1', nextGuess()));
    for (let i = 0; i < 2000; i += 1) await fail(throttle, `noise-${i}`, `10.1.${(i >> 8) & 255}.${i & 255}`, nextGuess());
    assert.equal(await retryAfter(() => throttle.check('victim', '10.0.0.1', nextGuess())), before);
  });

  test('expired entries are dropped as time passes', async () => {
    const { throttle, advance } = makeThrottle();
    for (let i = 0; i < 100; i += 1) await fail(throttle, `user${i}`, `10.0.0.${i}`, nextGuess());
    advance(2 * 3_600_000);
    await (await throttle.check('late', '10.9.9.9', 'x')).success();
    assert.deepEqual({ ...throttle.size, knownGood: 0 }, { accounts: 0, addresses: 0, pairs: 0, knownGood: 0 });
  });
});

describe('configuration', () => {
  test('safe defaults, on', () => {
    assert.deepEqual(throttleConfigSchema.parse({}), {
      enabled: true,
      maxFailuresPerAccount: 5,
      maxFailuresPerIp: 20,
      maxFailuresPerAccountPerHour: 100,
      baseDelay: 1000,
      maxDelay: 900_000,
      forgetAfter: 3_600_000,
      rememberSuccess: 86_400_000,
      ipv6Prefix: 64,
      maxTrackedKeys: 10_000,
    });
  });

  test('the hourly cap cannot exceed 100; unknown keys and bad durations are refused', () => {
    assert.equal(throttleConfigSchema.safeParse({ maxFailuresPerAccountPerHour: 101 }).success, false);
    assert.equal(throttleConfigSchema.safeParse({ maxFailures: 3 }).success, false);
    assert.equal(throttleConfigSchema.safeParse({ baseDelay: 'soon' }).success, false);
    assert.equal(throttleConfigSchema.safeParse({ baseDelay: '1m', maxDelay: '30s' }).success, false);
  });

  test('disabled: nothing is counted or refused', async () => {
    const { throttle } = makeThrottle({ enabled: false });
    for (let i = 0; i < 500; i += 1) await fail(throttle, 'alice', '10.0.0.1', nextGuess());
    await (await throttle.check('alice', '10.0.0.1', nextGuess())).failure();
    assert.deepEqual(throttle.size, { accounts: 0, addresses: 0, pairs: 0, knownGood: 0 });
  });
});

describe('ThrottledProvider', () => {
  class ScriptedProvider implements AuthProvider {
    readonly name = 'scripted';
    calls = 0;
    constructor(private readonly answer: (credentials: Credentials) => Promise<Identity | null>) {}
    verify(credentials: Credentials): Promise<Identity | null> {
      this.calls += 1;
      return this.answer(credentials);
    }
  }

  test('failures are counted, a 429 is thrown before the provider is asked', async () => {
    const provider = new ScriptedProvider(({ password }) =>
      Promise.resolve(password === 'right' ? { user: 'alice', groups: [], via: 'ldap' } : null),
    );
    const { throttle } = makeThrottle();
    const throttled = new ThrottledProvider(provider, throttle);
    for (let i = 0; i < 5; i += 1)
      assert.equal(await throttled.verify({ user: 'alice', password: nextGuess(), clientIp: '10.0.0.1' }), null);
    await assert.rejects(
      throttled.verify({ user: 'alice', password: nextGuess(), clientIp: '10.0.0.1' }),
      (error: unknown) => error instanceof RegistryError && error.code === 'TOOMANYREQUESTS',
    );
    assert.equal(provider.calls, 5);
  });

  test('a provider that throws (directory unavailable) is not a failed login', async () => {
    const provider = new ScriptedProvider(() => Promise.reject(new RegistryError('UNAVAILABLE', 'the directory is unavailable')));
    const { throttle } = makeThrottle();
    const throttled = new ThrottledProvider(provider, throttle);
    for (let i = 0; i < 20; i += 1) {
      await assert.rejects(
        throttled.verify({ user: 'alice', password: nextGuess(), clientIp: '10.0.0.1' }),
        (error: unknown) => error instanceof RegistryError && error.code === 'UNAVAILABLE',
      );
    }
    assert.equal(provider.calls, 20);
  });
});
