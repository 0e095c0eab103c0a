/**
 * Brute-force protection. The attacks: guessing one account's password (online brute force, also
 * from many addresses and in parallel bursts), spraying many accounts from one address, and using
 * the protection itself to lock legitimate users out: failures from one address must not delay
 * another address's attempt at the same account (a third party locking out the owner), nor other
 * accounts, nor a user whose password already proved right. All with a fake clock.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RegistryError } from '../../src/errors.js';
import type { AuthProvider, Credentials, Identity } from '../../src/auth/identity.js';
import {
  LoginThrottle,
  normalizeAccount,
  normalizeAddress,
  throttleConfigSchema,
  ThrottledProvider,
  type LoginAttempt,
  type ThrottleConfigInput,
} from '../../src/auth/throttle/index.js';

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

/** The Retry-After seconds of the 429 that `run` throws. */
function retryAfter(run: () => unknown): number {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof RegistryError, String(error));
    assert.equal(error.code, 'TOOMANYREQUESTS');
    assert.equal(error.status, 429);
    return Number(error.headers['Retry-After']);
  }
  assert.fail('expected 429 TOOMANYREQUESTS');
}

function fail(throttle: LoginThrottle, user: string, ip: string, password: string): void {
  throttle.check(user, ip, password).failure();
}

let guess = 0;
const nextGuess = () => `guess-${(guess += 1)}`;

describe('per account and address: threshold and back-off', () => {
  test('five failures from one address, then 1 s, 2 s, 4 s … between its attempts', () => {
    const { throttle, advance } = makeThrottle();
    for (let i = 0; i < 4; i += 1) fail(throttle, 'alice', '10.0.0.1', nextGuess());
    fail(throttle, 'alice', '10.0.0.1', nextGuess()); // the fifth: blocked for 1 s
    assert.equal(retryAfter(() => throttle.check('alice', '10.0.0.1', nextGuess())), 1);
    for (const expected of [1, 2, 4, 8, 16, 32]) {
      advance(expected * 1000 - 1);
      retryAfter(() => throttle.check('alice', '10.0.0.1', nextGuess()));
      advance(1);
      fail(throttle, 'alice', '10.0.0.1', nextGuess());
      assert.equal(retryAfter(() => throttle.check('alice', '10.0.0.1', nextGuess())), expected * 2);
    }
  });

  test('the delay is capped at maxDelay', () => {
    const { throttle, advance } = makeThrottle({ maxDelay: '30s' });
    for (let i = 0; i < 12; i += 1) {
      advance(60_000);
      fail(throttle, 'alice', '10.0.0.1', nextGuess());
    }
    assert.equal(retryAfter(() => throttle.check('alice', '10.0.0.1', nextGuess())), 30);
  });

  test('failures from one address do not delay another address’s attempt at the same account (third-party lockout)', () => {
    const { throttle } = makeThrottle();
    for (let i = 0; i < 30; i += 1) {
      try {
        fail(throttle, 'reader', '192.0.2.66', nextGuess());
      } catch {
        // the attacker is held back: what we want
      }
    }
    retryAfter(() => throttle.check('reader', '192.0.2.66', 'the right password, never verified'));
    const owner = throttle.check('reader', '198.51.100.7', 'the right password, never verified');
    owner.success();
    retryAfter(() => throttle.check('reader', '192.0.2.66', nextGuess()));
    retryAfter(() => throttle.check('READER', '192.0.2.66', nextGuess()));
  });

  test('five failures spread over five addresses block none of them', () => {
    const { throttle } = makeThrottle();
    for (let i = 0; i < 5; i += 1) fail(throttle, 'alice', `10.0.0.${i}`, nextGuess());
    for (let i = 0; i < 5; i += 1) throttle.check('alice', `10.0.0.${i}`, nextGuess()).cancel();
  });

  test('a success resets the account; failures are forgotten after forgetAfter', () => {
    const { throttle, advance } = makeThrottle({ forgetAfter: '10m' });
    for (let i = 0; i < 4; i += 1) fail(throttle, 'alice', '10.0.0.1', nextGuess());
    throttle.check('alice', '10.0.0.1', 'right').success();
    for (let i = 0; i < 4; i += 1) fail(throttle, 'alice', '10.0.0.1', nextGuess());
    throttle.check('alice', '10.0.0.1', nextGuess()).cancel();
    advance(10 * 60_000);
    for (let i = 0; i < 4; i += 1) fail(throttle, 'alice', '10.0.0.2', nextGuess());
    throttle.check('alice', '10.0.0.2', nextGuess()).cancel();
  });

  test('account names are compared as directories compare them (case, width, white space)', () => {
    const { throttle } = makeThrottle();
    for (const user of ['alice', 'Alice', 'ALICE', ' alice', 'ａｌｉｃｅ']) fail(throttle, user, '10.0.0.1', nextGuess());
    retryAfter(() => throttle.check('aLiCe', '10.0.0.1', nextGuess()));
    retryAfter(() => throttle.check('ali\u00ADce', '10.0.0.1', nextGuess()));
    throttle.check('aLiCe', '10.0.0.2', nextGuess()).cancel();
    assert.equal(normalizeAccount('ＡＬＩＣＥ '), 'alice');
  });
});

describe('at most 100 failed password checks per account per hour (ASVS 2.2.1)', () => {
  test('the 101st attempt within the hour is refused, whatever the other limits say', () => {
    const { throttle, advance } = makeThrottle({ maxFailuresPerAccount: 1000, maxFailuresPerIp: 100_000, baseDelay: 0 });
    for (let i = 0; i < 100; i += 1) {
      fail(throttle, 'alice', `10.0.${i}.1`, nextGuess());
      advance(30_000); // 100 failures over 50 minutes
    }
    const wait = retryAfter(() => throttle.check('alice', '10.1.0.1', nextGuess()));
    assert.equal(wait, 600); // the first failure leaves the window 10 minutes from now
    advance(wait * 1000);
    throttle.check('alice', '10.1.0.1', nextGuess()).failure();
    retryAfter(() => throttle.check('alice', '10.1.0.1', nextGuess()));
    advance(30_000);
    throttle.check('alice', '10.1.0.1', nextGuess()).cancel();
  });

  test('a success does not hand out a fresh hundred', () => {
    const { throttle } = makeThrottle({ maxFailuresPerAccount: 1000, maxFailuresPerIp: 100_000, baseDelay: 0, rememberSuccess: 0 });
    for (let i = 0; i < 100; i += 1) fail(throttle, 'alice', `10.0.${i}.1`, nextGuess());
    retryAfter(() => throttle.check('alice', '10.1.0.1', nextGuess()));
  });

  test('a parallel burst cannot overshoot the cap (attempts in flight count)', () => {
    const { throttle } = makeThrottle({ maxFailuresPerAccount: 1000, maxFailuresPerIp: 100_000, baseDelay: 0 });
    for (let i = 0; i < 95; i += 1) fail(throttle, 'alice', `10.0.${i}.1`, nextGuess());
    const inFlight: LoginAttempt[] = [];
    let refused = 0;
    for (let i = 0; i < 50; i += 1) {
      try {
        inFlight.push(throttle.check('alice', `10.2.${i}.1`, nextGuess()));
      } catch {
        refused += 1;
      }
    }
    assert.equal(inFlight.length, 5);
    assert.equal(refused, 45);
  });
});

describe('what one address can do to the hourly cap', () => {
  /** Guesses at `user` from `ip` as fast as the throttle lets them, for `ms`; returns the failures counted. */
  function guessAsFastAsAllowed(throttle: LoginThrottle, advance: (ms: number) => void, user: string, ip: string, ms: number): number {
    let failures = 0;
    for (let elapsed = 0; elapsed < ms; ) {
      try {
        fail(throttle, user, ip, nextGuess());
        failures += 1;
      } catch (error) {
        assert.ok(error instanceof RegistryError);
        const wait = Number(error.headers['Retry-After']) * 1000;
        advance(wait);
        elapsed += wait;
      }
    }
    return failures;
  }

  test('with the defaults, one address gets 17 failed checks of one account in its first hour and 4 an hour after', () => {
    const { throttle, advance } = makeThrottle();
    assert.equal(guessAsFastAsAllowed(throttle, advance, 'reader', '192.0.2.66', 3_600_000), 17);
    const later = guessAsFastAsAllowed(throttle, advance, 'reader', '192.0.2.66', 3_600_000);
    assert.ok(later <= 4, `${later} in the second hour`);
    // Far below the cap of 100: the owner's never-verified password from elsewhere is not refused.
    throttle.check('reader', '198.51.100.7', 'the right password').success();
  });

  test('the cap is what clients share: six addresses guessing together use it up; then the owner needs a remembered password', () => {
    const { throttle, advance } = makeThrottle();
    throttle.check('reader', '198.51.100.7', 'remembered right password').success();
    let failures = 0;
    for (let second = 0; second < 3000; second += 1) {
      for (let i = 0; i < 6; i += 1) {
        try {
          fail(throttle, 'reader', `192.0.2.${i}`, nextGuess());
          failures += 1;
        } catch {
          // held back by its own back-off, or by the cap
        }
      }
      advance(1000);
    }
    assert.equal(failures, 100);
    retryAfter(() => throttle.check('reader', '198.51.100.8', 'a right password never verified'));
    throttle.check('reader', '198.51.100.7', 'remembered right password').success();
  });
});

describe('parallel attempts', () => {
  test('a burst of distinct guesses from one address gets only the attempts left before the threshold', () => {
    const { throttle } = makeThrottle();
    fail(throttle, 'alice', '10.0.0.1', nextGuess());
    fail(throttle, 'alice', '10.0.0.1', nextGuess());
    const admitted: LoginAttempt[] = [];
    for (let i = 0; i < 20; i += 1) {
      try {
        admitted.push(throttle.check('alice', '10.0.0.1', nextGuess()));
      } catch (error) {
        assert.ok(error instanceof RegistryError && error.code === 'TOOMANYREQUESTS');
      }
    }
    assert.equal(admitted.length, 3);
    throttle.check('alice', '10.0.0.2', nextGuess()).cancel(); // another address is not held back by that burst
    for (const attempt of admitted) attempt.failure();
    retryAfter(() => throttle.check('alice', '10.0.0.1', nextGuess()));
  });

  test('identical pairs in flight share one check and count as one failure', () => {
    const { throttle } = makeThrottle();
    const attempts = Array.from({ length: 30 }, () => throttle.check('alice', '10.0.0.1', 'same wrong password'));
    for (const attempt of attempts) attempt.failure();
    for (let i = 0; i < 3; i += 1) fail(throttle, 'alice', '10.0.0.1', nextGuess());
    throttle.check('alice', '10.0.0.1', nextGuess()).cancel(); // 4 counted: still open
  });

  test('repeating a wrong password that was already counted is not a new guess', () => {
    const { throttle } = makeThrottle({ maxFailuresPerIp: 1000 });
    for (let i = 0; i < 50; i += 1) fail(throttle, 'alice', '10.0.0.1', 'stale password in a CI secret');
    throttle.check('alice', '10.0.0.1', nextGuess()).cancel();
  });

  test('a cancelled attempt (directory down) counts as nothing', () => {
    const { throttle } = makeThrottle();
    for (let i = 0; i < 50; i += 1) throttle.check('alice', '10.0.0.1', nextGuess()).cancel();
    throttle.check('alice', '10.0.0.1', nextGuess()).cancel();
  });

  test('settling twice changes nothing', () => {
    const { throttle } = makeThrottle();
    const attempt = throttle.check('alice', '10.0.0.1', nextGuess());
    for (let i = 0; i < 10; i += 1) attempt.failure();
    for (let i = 0; i < 3; i += 1) fail(throttle, 'alice', '10.0.0.1', nextGuess());
    throttle.check('alice', '10.0.0.1', nextGuess()).cancel();
  });
});

describe('per-address threshold', () => {
  test('20 failures from one address across accounts block that address only', () => {
    const { throttle } = makeThrottle();
    for (let i = 0; i < 20; i += 1) fail(throttle, `user${i}`, '192.0.2.7', nextGuess());
    assert.equal(retryAfter(() => throttle.check('someone-new', '192.0.2.7', nextGuess())), 1);
    throttle.check('someone-new', '192.0.2.8', nextGuess()).cancel();
    throttle.check('user1', '198.51.100.1', nextGuess()).cancel();
  });

  test('IPv6 clients are counted per /64; IPv4-mapped addresses as IPv4', () => {
    const { throttle } = makeThrottle();
    for (let i = 0; i < 20; i += 1) fail(throttle, `user${i}`, `2001:db8:1:2:${i.toString(16)}::1`, nextGuess());
    retryAfter(() => throttle.check('new', '2001:db8:1:2:ffff:ffff:ffff:ffff', nextGuess()));
    throttle.check('new', '2001:db8:1:3::1', nextGuess()).cancel();
    assert.equal(normalizeAddress('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(normalizeAddress('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2:0:0:0:0/64');
    assert.equal(normalizeAddress('[2001:db8::1]'), '2001:db8:0:0:0:0:0:0/64');
    assert.equal(normalizeAddress('fe80::1%eth0', 128), 'fe80:0:0:0:0:0:0:1/128');
    assert.equal(normalizeAddress('2001:db8:abcd:12ff::', 56), '2001:db8:abcd:1200:0:0:0:0/56');
  });
});

describe('no lockout of the innocent', () => {
  test('a flood against one account from many addresses leaves other accounts and those addresses free', () => {
    const { throttle } = makeThrottle();
    for (let i = 0; i < 200; i += 1) {
      try {
        fail(throttle, 'victim', `203.0.113.${i % 250}`, nextGuess());
      } catch {
        // blocked: what we want
      }
    }
    retryAfter(() => throttle.check('victim', '198.51.100.9', nextGuess()));
    const attempt = throttle.check('bob', '203.0.113.1', 'bob-password');
    attempt.success();
    throttle.check('carol', '198.51.100.9', nextGuess()).cancel();
  });

  test('a password that succeeded before passes a block on its account and its address', () => {
    const { throttle, advance } = makeThrottle();
    throttle.check('alice', '10.0.0.1', 'right password').success();
    advance(3_600_000);
    for (let i = 0; i < 30; i += 1) {
      try {
        fail(throttle, 'alice', '10.0.0.1', nextGuess());
      } catch {
        // blocked
      }
    }
    retryAfter(() => throttle.check('alice', '10.0.0.1', nextGuess()));
    const attempt = throttle.check('alice', '10.0.0.1', 'right password');
    attempt.success();
    retryAfter(() => throttle.check('alice', '10.0.0.1', 'right password but for someone else'));
    retryAfter(() => throttle.check('Alice', '10.0.0.1', 'right password'));
  });

  test('a remembered password that now fails (changed) counts and is forgotten', () => {
    const { throttle } = makeThrottle();
    throttle.check('alice', '10.0.0.1', 'old password').success();
    throttle.check('alice', '10.0.0.1', 'old password').failure();
    for (let i = 0; i < 4; i += 1) fail(throttle, 'alice', '10.0.0.1', nextGuess());
    retryAfter(() => throttle.check('alice', '10.0.0.1', 'old password'));
  });

  test('remembered successes expire', () => {
    const { throttle, advance } = makeThrottle({ rememberSuccess: '1h', forgetAfter: '2h' });
    throttle.check('alice', '10.0.0.1', 'right password').success();
    for (let i = 0; i < 5; i += 1) fail(throttle, 'alice', '10.0.0.2', nextGuess());
    throttle.check('alice', '10.0.0.3', 'right password').cancel();
    advance(3_600_000);
    fail(throttle, 'alice', '10.0.0.2', nextGuess()); // the sixth failure from there (forgetAfter is 2 h): blocked again
    retryAfter(() => throttle.check('alice', '10.0.0.2', 'right password'));
  });
});

describe('bounded memory', () => {
  test('no more than maxTrackedKeys accounts, addresses and remembered successes', () => {
    const { throttle, advance } = makeThrottle({ maxTrackedKeys: 50, maxFailuresPerIp: 100_000 });
    for (let i = 0; i < 5000; i += 1) {
      fail(throttle, `random-${i}`, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, nextGuess());
      throttle.check(`user-${i}`, '192.0.2.1', `password-${i}`).success();
      advance(10);
    }
    const size = throttle.size;
    assert.ok(size.accounts <= 50 && size.addresses <= 50 && size.pairs <= 50 && size.knownGood <= 50, JSON.stringify(size));
  });

  test('a flood of new names does not evict a blocked account', () => {
    const { throttle, advance } = makeThrottle({ maxTrackedKeys: 20, maxFailuresPerIp: 100_000, maxDelay: '1h' });
    for (let i = 0; i < 12; i += 1) {
      try {
        fail(throttle, 'victim', '10.0.0.1', nextGuess());
      } catch {
        advance(5_000);
      }
    }
    const before = retryAfter(() => throttle.check('victim', '10.0.0.1', nextGuess()));
    for (let i = 0; i < 2000; i += 1) fail(throttle, `noise-${i}`, `10.1.${(i >> 8) & 255}.${i & 255}`, nextGuess());
    assert.equal(retryAfter(() => throttle.check('victim', '10.0.0.1', nextGuess())), before);
  });

  test('expired entries are dropped as time passes', () => {
    const { throttle, advance } = makeThrottle();
    for (let i = 0; i < 100; i += 1) fail(throttle, `user${i}`, `10.0.0.${i}`, nextGuess());
    advance(2 * 3_600_000);
    throttle.check('late', '10.9.9.9', 'x').success();
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

  test('disabled: nothing is counted or refused', () => {
    const { throttle } = makeThrottle({ enabled: false });
    for (let i = 0; i < 500; i += 1) fail(throttle, 'alice', '10.0.0.1', nextGuess());
    throttle.check('alice', '10.0.0.1', nextGuess()).failure();
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
    const provider = new ScriptedProvider(async ({ password }) => (password === 'right' ? { user: 'alice', groups: [], via: 'ldap' } : null));
    const { throttle } = makeThrottle();
    const throttled = new ThrottledProvider(provider, throttle);
    for (let i = 0; i < 5; i += 1) assert.equal(await throttled.verify({ user: 'alice', password: nextGuess(), clientIp: '10.0.0.1' }), null);
    await assert.rejects(throttled.verify({ user: 'alice', password: nextGuess(), clientIp: '10.0.0.1' }), (error: unknown) => error instanceof RegistryError && error.code === 'TOOMANYREQUESTS');
    assert.equal(provider.calls, 5);
  });

  test('a provider that throws (directory unavailable) is not a failed login', async () => {
    const provider = new ScriptedProvider(async () => {
      throw new RegistryError('UNAVAILABLE', 'the directory is unavailable');
    });
    const { throttle } = makeThrottle();
    const throttled = new ThrottledProvider(provider, throttle);
    for (let i = 0; i < 20; i += 1) {
      await assert.rejects(throttled.verify({ user: 'alice', password: nextGuess(), clientIp: '10.0.0.1' }), (error: unknown) => error instanceof RegistryError && error.code === 'UNAVAILABLE');
    }
    assert.equal(provider.calls, 20);
  });
});
