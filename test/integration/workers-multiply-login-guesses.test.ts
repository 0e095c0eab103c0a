/**
 * `workers: N` must not multiply the guesses a client gets before the login throttle answers 429.
 *
 * The attack: the primary hands each new connection to the next worker, and each worker counted
 * failed logins in its own memory whenever Redis did not hold the counters, without `redis`, and
 * with a `redis` that is down (the fallback). A guesser who opens a connection per guess got each
 * limit once per worker: with two workers, six guesses of an account instead of three, and with one
 * worker per core on a large machine many times more. Now the workers count in records the primary
 * keeps for them (src/server/cluster-records.ts), as the lock they share already is, so the count
 * before the 429 is that of one process, with Redis down as without Redis.
 *
 * The gateway as `serve` runs it, with two workers, a real Redis stopped under it, and a new
 * connection for every guess.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { basic } from '../helpers/gate.js';
import { startConfiguredGateProcess, type GateProcess } from '../helpers/gate-process.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startRedis, type RunningRedis } from '../helpers/redis.js';
import { pollUntil } from '../helpers/wait.js';

const PASSWORD = 'alice-workers-pw-1';
const FAILURES_BEFORE_BLOCK = 3;
const MAX_GUESSES = 10;

interface LogRecord {
  log?: string;
  msg?: string;
  code?: string;
  pid?: number;
  path?: string;
  status?: number;
}

function logRecords(gate: GateProcess): LogRecord[] {
  return gate
    .streamOutput('stdout')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogRecord);
}

function gateConfig(extra: Record<string, unknown>): Record<string, unknown> {
  return {
    tls: 'off',
    dataDir: 'data',
    auth: {
      htpasswd: 'htpasswd',
      // Only the per-account back-off decides here; long enough to outlast the test.
      throttle: { maxFailuresPerAccount: FAILURES_BEFORE_BLOCK, maxFailuresPerIp: 100_000, baseDelay: '5m', maxDelay: '15m' },
    },
    workers: 2,
    log: { level: 'info', format: 'json', access: true },
    audit: { enabled: false },
    ...extra,
  };
}

/** Wrong passwords for alice, each on a new connection, until the first 429: the statuses seen. */
async function guessUntilThrottled(gate: GateProcess): Promise<number[]> {
  const statuses: number[] = [];
  for (let guess = 1; guess <= MAX_GUESSES; guess++) {
    const dispatcher = new Agent({ pipelining: 0 });
    try {
      const response = await request(`${gate.url}/v2/`, { dispatcher, headers: { authorization: basic('alice', `wrong-${guess}`) } });
      await response.body.dump();
      statuses.push(response.statusCode);
      if (response.statusCode === 429) break;
    } finally {
      await dispatcher.close();
    }
  }
  return statuses;
}

/** The worker PIDs that answered the guesses (their access lines may still be on the way). */
async function guessWorkers(gate: GateProcess, guesses: number): Promise<Set<number>> {
  const lines = await pollUntil(
    () => Promise.resolve(logRecords(gate).filter((record) => record.log === 'access' && record.path === '/v2/' && record.pid)),
    (records) => records.length >= guesses,
    { timeoutMs: 5000, intervalMs: 50 },
  );
  return new Set(lines.map((record) => record.pid as number));
}

function assertSingleProcessCount(statuses: number[]): void {
  const expected = [...Array<number>(FAILURES_BEFORE_BLOCK).fill(401), 429];
  assert.deepEqual(statuses, expected, `${FAILURES_BEFORE_BLOCK} failures, then 429, as one process would count them`);
}

describe('two workers, Redis configured and down', () => {
  let dir: string;
  let redis: RunningRedis;
  let gate: GateProcess;

  before(async () => {
    dir = await makeTempDir('rg-workers-redis-down-');
    redis = await startRedis();
    gate = await startConfiguredGateProcess({
      dir,
      users: { alice: PASSWORD },
      config: gateConfig({ redis: { url: redis.url } }),
    });
  });

  after(async () => {
    await gate.stop();
    await redis.close();
    if (dir) await removeDir(dir);
  });

  test('the failures before the 429 are one process worth, not one per worker', async () => {
    await redis.stop();
    // Each worker says so once its connection is gone: then both count in the fallback.
    const down = await pollUntil(
      () =>
        Promise.resolve(new Set(logRecords(gate).flatMap((record) => (record.code === 'RG_ERR_REDIS_UNAVAILABLE' ? [record.pid] : [])))),
      (pids) => pids.size >= 2,
      { timeoutMs: 8000, intervalMs: 50 },
    );
    assert.equal(down.size, 2, 'both workers lost Redis');
    const statuses = await guessUntilThrottled(gate);
    assert.ok((await guessWorkers(gate, statuses.length)).size >= 2, 'the guesses reached both workers');
    assertSingleProcessCount(statuses);
  });
});

describe('two workers, no Redis', () => {
  let dir: string;
  let gate: GateProcess;

  before(async () => {
    dir = await makeTempDir('rg-workers-no-redis-');
    gate = await startConfiguredGateProcess({ dir, users: { alice: PASSWORD }, config: gateConfig({}) });
  });

  after(async () => {
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  test('the failures before the 429 are one process worth, not one per worker', async () => {
    const statuses = await guessUntilThrottled(gate);
    assert.ok((await guessWorkers(gate, statuses.length)).size >= 2, 'the guesses reached both workers');
    assertSingleProcessCount(statuses);
    const right = await request(`${gate.url}/v2/`, { headers: { authorization: basic('alice', PASSWORD) } });
    await right.body.dump();
    assert.equal(right.statusCode, 429, 'the block holds for the right password too');
  });
});
