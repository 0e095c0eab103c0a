/**
 * Two replicas (two `serve` processes, each its own dataDir) sharing one Redis and one folder for the
 * provider's users and the personal tokens (auth.oidc.stateDir, auth.tokens.store), against a real
 * OpenID Provider that rotates refresh tokens on every use:
 *
 * - a user signs in at one replica; the token made there works at the other;
 * - when a re-check falls due while requests with the token reach both replicas at once, the
 *   provider is asked once (the lock is Redis's; each replica reads the store again inside it), so
 *   a rotated refresh token is never used twice (which makes a provider revoke the whole grant);
 * - when the provider disables the user, the re-check that finds it out at one replica ends the
 *   token at the other too, at once (the change is published through Redis).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { basic, writeHtpasswd } from '../helpers/gate.js';
import { startConfiguredGateProcess, type ConfiguredGateProcess } from '../helpers/gate-process.js';
import { makeTlsPair, trustingAgent } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startRedis, type RunningRedis } from '../helpers/redis.js';
import { UiClient } from '../helpers/ui-client.js';
import { waitFor } from '../helpers/wait.js';
import { makePersonalToken } from '../helpers/personal-tokens.js';
import { startTestOp, type TestOp } from '../helpers/oidc-provider.js';
import { signInThroughProvider } from '../helpers/oidc-sign-in.js';

const ALICE = { password: 'alice-replicas-idp-pw', groups: ['team-a'] };
const RECHECK_MS = 1500;

describe('OpenID Connect users and their tokens across replicas', () => {
  let dir: string;
  let op: TestOp;
  let redis: RunningRedis;
  let dispatcher: Dispatcher;
  const replicas: ConfiguredGateProcess[] = [];
  let token: string;

  const v2 = async (replica: ConfiguredGateProcess) => {
    const response = await request(`${replica.url}/v2/`, { headers: { authorization: basic('alice', token) }, dispatcher });
    await response.body.dump();
    return response.statusCode;
  };

  before(async () => {
    dir = await makeTempDir('rg-oidc-replicas-');
    const shared = join(dir, 'shared');
    await mkdir(shared);
    await writeHtpasswd(join(shared, 'htpasswd'), {}, 4);
    const tls = await makeTlsPair(join(dir, 'tls'));
    dispatcher = trustingAgent(tls.caPem);
    [op, redis] = await Promise.all([startTestOp(dir, { alice: ALICE }), startRedis()]);
    for (const name of ['r1', 'r2']) {
      replicas.push(
        await startConfiguredGateProcess({
          dir,
          file: `${name}.yaml`,
          timeoutMs: 30_000,
          config: {
            tls: { cert: tls.certFile, key: tls.keyFile },
            dataDir: join(dir, name),
            workers: 1,
            redis: { url: redis.url, keyPrefix: 'oidc-replicas:' },
            auth: {
              htpasswd: join(shared, 'htpasswd'),
              tokens: { store: join(shared, 'tokens', 'personal-tokens.json') },
              oidc: {
                issuer: op.issuer,
                clientId: op.clientId,
                clientSecretFile: op.clientSecretFile,
                ca: op.tls.caFile,
                scopes: ['openid', 'profile', 'groups', 'offline_access'],
                recheckInterval: `${RECHECK_MS}ms`,
                stateDir: join(shared, 'oidc'),
              },
            },
            log: { level: 'warn', access: false },
          },
        }),
      );
    }
    const [first] = replicas as [ConfiguredGateProcess];
    op.registerClient(first.url);
    const ui = new UiClient(first.url, dispatcher);
    await signInThroughProvider(ui, op, { username: 'alice', password: ALICE.password });
    token = await makePersonalToken(ui, { name: 'everywhere', repositories: ['team-a/**'], actions: ['pull'] });
  });
  after(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    await op.stop();
    await redis.close();
    await dispatcher.close();
    await removeDir(dir);
  });

  test('a token made at one replica works at the other', async () => {
    for (const replica of replicas) assert.equal(await v2(replica), 200, replica.url);
  });

  test('a re-check due while both replicas are busy asks the provider once', async () => {
    for (let round = 0; round < 3; round += 1) {
      const before = op.refreshGrants;
      // The last check was at the previous burst (or the sign-in); the next falls due RECHECK_MS later.
      const started = Date.now();
      await waitFor('the re-check falls due', () => Date.now() - started > RECHECK_MS, { timeoutMs: RECHECK_MS + 500 });
      const statuses = await Promise.all(Array.from({ length: 16 }, (_unused, index) => v2(replicas[index % 2] as ConfiguredGateProcess)));
      assert.deepEqual(new Set(statuses), new Set([200]), `round ${round}: every request succeeds`);
      assert.equal(op.refreshGrants, before + 1, `round ${round}: one refresh-token grant for the burst`);
    }
  });

  test('the provider disabling the user, found out at one replica, ends the token at both', async () => {
    op.disable('alice');
    const [first, second] = replicas as [ConfiguredGateProcess, ConfiguredGateProcess];
    await waitFor('refused at the second replica', async () => (await v2(second)) === 401, { timeoutMs: RECHECK_MS + 3000 });
    assert.equal(await v2(first), 401, 'and at the first, at once');
  });
});
