/**
 * The records the primary keeps for its workers (src/server/cluster-records.ts), under the login
 * throttle's counters (src/auth/throttle/shared-store.ts). The attack they stop: a guesser whose
 * connections the primary hands round-robin to `workers: N` processes got every limit N times
 * (test/integration/workers-multiply-login-guesses.test.ts runs it with real workers). Here the
 * primary's table itself, in this process with a fake clock: the whole brute-force contract with
 * three workers taking turns, compare-and-set that writes all or nothing, expiry, a bound that a
 * flood of new names cannot use to evict a blocked account, and the order the throttle falls back
 * in (Redis, then the primary, then this process's memory).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RecordTable } from '../../src/server/cluster-records.js';
import { LoginThrottle, MemoryCounterStore, SharedCounterStore, type VersionedRecords } from '../../src/auth/throttle/index.js';
import { throttleConfigSchema, type ThrottleConfigInput } from '../../src/config/schema/throttle.js';
import { retryAfter, throttleContract, type ThrottleUnderTest } from '../helpers/throttle-contract.js';

/** What a worker's ClusterRecords does over IPC, here in process; `down` makes the primary not answer. */
function recordsOf(table: RecordTable, state: { down: boolean } = { down: false }): VersionedRecords {
  return {
    read: (names) => Promise.resolve(state.down ? 'unavailable' : table.read(names)),
    writeIfUnchanged: (names, writes) => {
      if (state.down) return Promise.resolve('unavailable');
      return Promise.resolve(table.writeIfUnchanged(names, writes) ? 'written' : 'changed');
    },
  };
}

/** `count` workers counting in one primary's table, with one fake clock; attempts go round-robin. */
function workers(count: number, overrides: ThrottleConfigInput = {}, maxRecords = 100_000): ThrottleUnderTest & { table: RecordTable } {
  let now = 1_000_000;
  const config = throttleConfigSchema.parse(overrides);
  const table = new RecordTable(maxRecords);
  const all = Array.from(
    { length: count },
    () => new LoginThrottle(config, { now: () => now, store: new SharedCounterStore(recordsOf(table), config) }),
  );
  let turn = 0;
  return {
    table,
    one: all[0] as LoginThrottle,
    next: () => all[turn++ % all.length] as LoginThrottle,
    advance: (ms) => {
      now += ms;
    },
  };
}

let guess = 0;
const nextGuess = () => `guess-${(guess += 1)}`;

async function fail(throttle: LoginThrottle, user: string, ip: string): Promise<void> {
  await (await throttle.check(user, ip, nextGuess())).failure();
}

throttleContract("in the primary's records, one worker", (overrides) => Promise.resolve(workers(1, overrides)));
throttleContract("in the primary's records, three workers taking turns", (overrides) => Promise.resolve(workers(3, overrides)));

describe("the primary's record table", () => {
  const write = (version: number, value: string, ttlMs = 60_000, rank = 1) => ({ version, value, ttlMs, rank });

  test('compare-and-set: a write from a stale read changes nothing, not even the records that did not move', () => {
    const table = new RecordTable(100);
    assert.deepEqual(table.read(['a', 'b']), [
      { version: 0, value: null },
      { version: 0, value: null },
    ]);
    assert.equal(table.writeIfUnchanged(['a', 'b'], [write(0, 'a1'), write(0, 'b1')]), true);
    assert.equal(table.writeIfUnchanged(['a'], [write(1, 'a2')]), true);
    // A worker that read a at version 1 and b at version 1 is too late for a.
    assert.equal(table.writeIfUnchanged(['a', 'b'], [write(1, 'a-stale'), write(1, 'b-stale')]), false);
    assert.deepEqual(table.read(['a', 'b']), [
      { version: 2, value: 'a2' },
      { version: 1, value: 'b1' },
    ]);
  });

  test('a TTL of 0 deletes; a record expires after its TTL', () => {
    let now = 0;
    const table = new RecordTable(100, () => now);
    table.writeIfUnchanged(['a', 'b'], [write(0, 'a1', 1000), write(0, 'b1', 5000)]);
    assert.equal(table.writeIfUnchanged(['b'], [write(1, '', 0)]), true);
    now = 999;
    assert.deepEqual(table.read(['a', 'b']), [
      { version: 1, value: 'a1' },
      { version: 0, value: null },
    ]);
    now = 1000;
    assert.deepEqual(table.read(['a']), [{ version: 0, value: null }]);
    assert.equal(table.size, 0);
  });

  test('bounded: past maxRecords, the expired go first, then the lowest rank, never a record being written', () => {
    let now = 0;
    const table = new RecordTable(4, () => now);
    table.writeIfUnchanged(
      ['short', 'busy', 'cold', 'held'],
      [write(0, 's', 10, 2), write(0, 'b', 60_000, 2), write(0, 'c', 60_000, 0), write(0, 'h', 60_000, 1)],
    );
    now = 10;
    table.writeIfUnchanged(['new-1'], [write(0, 'n1', 60_000, 0)]);
    assert.equal(table.read(['short'])[0]?.version, 0, 'the expired record made room');
    table.writeIfUnchanged(['new-2', 'new-3'], [write(0, 'n2', 60_000, 0), write(0, 'n3', 60_000, 0)]);
    assert.equal(table.size, 4);
    const kept = (name: string) => table.read([name])[0]?.version === 1;
    assert.ok(kept('busy') && kept('held') && kept('new-2') && kept('new-3'), 'the rank 0 records went first, not those being written');
    assert.ok(!kept('cold') && !kept('new-1'));
  });

  test('a flood of new names through the workers does not evict a blocked account', async () => {
    const t = workers(2, { maxTrackedKeys: 20, maxFailuresPerIp: 100_000, maxDelay: '1h' }, 60);
    for (let i = 0; i < 12; i += 1) {
      try {
        await fail(t.next(), 'victim', '10.0.0.1');
      } catch {
        t.advance(5_000);
      }
    }
    const before = await retryAfter(() => t.next().check('victim', '10.0.0.1', nextGuess()));
    for (let i = 0; i < 2000; i += 1) await fail(t.next(), `noise-${i}`, `10.1.${(i >> 8) & 255}.${i & 255}`);
    assert.ok(t.table.size <= 60, `the table holds ${t.table.size} records`);
    assert.equal(await retryAfter(() => t.next().check('victim', '10.0.0.1', nextGuess())), before);
  });
});

describe('where a worker counts while Redis is down', () => {
  test('in the primary first, shared with the other workers; in its own memory only when the primary does not answer', async () => {
    const config = throttleConfigSchema.parse({ maxFailuresPerAccount: 3, maxFailuresPerIp: 100_000 });
    const table = new RecordTable(1000);
    const primary = { down: false };
    const redisDown: VersionedRecords = {
      read: () => Promise.resolve('unavailable'),
      writeIfUnchanged: () => Promise.resolve('unavailable'),
    };
    const worker = () =>
      new LoginThrottle(config, {
        store: new SharedCounterStore(redisDown, config),
        fallbacks: [new SharedCounterStore(recordsOf(table, primary), config), new MemoryCounterStore(config)],
      });
    const [first, second] = [worker(), worker()];
    await fail(first, 'alice', '10.0.0.1');
    await fail(second, 'alice', '10.0.0.1');
    await fail(first, 'alice', '10.0.0.1');
    await retryAfter(() => second.check('alice', '10.0.0.1', nextGuess()));
    primary.down = true;
    // Never unthrottled: each worker's memory takes over, from zero, with the same limits.
    for (let i = 0; i < 3; i += 1) await fail(first, 'bob', '10.0.0.2');
    await retryAfter(() => first.check('bob', '10.0.0.2', nextGuess()));
  });
});
