/**
 * The `ldap` workload (off by default: it needs Debian's `slapd`): how many `GET /v2/` a second
 * registry-gate answers for a user of an OpenLDAP directory (StartTLS, verified against a test CA),
 *
 *   ldap-cached   the credential cache on (the default): the directory is asked once
 *   ldap-cold     `auth.cacheTtl: 0`: every request searches the directory and binds as the user
 *
 * one request at a time over one keep-alive connection, plain HTTP to the gate (`tls: off`), so the
 * figure is the LDAP round trips and the gateway's own work, not TLS. Both gates run with
 * `auth.providers: [htpasswd, ldap]` as in test/integration/ldap-gateway.test.ts, which checks
 * that both kinds of login work; this file only measures them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startSlapd, type RunningSlapd } from '../test/helpers/slapd.js';
import { NamedSamples } from './credential-rounds.js';
import { formatNumber, markdownTable, speedup, formatRatio } from './table.js';
import type { BenchOptions } from './options.js';
import type { Workspace } from './workspace.js';
import { startWorkloadGate } from './workload-gate.js';

type LdapGateName = 'ldap-cached' | 'ldap-cold';

interface LdapGate {
  name: LdapGateName;
  url: string;
  dispatcher: Agent;
}

export interface LdapFleet {
  authorization: string;
  gates: LdapGate[];
}

/** Requests per second of each gate, one value per round; the report shows medians. */
export class LdapResults extends NamedSamples<LdapGateName> {}

export interface LdapRun {
  fleet: LdapFleet;
  results: LdapResults;
  options: BenchOptions;
  log: (line: string) => void;
}

function ldapSettings(slapd: RunningSlapd): Record<string, unknown> {
  return {
    url: slapd.url,
    bindDN: slapd.serviceDN,
    bindPasswordFile: slapd.servicePasswordFile,
    userBase: slapd.peopleBase,
    tls: { ca: slapd.caFile },
    timeout: '2s',
  };
}

async function startLdapGate(ws: Workspace, name: LdapGateName, slapd: RunningSlapd): Promise<LdapGate> {
  const dir = join(ws.dir, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'htpasswd'), '', { mode: 0o600 });
  const url = await startWorkloadGate(ws, dir, {
    auth: {
      htpasswd: 'htpasswd',
      providers: ['htpasswd', 'ldap'],
      ldap: ldapSettings(slapd),
      ...(name === 'ldap-cold' ? { cacheTtl: 0 } : {}),
    },
    access: [{ repository: '**', actions: ['pull'], subjects: ['authenticated'] }],
  });
  const dispatcher = new Agent({ connections: 1 });
  ws.defer(() => dispatcher.close());
  return { name, url, dispatcher };
}

export async function startLdapFleet(ws: Workspace, log: (line: string) => void): Promise<LdapFleet> {
  log('ldap: starting slapd and two gates (credential cache on, and cacheTtl 0)');
  const slapd = await startSlapd();
  ws.defer(() => slapd.close());
  const { alice } = slapd.users;
  const authorization = `Basic ${Buffer.from(`alice:${alice.password}`).toString('base64')}`;
  const gates = [await startLdapGate(ws, 'ldap-cached', slapd), await startLdapGate(ws, 'ldap-cold', slapd)];
  return { authorization, gates };
}

async function getV2(gate: LdapGate, authorization: string): Promise<void> {
  const response = await request(`${gate.url}/v2/`, { dispatcher: gate.dispatcher, headers: { authorization } });
  await response.body.dump();
  if (response.statusCode !== 200) throw new Error(`${gate.name}: GET /v2/ answered ${response.statusCode}`);
}

/** One round: a warm-up request, then `count` requests one after the other, as requests per second. */
export async function ldapRound(run: LdapRun, round: number): Promise<void> {
  const counts: Record<LdapGateName, number> = run.options.quick
    ? { 'ldap-cached': 200, 'ldap-cold': 20 }
    : { 'ldap-cached': 2000, 'ldap-cold': 200 };
  for (const gate of run.fleet.gates) {
    try {
      await getV2(gate, run.fleet.authorization); // opens the connection, the directory pool, the cache
      const started = performance.now();
      for (let i = 0; i < counts[gate.name]; i++) await getV2(gate, run.fleet.authorization);
      const rate = counts[gate.name] / ((performance.now() - started) / 1000);
      run.results.add(gate.name, rate);
      run.log(`ldap round ${round + 1}: ${gate.name} ${rate.toFixed(1)} req/s`);
    } catch (error) {
      run.results.failures.push(`${gate.name}, round ${round + 1}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

export function ldapSection(results: LdapResults): string {
  const cached = results.median('ldap-cached');
  const cold = results.median('ldap-cold');
  const rows = [
    [
      'cached (credential cache on)',
      formatNumber(cached),
      cached === undefined ? '—' : (1000 / cached).toFixed(2),
      formatRatio(speedup(cached, cold)),
    ],
    ['cold (`cacheTtl: 0`: search and bind every time)', formatNumber(cold), cold === undefined ? '—' : (1000 / cold).toFixed(2), '1.00×'],
  ];
  const failures = results.failures.length > 0 ? `\n\nFailed: ${results.failures.join('; ')}` : '';
  return [
    '## LDAP logins',
    '',
    '`GET /v2/` with Basic credentials of a user in OpenLDAP (StartTLS), one request at a time over one connection, plain HTTP to registry-gate (`auth.providers: [htpasswd, ldap]`); median of the rounds.',
    '',
    markdownTable(['login', 'req/s', 'ms per request', '× cold'], rows, ['left', 'right', 'right', 'right']),
  ]
    .join('\n')
    .concat(failures);
}
