/**
 * A personal token's repository pattern cannot make one request take the gateway's CPU for ever.
 *
 * The attack: any signed-in user chooses the repository patterns of their own tokens. Patterns
 * were matched as backtracking regular expressions (`*` → `[^/]*`, `**` → `.+`), so a pattern such
 * as `mallory/a*a*a*a*a*a*a*a*a*a*b` matched against a name the attacker also chooses
 * (`mallory/aaaa…a`, 80 letters, inside their own namespace, which a rule grants them) backtracks
 * through every way of splitting the name between the stars: seconds for 6 stars, longer than any
 * client waits for 10, while the worker answers nobody else. One request with the token, no
 * password guessing, no push needed. Now patterns are matched in one pass over the name per pattern
 * piece (no backtracking), for tokens, robots and the access rules alike, so the work a request
 * causes is bounded by the pattern's and the name's lengths.
 *
 * The real `serve` process (a hang there cannot stop this test), its web UI and plain HTTP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { basic } from '../helpers/gate.js';
import { startConfiguredGateProcess, type ConfiguredGateProcess } from '../helpers/gate-process.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { UiClient } from '../helpers/ui-client.js';
import { makePersonalToken } from '../helpers/personal-tokens.js';

const PASSWORDS = { mallory: 'mallory-redos-pw-1' } as const;
/** Far more than a bounded match needs, far less than the backtracking took. */
const ANSWER_WITHIN_MS = 3000;

describe('a personal token whose pattern would backtrack', () => {
  let dir: string;
  let gate: ConfiguredGateProcess;
  let token: string;
  const agent = new Agent({ headersTimeout: ANSWER_WITHIN_MS, bodyTimeout: ANSWER_WITHIN_MS, connect: { timeout: ANSWER_WITHIN_MS } });

  const timedGet = async (path: string, authorization: string): Promise<{ status: number; ms: number }> => {
    const started = Date.now();
    const response = await request(`${gate.url}${path}`, { headers: { authorization }, dispatcher: agent });
    await response.body.dump();
    return { status: response.statusCode, ms: Date.now() - started };
  };

  before(async () => {
    dir = await makeTempDir('rg-pat-redos-');
    gate = await startConfiguredGateProcess({
      dir,
      users: PASSWORDS,
      config: {
        tls: 'off',
        dataDir: './data',
        workers: 1,
        auth: { htpasswd: './htpasswd' },
        access: [{ repository: '${user}/**', actions: ['pull', 'push'], subjects: ['authenticated'] }],
        log: { level: 'warn' },
        audit: { enabled: false },
      },
    });
    const ui = new UiClient(gate.url);
    assert.equal((await ui.logIn('mallory', PASSWORDS.mallory)).status, 303);
    token = await makePersonalToken(ui, {
      name: 'backtracking',
      repositories: [`mallory/${'a*'.repeat(12)}b`],
      actions: ['pull'],
    });
  });
  after(async () => {
    await agent.close();
    await gate.stop();
    await removeDir(dir);
  });

  test('a request for a name the pattern nearly matches is answered at once', async () => {
    const { status, ms } = await timedGet(`/v2/mallory/${'a'.repeat(80)}/tags/list`, basic('mallory', token));
    // The rule grants mallory/**; the token's pattern does not match (no final b): refused, quickly.
    assert.equal(status, 403);
    assert.ok(ms < ANSWER_WITHIN_MS, `answered in ${ms} ms`);
  });

  test('and the gateway answers everyone else meanwhile', async () => {
    const { status } = await timedGet('/v2/', basic('mallory', PASSWORDS.mallory));
    assert.equal(status, 200);
  });
});
