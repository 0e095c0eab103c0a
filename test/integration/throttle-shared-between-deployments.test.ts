/**
 * Two gateways on one Redis do not share state unless they are one deployment.
 *
 * The attack: staging and production each run registry-gate, and both point at the one Redis the
 * team has. The default `redis.keyPrefix` was the same for every deployment, and the throttle's
 * keys hold only a hash of the account and the address: a few wrong passwords for `alice` against
 * the staging gateway (anyone who can reach staging can send them) locked `alice` out of
 * production, 429 with her right password; revocations and the revoked robots were shared the
 * same way. The default prefix is now derived from the deployment key (`keyDir/deployment.key`),
 * which the replicas of one gateway share and two gateways never do: failures against staging
 * leave production alone, while production's own replicas still count together.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { request } from 'undici';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startRedis, type RunningRedis } from '../helpers/redis.js';

const PASSWORD = 'alice-Deployment-pw-1';
let dir: string;
let redis: RunningRedis;
const gates: TestGate[] = [];

/** A gateway whose key directory is `keys` (replicas of one deployment share it), on the test's Redis, without a key prefix. */
async function gateway(name: string, keys: string): Promise<TestGate> {
  const gate = await startGate({
    dir: join(dir, name),
    users: { alice: PASSWORD },
    bcryptCost: 4,
    config: {
      redis: { url: redis.url },
      auth: { token: { keyDir: join(dir, keys) }, throttle: { maxFailuresPerAccount: 3, baseDelay: '30s' } },
      access: [{ repository: '**', actions: ['pull'], subjects: ['authenticated'] }],
    },
  });
  gates.push(gate);
  return gate;
}

async function login(gate: TestGate, password: string): Promise<number> {
  const response = await request(`${gate.url}/v2/`, { headers: { authorization: basic('alice', password) } });
  await response.body.dump();
  return response.statusCode;
}

before(async () => {
  dir = await makeTempDir('rg-deployments-');
  redis = await startRedis();
});

after(async () => {
  for (const gate of gates) await gate.stop();
  await redis.close();
  if (dir) await removeDir(dir);
});

test("wrong passwords against staging do not lock the account out of production; production's replicas still count together", async () => {
  const staging = await gateway('staging', 'staging-keys');
  const production = await gateway('production-1', 'production-keys');
  const productionReplica = await gateway('production-2', 'production-keys');

  const statuses: number[] = [];
  // Distinct guesses: the same wrong password again is not a new guess.
  for (let attempt = 0; attempt < 4; attempt += 1) statuses.push(await login(staging, `staging-guess-${String(attempt)}`));
  assert.deepEqual(statuses, [401, 401, 401, 429], 'staging throttles the guesser');
  assert.equal(await login(staging, PASSWORD), 429, 'there, alice waits too');

  assert.equal(await login(production, PASSWORD), 200, 'production never heard of the guesses against staging');

  for (let attempt = 0; attempt < 3; attempt += 1) assert.equal(await login(production, `production-guess-${String(attempt)}`), 401);
  assert.equal(await login(productionReplica, 'production-guess-3'), 429, "production's other replica counts the same failures");

  const keys = (await redis.cli('--scan', '--pattern', '*throttle:account:*')).split('\n').filter((key) => key !== '');
  const prefixes = new Set(keys.map((key) => key.slice(0, key.indexOf('throttle:'))));
  assert.equal(prefixes.size, 2, `one prefix per deployment: ${[...prefixes].join(' ')}`);
  for (const prefix of prefixes) assert.match(prefix, /^registry-gate:[0-9a-f]{12}:$/);
});
