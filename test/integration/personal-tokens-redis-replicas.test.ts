/**
 * Two replicas (two `serve` processes) that share one Redis and the key directory, as replicas
 * must, and no data folder: each has its own dataDir and its own copy of the htpasswd file. The
 * personal tokens, their last uses and the OpenID provider's users are kept in Redis, so
 *
 * - a token made at one replica works at the other, for an htpasswd user and for a user of the
 *   provider (whose account, and sealed refresh token, the other replica reads from Redis);
 * - a token revoked at one replica (the UI) or by the command (`token personal revoke`, run with
 *   the other replica's config) is refused by both within 2 seconds;
 * - nothing of it is written to either data folder.
 *
 * Real processes, a real Redis, a real OpenID Provider over TLS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { basic, writeHtpasswd } from '../helpers/gate.js';
import { CLI, startConfiguredGateProcess, type ConfiguredGateProcess } from '../helpers/gate-process.js';
import { makeTlsPair, trustingAgent } from '../helpers/tls.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { startRedis, type RunningRedis } from '../helpers/redis.js';
import { UiClient } from '../helpers/ui-client.js';
import { waitFor } from '../helpers/wait.js';
import { makePersonalToken, tokenIdByName } from '../helpers/personal-tokens.js';
import { startTestOp, type TestOp } from '../helpers/oidc-provider.js';
import { signInThroughProvider } from '../helpers/oidc-sign-in.js';

const ALICE = { password: 'alice-redis-replicas-idp-pw', groups: ['team-a'] };
const BOB = { bob: 'bob-redis-replicas-pw' };
const WITHIN = { timeoutMs: 2000, intervalMs: 100 };

describe('personal tokens and provider users kept in Redis, replicas sharing no data folder', () => {
  let dir: string;
  let op: TestOp;
  let redis: RunningRedis;
  let dispatcher: Dispatcher;
  const replicas: ConfiguredGateProcess[] = [];
  const replica = (index: number) => replicas[index] as ConfiguredGateProcess;

  const v2 = async (gate: ConfiguredGateProcess, user: string, token: string) => {
    const response = await request(`${gate.url}/v2/`, { headers: { authorization: basic(user, token) }, dispatcher });
    await response.body.dump();
    return response.statusCode;
  };
  const signedIn = async (gate: ConfiguredGateProcess, user: 'alice' | 'bob'): Promise<UiClient> => {
    const ui = new UiClient(gate.url, dispatcher);
    if (user === 'alice') await signInThroughProvider(ui, op, { username: 'alice', password: ALICE.password });
    else assert.equal((await ui.logIn('bob', BOB.bob)).status, 303);
    return ui;
  };

  before(async () => {
    dir = await makeTempDir('rg-pat-redis-replicas-');
    const tls = await makeTlsPair(join(dir, 'tls'));
    dispatcher = trustingAgent(tls.caPem);
    [op, redis] = await Promise.all([startTestOp(dir, { alice: ALICE }), startRedis()]);
    await writeHtpasswd(join(dir, 'htpasswd'), BOB, 4);
    for (const name of ['r1', 'r2']) {
      await mkdir(join(dir, name));
      await copyFile(join(dir, 'htpasswd'), join(dir, name, 'htpasswd'));
      replicas.push(
        await startConfiguredGateProcess({
          dir,
          file: `${name}.yaml`,
          timeoutMs: 30_000,
          config: {
            tls: { cert: tls.certFile, key: tls.keyFile },
            dataDir: join(dir, name, 'data'),
            workers: 1,
            redis: { url: redis.url, keyPrefix: 'pat-replicas:' },
            auth: {
              htpasswd: join(dir, name, 'htpasswd'),
              // What replicas share besides Redis: the signing keys, the deployment key (credential stamps).
              token: { service: 'registry-gate.test', keyDir: join(dir, 'shared-keys') },
              oidc: {
                issuer: op.issuer,
                clientId: op.clientId,
                clientSecretFile: op.clientSecretFile,
                ca: op.tls.caFile,
                scopes: ['openid', 'profile', 'groups', 'offline_access'],
              },
            },
            log: { level: 'warn', access: false },
          },
        }),
      );
    }
    op.registerClient(replica(0).url);
  });
  after(async () => {
    await Promise.all(replicas.map((gate) => gate.stop()));
    await op.stop();
    await redis.close();
    await dispatcher.close();
    await removeDir(dir);
  });

  test('an htpasswd user’s token made at one replica works at the other; revoked there in the UI, refused here within 2 s', async () => {
    const ui = await signedIn(replica(0), 'bob');
    const token = await makePersonalToken(ui, { name: 'ci', repositories: ['bob/**'], actions: ['pull'] });
    await waitFor('the token works at the second replica', async () => (await v2(replica(1), 'bob', token)) === 200, WITHIN);
    assert.equal(await v2(replica(0), 'bob', token), 200);

    const revoked = await ui.post('/ui/tokens/revoke', { id: await tokenIdByName(ui, 'ci') }, { tokenFrom: '/ui/tokens' });
    assert.equal(revoked.status, 303);
    await waitFor('refused at the second replica', async () => (await v2(replica(1), 'bob', token)) === 401, WITHIN);
    assert.equal(await v2(replica(0), 'bob', token), 401);
  });

  test('a provider user’s token made at one replica works at the other; revoked by the command, refused within 2 s', async () => {
    const ui = await signedIn(replica(0), 'alice');
    const token = await makePersonalToken(ui, { name: 'laptop', repositories: ['team-a/**'], actions: ['pull'] });
    await waitFor('the token works at the second replica', async () => (await v2(replica(1), 'alice', token)) === 200, WITHIN);

    const revoked = await runProcess(
      process.execPath,
      [CLI, 'token', 'personal', 'revoke', '--user', 'alice', '--all', '-c', join(dir, 'r2.yaml')],
      {
        cwd: dir,
        timeoutMs: 30_000,
      },
    );
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stderr, /redis:pat-replicas:personal-tokens/);
    await waitFor('refused at the first replica', async () => (await v2(replica(0), 'alice', token)) === 401, WITHIN);
    assert.equal(await v2(replica(1), 'alice', token), 401);
  });

  test('neither data folder holds a token store or the provider’s users', async () => {
    for (const name of ['r1', 'r2']) {
      const data = join(dir, name, 'data');
      const entries = await readdir(data, { recursive: true });
      assert.deepEqual(
        entries.filter((entry) => /personal-token|accounts\.json/.test(entry)),
        [],
        `${name}: ${entries.join(', ')}`,
      );
    }
  });
});
