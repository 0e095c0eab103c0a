/**
 * The brute-force protection's contract, run against every place its counters can live: one
 * process's memory (test/unit/throttle.test.ts), and Redis shared by one or by three replicas
 * taking the attempts round-robin (test/integration/shared-throttle.test.ts). The attacks: guessing
 * one account's password (online brute force, also from many addresses and in parallel bursts),
 * spraying many accounts from one address, and using the protection itself to lock legitimate users
 * out: failures from one address must not delay another address's attempt at the same account (a
 * third party locking out the owner), nor other accounts, nor a user whose password already proved
 * right. All with a fake clock.
 *
 * Attempts go to `next()`, the replica whose turn it is; what only one process can know (a
 * password that succeeded there, the same wrong password repeated there) goes to `one`.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { RegistryError } from '../../src/oci/errors.js';
import { normalizeAccount, type LoginAttempt, type LoginThrottle } from '../../src/auth/throttle/index.js';
import type { ThrottleConfigInput } from '../../src/config/schema/throttle.js';

export interface ThrottleUnderTest {
  /** The replica that takes the next attempt (always the same one when there is one). */
  next(): LoginThrottle;
  /** The first replica, for what stays in its process. */
  readonly one: LoginThrottle;
  advance(ms: number): void;
}

export type ThrottleFactory = (overrides?: ThrottleConfigInput) => Promise<ThrottleUnderTest>;

/** The Retry-After seconds of the 429 that `run` rejects with. */
export async function retryAfter(run: () => Promise<unknown>): Promise<number> {
  try {
    await run();
  } catch (error) {
    assert.ok(error instanceof RegistryError, String(error));
    assert.equal(error.code, 'TOOMANYREQUESTS');
    assert.equal(error.status, 429);
    return Number(error.headers['Retry-After']);
  }
  assert.fail('expected 429 TOOMANYREQUESTS');
}

async function fail(throttle: LoginThrottle, user: string, ip: string, password: string): Promise<void> {
  await (await throttle.check(user, ip, password)).failure();
}

async function blockedOrFailed(throttle: LoginThrottle, user: string, ip: string, password: string): Promise<'failed' | 'blocked'> {
  try {
    await fail(throttle, user, ip, password);
    return 'failed';
  } catch (error) {
    assert.ok(error instanceof RegistryError && error.code === 'TOOMANYREQUESTS', String(error));
    return 'blocked';
  }
}

let guess = 0;
const nextGuess = () => `guess-${(guess += 1)}`;

export function throttleContract(where: string, make: ThrottleFactory, cleanup?: () => Promise<void>): void {
  if (cleanup) after(cleanup);

  describe(`${where}: per account and address: threshold and back-off`, () => {
    test('five failures from one address, then 1 s, 2 s, 4 s … between its attempts', async () => {
      const t = await make();
      for (let i = 0; i < 4; i += 1) await fail(t.next(), 'alice', '10.0.0.1', nextGuess());
      await fail(t.next(), 'alice', '10.0.0.1', nextGuess()); // the fifth: blocked for 1 s
      assert.equal(await retryAfter(() => t.next().check('alice', '10.0.0.1', nextGuess())), 1);
      for (const expected of [1, 2, 4, 8, 16, 32]) {
        t.advance(expected * 1000 - 1);
        await retryAfter(() => t.next().check('alice', '10.0.0.1', nextGuess()));
        t.advance(1);
        await fail(t.next(), 'alice', '10.0.0.1', nextGuess());
        assert.equal(await retryAfter(() => t.next().check('alice', '10.0.0.1', nextGuess())), expected * 2);
      }
    });

    test('the delay is capped at maxDelay', async () => {
      const t = await make({ maxDelay: '30s' });
      for (let i = 0; i < 12; i += 1) {
        t.advance(60_000);
        await fail(t.next(), 'alice', '10.0.0.1', nextGuess());
      }
      assert.equal(await retryAfter(() => t.next().check('alice', '10.0.0.1', nextGuess())), 30);
    });

    test('failures from one address do not delay another address’s attempt at the same account (third-party lockout)', async () => {
      const t = await make();
      for (let i = 0; i < 30; i += 1) await blockedOrFailed(t.next(), 'reader', '192.0.2.66', nextGuess());
      await retryAfter(() => t.next().check('reader', '192.0.2.66', 'the right password, never verified'));
      await (await t.next().check('reader', '198.51.100.7', 'the right password, never verified')).success();
      await retryAfter(() => t.next().check('reader', '192.0.2.66', nextGuess()));
      await retryAfter(() => t.next().check('READER', '192.0.2.66', nextGuess()));
    });

    test('five failures spread over five addresses block none of them', async () => {
      const t = await make();
      for (let i = 0; i < 5; i += 1) await fail(t.next(), 'alice', `10.0.0.${i}`, nextGuess());
      for (let i = 0; i < 5; i += 1) await (await t.next().check('alice', `10.0.0.${i}`, nextGuess())).cancel();
    });

    test('a success resets the account; failures are forgotten after forgetAfter', async () => {
      const t = await make({ forgetAfter: '10m' });
      for (let i = 0; i < 4; i += 1) await fail(t.next(), 'alice', '10.0.0.1', nextGuess());
      await (await t.next().check('alice', '10.0.0.1', 'right')).success();
      for (let i = 0; i < 4; i += 1) await fail(t.next(), 'alice', '10.0.0.1', nextGuess());
      await (await t.next().check('alice', '10.0.0.1', nextGuess())).cancel();
      t.advance(10 * 60_000);
      for (let i = 0; i < 4; i += 1) await fail(t.next(), 'alice', '10.0.0.2', nextGuess());
      await (await t.next().check('alice', '10.0.0.2', nextGuess())).cancel();
    });

    test('account names are compared as directories compare them (case, width, white space)', async () => {
      const t = await make();
      for (const user of ['alice', 'Alice', 'ALICE', ' alice', 'ａｌｉｃｅ']) await fail(t.next(), user, '10.0.0.1', nextGuess());
      await retryAfter(() => t.next().check('aLiCe', '10.0.0.1', nextGuess()));
      await retryAfter(() => t.next().check('ali\u00ADce', '10.0.0.1', nextGuess()));
      await (await t.next().check('aLiCe', '10.0.0.2', nextGuess())).cancel();
      assert.equal(normalizeAccount('ＡＬＩＣＥ '), 'alice');
    });
  });

  describe(`${where}: at most 100 failed password checks per account per hour (ASVS 2.2.1)`, () => {
    test('the 101st attempt within the hour is refused, whatever the other limits say', async () => {
      const t = await make({ maxFailuresPerAccount: 1000, maxFailuresPerIp: 100_000, baseDelay: 0 });
      for (let i = 0; i < 100; i += 1) {
        await fail(t.next(), 'alice', `10.0.${i}.1`, nextGuess());
        t.advance(30_000); // 100 failures over 50 minutes
      }
      const wait = await retryAfter(() => t.next().check('alice', '10.1.0.1', nextGuess()));
      assert.equal(wait, 600); // the first failure leaves the window 10 minutes from now
      t.advance(wait * 1000);
      await fail(t.next(), 'alice', '10.1.0.1', nextGuess());
      await retryAfter(() => t.next().check('alice', '10.1.0.1', nextGuess()));
      t.advance(30_000);
      await (await t.next().check('alice', '10.1.0.1', nextGuess())).cancel();
    });

    test('a success does not hand out a fresh hundred', async () => {
      const t = await make({ maxFailuresPerAccount: 1000, maxFailuresPerIp: 100_000, baseDelay: 0, rememberSuccess: 0 });
      for (let i = 0; i < 100; i += 1) await fail(t.next(), 'alice', `10.0.${i}.1`, nextGuess());
      await retryAfter(() => t.next().check('alice', '10.1.0.1', nextGuess()));
    });

    test('a parallel burst cannot overshoot the cap (attempts in flight count)', async () => {
      const t = await make({ maxFailuresPerAccount: 1000, maxFailuresPerIp: 100_000, baseDelay: 0 });
      for (let i = 0; i < 95; i += 1) await fail(t.next(), 'alice', `10.0.${i}.1`, nextGuess());
      const inFlight: LoginAttempt[] = [];
      let refused = 0;
      for (let i = 0; i < 50; i += 1) {
        try {
          inFlight.push(await t.next().check('alice', `10.2.${i}.1`, nextGuess()));
        } catch {
          refused += 1;
        }
      }
      assert.equal(inFlight.length, 5);
      assert.equal(refused, 45);
    });
  });

  describe(`${where}: what one address can do to the hourly cap`, () => {
    /** Guesses at `user` from `ip` as fast as the throttle lets them, for `ms`; returns the failures counted. */
    async function guessAsFastAsAllowed(t: ThrottleUnderTest, user: string, ip: string, ms: number): Promise<number> {
      let failures = 0;
      for (let elapsed = 0; elapsed < ms;) {
        try {
          await fail(t.next(), user, ip, nextGuess());
          failures += 1;
        } catch (error) {
          assert.ok(error instanceof RegistryError);
          const wait = Number(error.headers['Retry-After']) * 1000;
          t.advance(wait);
          elapsed += wait;
        }
      }
      return failures;
    }

    test('with the defaults, one address gets 17 failed checks of one account in its first hour and 4 an hour after', async () => {
      const t = await make();
      assert.equal(await guessAsFastAsAllowed(t, 'reader', '192.0.2.66', 3_600_000), 17);
      const later = await guessAsFastAsAllowed(t, 'reader', '192.0.2.66', 3_600_000);
      assert.ok(later <= 4, `${later} in the second hour`);
      // Far below the cap of 100: the owner's never-verified password from elsewhere is not refused.
      await (await t.next().check('reader', '198.51.100.7', 'the right password')).success();
    });

    test('the cap is what clients share: six addresses guessing together use it up; then the owner needs a remembered password', async () => {
      const t = await make();
      await (await t.one.check('reader', '198.51.100.7', 'remembered right password')).success();
      let failures = 0;
      // Each address tries every second, for 50 minutes; seconds in which every one of them is still
      // held back are skipped (that changes no outcome, and spares most of the 18,000 attempts).
      for (let elapsed = 0; elapsed < 3_000_000;) {
        let wait = Infinity;
        for (let i = 0; i < 6; i += 1) {
          try {
            await fail(t.next(), 'reader', `192.0.2.${i}`, nextGuess());
            failures += 1;
            wait = 1000;
          } catch (error) {
            assert.ok(error instanceof RegistryError && error.code === 'TOOMANYREQUESTS', String(error));
            wait = Math.min(wait, Number(error.headers['Retry-After']) * 1000);
          }
        }
        wait = Math.min(wait, 3_000_000 - elapsed);
        t.advance(wait);
        elapsed += wait;
      }
      assert.equal(failures, 100);
      await retryAfter(() => t.next().check('reader', '198.51.100.8', 'a right password never verified'));
      await (await t.one.check('reader', '198.51.100.7', 'remembered right password')).success();
    });
  });

  describe(`${where}: parallel attempts`, () => {
    test('a burst of distinct guesses from one address gets only the attempts left before the threshold', async () => {
      const t = await make();
      await fail(t.next(), 'alice', '10.0.0.1', nextGuess());
      await fail(t.next(), 'alice', '10.0.0.1', nextGuess());
      const admitted: LoginAttempt[] = [];
      for (let i = 0; i < 20; i += 1) {
        try {
          admitted.push(await t.next().check('alice', '10.0.0.1', nextGuess()));
        } catch (error) {
          assert.ok(error instanceof RegistryError && error.code === 'TOOMANYREQUESTS');
        }
      }
      assert.equal(admitted.length, 3);
      await (await t.next().check('alice', '10.0.0.2', nextGuess())).cancel(); // another address is not held back by that burst
      for (const attempt of admitted) await attempt.failure();
      await retryAfter(() => t.next().check('alice', '10.0.0.1', nextGuess()));
    });

    test('identical pairs in flight in one process share one check and count as one failure', async () => {
      const t = await make();
      const attempts: LoginAttempt[] = [];
      for (let i = 0; i < 30; i += 1) attempts.push(await t.one.check('alice', '10.0.0.1', 'same wrong password'));
      for (const attempt of attempts) await attempt.failure();
      for (let i = 0; i < 3; i += 1) await fail(t.next(), 'alice', '10.0.0.1', nextGuess());
      await (await t.next().check('alice', '10.0.0.1', nextGuess())).cancel(); // 4 counted: still open
    });

    test('repeating, through one process, a wrong password that was already counted is not a new guess', async () => {
      const t = await make({ maxFailuresPerIp: 1000 });
      for (let i = 0; i < 50; i += 1) await fail(t.one, 'alice', '10.0.0.1', 'stale password in a CI secret');
      await (await t.next().check('alice', '10.0.0.1', nextGuess())).cancel();
    });

    test('a cancelled attempt (directory down) counts as nothing', async () => {
      const t = await make();
      for (let i = 0; i < 50; i += 1) await (await t.next().check('alice', '10.0.0.1', nextGuess())).cancel();
      await (await t.next().check('alice', '10.0.0.1', nextGuess())).cancel();
    });

    test('settling twice changes nothing', async () => {
      const t = await make();
      const attempt = await t.next().check('alice', '10.0.0.1', nextGuess());
      for (let i = 0; i < 10; i += 1) await attempt.failure();
      for (let i = 0; i < 3; i += 1) await fail(t.next(), 'alice', '10.0.0.1', nextGuess());
      await (await t.next().check('alice', '10.0.0.1', nextGuess())).cancel();
    });
  });

  describe(`${where}: per-address threshold`, () => {
    test('20 failures from one address across accounts block that address only', async () => {
      const t = await make();
      for (let i = 0; i < 20; i += 1) await fail(t.next(), `user${i}`, '192.0.2.7', nextGuess());
      assert.equal(await retryAfter(() => t.next().check('someone-new', '192.0.2.7', nextGuess())), 1);
      await (await t.next().check('someone-new', '192.0.2.8', nextGuess())).cancel();
      await (await t.next().check('user1', '198.51.100.1', nextGuess())).cancel();
    });

    test('IPv6 clients are counted per /64; IPv4-mapped addresses as IPv4', async () => {
      const t = await make();
      for (let i = 0; i < 20; i += 1) await fail(t.next(), `user${i}`, `2001:db8:1:2:${i.toString(16)}::1`, nextGuess());
      await retryAfter(() => t.next().check('new', '2001:db8:1:2:ffff:ffff:ffff:ffff', nextGuess()));
      await (await t.next().check('new', '2001:db8:1:3::1', nextGuess())).cancel();
      for (let i = 0; i < 20; i += 1) await fail(t.next(), `user${i}`, '::ffff:192.0.2.9', nextGuess());
      await retryAfter(() => t.next().check('new', '192.0.2.9', nextGuess()));
    });
  });

  describe(`${where}: no lockout of the innocent`, () => {
    test('a flood against one account from many addresses leaves other accounts and those addresses free', async () => {
      const t = await make();
      for (let i = 0; i < 200; i += 1) await blockedOrFailed(t.next(), 'victim', `203.0.113.${i % 250}`, nextGuess());
      await retryAfter(() => t.next().check('victim', '198.51.100.9', nextGuess()));
      await (await t.next().check('bob', '203.0.113.1', 'bob-password')).success();
      await (await t.next().check('carol', '198.51.100.9', nextGuess())).cancel();
    });

    test('a password that succeeded before (in that process) passes a block on its account and its address', async () => {
      const t = await make();
      await (await t.one.check('alice', '10.0.0.1', 'right password')).success();
      t.advance(3_600_000);
      for (let i = 0; i < 30; i += 1) await blockedOrFailed(t.next(), 'alice', '10.0.0.1', nextGuess());
      await retryAfter(() => t.next().check('alice', '10.0.0.1', nextGuess()));
      await (await t.one.check('alice', '10.0.0.1', 'right password')).success();
      await retryAfter(() => t.one.check('alice', '10.0.0.1', 'right password but for someone else'));
      await retryAfter(() => t.one.check('Alice', '10.0.0.1', 'right password'));
    });

    test('a remembered password that now fails (changed) counts and is forgotten', async () => {
      const t = await make();
      await (await t.one.check('alice', '10.0.0.1', 'old password')).success();
      await (await t.one.check('alice', '10.0.0.1', 'old password')).failure();
      for (let i = 0; i < 4; i += 1) await fail(t.next(), 'alice', '10.0.0.1', nextGuess());
      await retryAfter(() => t.one.check('alice', '10.0.0.1', 'old password'));
    });

    test('remembered successes expire', async () => {
      const t = await make({ rememberSuccess: '1h', forgetAfter: '2h' });
      await (await t.one.check('alice', '10.0.0.1', 'right password')).success();
      for (let i = 0; i < 5; i += 1) await fail(t.next(), 'alice', '10.0.0.2', nextGuess());
      await (await t.one.check('alice', '10.0.0.3', 'right password')).cancel();
      t.advance(3_600_000);
      await fail(t.next(), 'alice', '10.0.0.2', nextGuess()); // the sixth failure from there (forgetAfter is 2 h): blocked again
      await retryAfter(() => t.one.check('alice', '10.0.0.2', 'right password'));
    });
  });
}
