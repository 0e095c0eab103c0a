/**
 * The `federation` workload: what a request with a cached federated token costs next to a request
 * with a cached password. One registry-gate process (plain HTTP, `tls: off`, one worker) with an
 * htpasswd user (bcrypt cost 5) and a trust policy for a test issuer (test/helpers/oidc-issuer.ts:
 * TLS with its own CA, in this process); each round sends `GET /v2/` one request at a time over one
 * keep-alive connection, first with the password, then with a GitHub-shaped ID token as the
 * password, both answered from the credential cache after the first request. The report shows
 * requests per second of each and token ÷ password.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'undici';
import { runProcess } from '../test/helpers/process.js';
import { startIssuer } from '../test/helpers/oidc-issuer.js';
import { NamedSamples, sequentialGetRate } from './credential-rounds.js';
import { formatNumber, formatRatio, markdownTable, speedup } from './table.js';
import type { BenchOptions } from './options.js';
import type { Workspace } from './workspace.js';
import { startWorkloadGate } from './workload-gate.js';

const AUDIENCE = 'https://registry.bench';
type Login = 'password' | 'federated';

export class FederationResults extends NamedSamples<Login> {}

export interface FederationRun {
  readonly url: string;
  readonly dispatcher: Agent;
  readonly authorization: Record<Login, string>;
  readonly results: FederationResults;
  readonly options: BenchOptions;
  readonly log: (line: string) => void;
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** The issuer, the gate and the two logins; everything on the workspace's cleanup. */
export async function startFederationRun(ws: Workspace, options: BenchOptions, log: (line: string) => void): Promise<FederationRun> {
  log('federation: starting a test issuer (TLS) and a gate trusting it');
  const dir = join(ws.dir, 'federation');
  await mkdir(dir, { recursive: true });
  const issuer = await startIssuer(join(dir, 'issuer'));
  ws.defer(() => issuer.stop());
  const password = 'bench-federation-password';
  const made = await runProcess('htpasswd', ['-c', '-i', '-B', '-C', '5', join(dir, 'htpasswd'), 'bench'], {
    input: `${password}\n`,
    timeoutMs: 60_000,
  });
  if (made.code !== 0) throw new Error(`htpasswd failed: ${made.stderr}`);
  const policy = { name: 'bench', issuer: issuer.url, audience: AUDIENCE, ca: issuer.tls.caFile, user: 'gh:${claims.repository}' };
  const url = await startWorkloadGate(ws, dir, {
    auth: { htpasswd: 'htpasswd', federation: [policy] },
    access: [{ repository: '**', actions: ['pull'], subjects: ['authenticated'] }],
  });
  const dispatcher = new Agent({ connections: 1 });
  ws.defer(() => dispatcher.close());
  const token = await issuer.github('octo-org/app', AUDIENCE, {}, { expiresIn: 6 * 3600 });
  return {
    url,
    dispatcher,
    authorization: { password: basic('bench', password), federated: basic('ci', token) },
    results: new FederationResults(),
    options,
    log,
  };
}

/** One round: for each login a warm-up request (the one verification), then `count` cached requests, as requests per second. */
export async function federationRound(run: FederationRun, round: number): Promise<void> {
  const count = run.options.quick ? 300 : 3000;
  for (const login of ['password', 'federated'] as const) {
    try {
      const rate = await sequentialGetRate(run.url, run.dispatcher, run.authorization[login], count, login);
      run.results.add(login, rate);
      run.log(`federation round ${round + 1}: ${login} ${rate.toFixed(1)} req/s`);
    } catch (error) {
      run.results.failures.push(`${login}, round ${round + 1}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

export function federationSection(results: FederationResults): string {
  const password = results.median('password');
  const federated = results.median('federated');
  const perRequest = (rate: number | undefined) => (rate === undefined ? '—' : (1000 / rate).toFixed(2));
  const rows = [
    ['password (htpasswd, bcrypt cost 5), cached', formatNumber(password), perRequest(password), '1.00×'],
    [
      'federated token (an ID token as the password), cached',
      formatNumber(federated),
      perRequest(federated),
      formatRatio(speedup(federated, password)),
    ],
  ];
  const failures = results.failures.length > 0 ? `\n\nFailed: ${results.failures.join('; ')}` : '';
  return [
    '## Federated tokens',
    '',
    '`GET /v2/` with Basic credentials answered from the credential cache, one request at a time over one connection, plain HTTP to registry-gate; median of the rounds.',
    '',
    markdownTable(['login', 'req/s', 'ms per request', '× password'], rows, ['left', 'right', 'right', 'right']),
  ]
    .join('\n')
    .concat(failures);
}
