/**
 * A revoked personal token must never come back. Without `redis` the tokens live in one JSON file
 * that the server and the `token personal revoke` command both read, change and replace. The
 * command took no lock the server shares, so when a user made a token in the web UI at the same
 * instant, the server's write (which had read the file just before the command replaced it) put
 * the whole old list back, revoked token included: the administrator saw "Revoked", the token kept
 * working. Here the command revokes one of alice's tokens per round while bob makes tokens through
 * the UI as fast as the server takes them; afterwards every revoked token is refused at /v2/, and
 * every token bob was shown is still in the store (the same race, the other way, lost his).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { basic } from '../helpers/gate.js';
import { CLI, startConfiguredGateProcess, type ConfiguredGateProcess } from '../helpers/gate-process.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { UiClient } from '../helpers/ui-client.js';
import { makePersonalToken } from '../helpers/personal-tokens.js';
import { pollUntil } from '../helpers/wait.js';

const PASSWORDS = { alice: 'alice-race-pw-1', bob: 'bob-race-pw-2' } as const;
const ROUNDS = 30;
/** The rounds stop early past this, on a slow machine; at least MIN_ROUNDS must have run. */
const ROUNDS_BUDGET_MS = 90_000;
const MIN_ROUNDS = 5;
/** Bob's clients posting the token form at once, and how many tokens each makes at most per round. */
const CREATORS = 4;
const MAX_CREATIONS_PER_ROUND = 6;

interface ListedToken {
  id: string;
  owner: string;
  name: string;
}

describe('a personal token revoked from the command line while the server writes the store', () => {
  let dir: string;
  let gate: ConfiguredGateProcess;

  const personal = async (args: string[]): Promise<string> => {
    const run = await runProcess(process.execPath, [CLI, 'token', 'personal', ...args, '-c', gate.configFile], {
      cwd: dir,
      timeoutMs: 30_000,
    });
    assert.equal(run.code, 0, `token personal ${args[0] ?? ''}: ${run.stderr}`);
    return run.stdout;
  };
  const listTokens = async (user: string): Promise<ListedToken[]> =>
    JSON.parse(await personal(['list', '--user', user, '--json'])) as ListedToken[];
  const v2 = async (user: string, secret: string): Promise<number> => {
    const response = await request(`${gate.url}/v2/`, { headers: { authorization: basic(user, secret) } });
    await response.body.dump();
    return response.statusCode;
  };
  const signedIn = async (user: keyof typeof PASSWORDS): Promise<UiClient> => {
    const ui = new UiClient(gate.url);
    assert.equal((await ui.logIn(user, PASSWORDS[user])).status, 303);
    return ui;
  };

  before(async () => {
    dir = await makeTempDir('rg-pat-race-');
    gate = await startConfiguredGateProcess({
      dir,
      users: PASSWORDS,
      config: {
        tls: 'off',
        dataDir: './data',
        // Every revoked token is tried at once at the end: the login throttle would answer 429, not whether it is refused.
        auth: { htpasswd: './htpasswd', tokens: { maxPerUser: 1000 }, throttle: { enabled: false } },
        log: { level: 'warn' },
        audit: { enabled: false },
      },
    });
  });
  after(async () => {
    await gate.stop();
    await removeDir(dir);
  });

  test('every revoked token is refused afterwards, and no token made meanwhile is lost', async () => {
    const alice = await signedIn('alice');
    const secretsByName = new Map<string, string>();
    for (let round = 0; round < ROUNDS; round++) {
      const name = `alice-${round}`;
      secretsByName.set(name, await makePersonalToken(alice, { name, repositories: ['alice/**'], actions: ['pull'] }));
    }
    const aliceTokens = await listTokens('alice');
    assert.equal(aliceTokens.length, ROUNDS);
    const secretOf = (token: ListedToken): string => secretsByName.get(token.name) as string;
    assert.equal(await v2('alice', secretOf(aliceTokens[0] as ListedToken)), 200, 'a token works before it is revoked');

    const creators = await Promise.all(Array.from({ length: CREATORS }, () => signedIn('bob')));
    const bobNames: string[] = [];
    const revoked: ListedToken[] = [];
    const started = Date.now();
    for (const [round, token] of aliceTokens.entries()) {
      if (round >= MIN_ROUNDS && Date.now() - started > ROUNDS_BUDGET_MS) break;
      let revoking = true;
      const revocation = personal(['revoke', '--user', 'alice', '--id', token.id]).finally(() => (revoking = false));
      // Bob's tokens are made for as long as the command runs (at most MAX_CREATIONS_PER_ROUND each), so its write lands among the server's.
      const creating = creators.map(async (bob, creator) => {
        for (let made = 0; revoking && made < MAX_CREATIONS_PER_ROUND; made++) {
          const name = `bob-${round}-${creator}-${made}`;
          await makePersonalToken(bob, { name, repositories: ['bob/**'], actions: ['pull'] });
          bobNames.push(name);
        }
      });
      await Promise.all([revocation, ...creating]);
      revoked.push(token);
    }
    assert.ok(revoked.length >= MIN_ROUNDS, `only ${revoked.length} rounds ran`);

    const stillListed = new Set((await listTokens('alice')).map((token) => token.id));
    const resurrected = revoked.filter((token) => stillListed.has(token.id)).map((token) => token.name);
    assert.deepEqual(resurrected, [], `${resurrected.length} of ${revoked.length} revoked tokens are back in the store`);
    // The server reads the file within its watch (2 s); a token put back would be accepted for good.
    const accepted = await pollUntil(
      async () => {
        const statuses = await Promise.all(
          revoked.map(async (token) => ({ name: token.name, status: await v2('alice', secretOf(token)) })),
        );
        return statuses.filter(({ status }) => status !== 401).map(({ name, status }) => `${name} ${status}`);
      },
      (names) => names.length === 0,
      { timeoutMs: 6000, intervalMs: 250 },
    );
    assert.deepEqual(accepted, [], 'revoked tokens still accepted at /v2/');

    const bobListed = new Set((await listTokens('bob')).map((token) => token.name));
    const lost = bobNames.filter((name) => !bobListed.has(name));
    assert.deepEqual(lost, [], `${lost.length} of ${bobNames.length} tokens bob was shown are gone from the store`);
  });
});
