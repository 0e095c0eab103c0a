/**
 * A personal token's name cannot rewrite the administrator's terminal or reorder what it shows.
 *
 * The attack: any signed-in user names their tokens freely, and an administrator reads those names
 * in a terminal (`registry-gate token personal list`, the audit log through `tail`). The name check
 * refused C0 controls and DEL only, so a name could carry C1 controls (U+009B is CSI: `\u009b2J`
 * clears a UTF-8 terminal that honours C1, `\u009b1A` moves the cursor over the line above) or
 * Unicode bidirectional overrides (U+202E turns `…-ci-token` into text that reads as another
 * user's or another scope's, the "Trojan Source" trick), to hide a token from an audit or pass it off
 * as someone else's. Now a name with any control character or bidirectional formatting character is
 * refused when the token is made, in the web UI as in the store itself; other Unicode (accents,
 * emoji with their joiners) is still a name.
 *
 * The real gateway process, its web UI and the real `token personal list` command.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CLI, startConfiguredGateProcess, type ConfiguredGateProcess } from '../helpers/gate-process.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { UiClient } from '../helpers/ui-client.js';
import { makePersonalToken, postTokenForm } from '../helpers/personal-tokens.js';

const PASSWORDS = { mallory: 'mallory-name-pw-1' } as const;

const HOSTILE_NAMES: ReadonlyArray<readonly [what: string, name: string]> = [
  ['a C1 control sequence introducer (clear screen)', 'laptop\u009b2J'],
  ['a C1 cursor-up that overwrites the line above', 'ci\u009b1A\u009b2Kbob-deploy'],
  ['a right-to-left override', 'ci-\u202enekot-bob'],
  ['a right-to-left isolate', 'ci-\u2067bob\u2069'],
  ['a right-to-left mark', 'ci\u200f-bob'],
  ['an escape (C0), as before', 'ci\u001b[2J'],
];

/** C0 and C1 controls, DEL, and bidirectional formatting characters. */
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const TERMINAL_TRICKS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

describe('personal token names that would rewrite a terminal', () => {
  let dir: string;
  let gate: ConfiguredGateProcess;
  let ui: UiClient;

  before(async () => {
    dir = await makeTempDir('rg-pat-name-');
    gate = await startConfiguredGateProcess({
      dir,
      users: PASSWORDS,
      config: { tls: 'off', dataDir: './data', auth: { htpasswd: './htpasswd' }, log: { level: 'warn' }, audit: { enabled: false } },
    });
    ui = new UiClient(gate.url);
    assert.equal((await ui.logIn('mallory', PASSWORDS.mallory)).status, 303);
  });
  after(async () => {
    await gate.stop();
    await removeDir(dir);
  });

  for (const [what, name] of HOSTILE_NAMES)
    test(`a name with ${what} is refused with a 400 that says why`, async () => {
      const reply = await postTokenForm(ui, { name, repositories: ['mallory/**'], actions: ['pull'] });
      assert.equal(reply.status, 400, `${JSON.stringify(name)}: ${reply.status}`);
      assert.match(reply.body, /a name of 1 to 64 characters/);
      assert.doesNotMatch(reply.body, /id="token-secret"/, 'no secret shown');
    });

  test('a name with accents and an emoji with joiners is still a name', async () => {
    await makePersonalToken(ui, { name: 'Zoë’s laptop 👩‍💻', repositories: ['mallory/**'], actions: ['pull'] });
  });

  test('`token personal list` shows the one token made, and nothing that moves the cursor', async () => {
    const listed = await runProcess(process.execPath, [CLI, 'token', 'personal', 'list', '-c', gate.configFile], {
      cwd: dir,
      timeoutMs: 20_000,
    });
    assert.equal(listed.code, 0, listed.stderr);
    const rows = listed.stdout.split('\n').filter((line) => line.includes('\tmallory\t'));
    assert.equal(rows.length, 1, listed.stdout);
    assert.match(rows[0] as string, /\tZoë’s laptop 👩‍💻\t/);
    assert.doesNotMatch(listed.stdout.replace(/[\t\n]/g, ''), TERMINAL_TRICKS);
  });
});
