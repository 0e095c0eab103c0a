/**
 * The `pat` workload: what a request with a personal access token costs next to one with a cached
 * password. One registry-gate (htpasswd at bcrypt cost 10, one worker, plain HTTP: the figure is
 * the gateway's own work, not TLS) answers `GET /v2/` for the same htpasswd user
 *
 *   password   Basic user:password, answered from the verified-credential cache after the first
 *   token      Basic user:rgpat_…, a personal token: its hash looked up, the owner looked up again
 *              (remembered for auth.cacheTtl), groups read again, the token's scopes attached
 *
 * one request at a time over one keep-alive connection. The token is made as a user makes one,
 * signed in to the UI, through its form: so it carries its owner's credential stamp.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'undici';
import { writeHtpasswd } from '../test/helpers/gate.js';
import { UiClient } from '../test/helpers/ui-client.js';
import { makePersonalToken } from '../test/helpers/personal-tokens.js';
import { NamedSamples, sequentialGetRate } from './credential-rounds.js';
import { formatNumber, formatRatio, markdownTable, speedup } from './table.js';
import type { BenchOptions } from './options.js';
import type { Workspace } from './workspace.js';
import { startWorkloadGate } from './workload-gate.js';

const USER = 'bench';
const PASSWORD = 'bench-pat-password-1';

type Credential = 'password' | 'token';

export class TokenResults extends NamedSamples<Credential> {}

export interface TokenRun {
  url: string;
  dispatcher: Agent;
  authorization: Record<Credential, string>;
  results: TokenResults;
  options: BenchOptions;
  log: (line: string) => void;
}

export async function startTokenGate(ws: Workspace, log: (line: string) => void): Promise<Omit<TokenRun, 'results' | 'options' | 'log'>> {
  log('pat: starting a gate with an htpasswd user (bcrypt cost 10) and one personal token');
  const dir = join(ws.dir, 'pat');
  await mkdir(dir, { recursive: true });
  await writeHtpasswd(join(dir, 'htpasswd'), { [USER]: PASSWORD }, 10);
  const url = await startWorkloadGate(ws, dir, { access: [{ repository: '**', actions: ['pull'], subjects: ['authenticated'] }] });
  const dispatcher = new Agent({ connections: 1 });
  ws.defer(() => dispatcher.close());
  // Made as a user makes one (signed in, through the form), so it carries its owner's credential stamp.
  const ui = new UiClient(url);
  const signedIn = await ui.logIn(USER, PASSWORD);
  if (signedIn.status !== 303) throw new Error(`pat: the UI login answered ${signedIn.status}`);
  const secret = await makePersonalToken(ui, { name: 'bench', repositories: ['**'], actions: ['pull'] });
  const basic = (password: string) => `Basic ${Buffer.from(`${USER}:${password}`).toString('base64')}`;
  return { url, dispatcher, authorization: { password: basic(PASSWORD), token: basic(secret) } };
}

/** One round: a warm-up request each (the cache, the owner lookup), then `count` requests one after the other. */
export async function tokenRound(run: TokenRun, round: number): Promise<void> {
  const count = run.options.quick ? 1000 : 10_000;
  for (const credential of ['password', 'token'] as const) {
    try {
      const rate = await sequentialGetRate(run.url, run.dispatcher, run.authorization[credential], count, credential);
      run.results.add(credential, rate);
      run.log(`pat round ${round + 1}: ${credential} ${rate.toFixed(1)} req/s`);
    } catch (error) {
      run.results.failures.push(`${credential}, round ${round + 1}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

export function tokenSection(results: TokenResults): string {
  const password = results.median('password');
  const token = results.median('token');
  const rows = [
    ['cached password', formatNumber(password), password === undefined ? '—' : (1000 / password).toFixed(3), '1.00×'],
    [
      'personal access token',
      formatNumber(token),
      token === undefined ? '—' : (1000 / token).toFixed(3),
      formatRatio(speedup(token, password)),
    ],
  ];
  const failures = results.failures.length > 0 ? `\n\nFailed: ${results.failures.join('; ')}` : '';
  return [
    '## Personal access tokens',
    '',
    '`GET /v2/` with Basic credentials of one htpasswd user (bcrypt cost 10): its password (from the verified-credential cache) or a personal token of it (hash lookup, owner looked up again, scopes attached); one request at a time over one connection, plain HTTP, one worker; median of the rounds.',
    '',
    markdownTable(['credential', 'req/s', 'ms per request', '× cached password'], rows, ['left', 'right', 'right', 'right']),
  ]
    .join('\n')
    .concat(failures);
}
