/**
 * Everything the benchmark measures, started on 127.0.0.1 with free ports and one shared
 * certificate (from a throw-away CA) and one user, hashed with bcrypt at each cost:
 *
 *   registry          Debian's Distribution, plain HTTP, no auth: the floor every proxy adds to
 *   nginx    (cost)   the recipe's nginx.conf in front of `registry`
 *   gate     (cost)   registry-gate in front of `registry`
 *   gate-builtin (cost)  registry-gate with its built-in registry (own storage per instance)
 *   gate-cached (cost)  registry-gate in front of `registry` with its content cache (`upstream.cache`),
 *                     pulls answered from the warm cache (transfers only: pulls)
 *   gate-bearer (cost 10)  registry-gate in bearer mode in front of `registry`: small requests carry
 *                     a token from its /auth/token instead of a password
 *   distribution-tls  a second Distribution with its own TLS and htpasswd auth (cost 5): what the
 *                     built-in registry is compared with, both doing TLS + Basic auth themselves
 *   node-file         the runtime's ceiling for the built-in registry: a minimal Node TLS server
 *                     that serves and stores blob files (bench/ceiling-server.ts)
 *   node-proxy        the runtime's ceiling for the gateway: a minimal Node TLS proxy (node:http)
 *                     in front of `registry`
 *
 * registry-gate starts with the node flags of bin/registry-gate's first line, as npm's bin link,
 * the systemd unit and the image start it. A target that fails to start is reported and left out;
 * the run goes on with the others. `--targets` picks what is measured; `registry` always starts,
 * as the upstream of the proxies.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { Agent } from 'undici';
import { freePort, runProcess, startProcess } from '../test/helpers/process.js';
import { startDistribution } from '../test/helpers/distribution.js';
import { makeTlsPair, type TlsPair } from '../test/helpers/tls.js';
import { startRecipeNginx } from './nginx.js';
import { childPid, stopWithTree } from './memory.js';
import { expectWrongPasswordRefused, ping, pushSmallImage } from './registry-api.js';
import type { BenchOptions, TargetKind } from './options.js';
import type { Workspace } from './workspace.js';
import { required } from './required.js';

export type { TargetKind } from './options.js';

/** Where a target's registry keeps blobs, so the benchmark can delete its own blobs between runs. */
export type StorageLayout =
  | { layout: 'distribution'; dataDir: string }
  | { layout: 'builtin'; root: string }
  /** node-file: `<root>/<hex>` */
  | { layout: 'flat'; root: string };

export interface Target {
  kind: TargetKind;
  /** bcrypt cost of its htpasswd file; undefined for the unauthenticated registry. */
  cost: number | undefined;
  label: string;
  /** `https://127.0.0.1:PORT` or `http://…` (registry only). */
  url: string;
  /** Sent to every target (the bare registry ignores it). */
  authorization: string;
  /** undici dispatcher trusting the bench CA. */
  dispatcher: Agent;
  /** The CA file for curl (undefined: plain HTTP). */
  caFile: string | undefined;
  /** Directory holding only the CA, for skopeo (undefined: plain HTTP). */
  caDir: string | undefined;
  pid: number;
  storage: StorageLayout;
}

export const BENCH_USER = 'bench';
export const BENCH_REPO_SMALL = 'bench/small';
export const BENCH_TAG = 'v1';

export interface Fleet {
  password: string;
  tls: TlsPair;
  registry: Target;
  distributionTls: Target | undefined;
  nginx: Map<number, Target>;
  gate: Map<number, Target>;
  gateBuiltin: Map<number, Target>;
  /** With the content cache in front of `registry` (pulls only). */
  gateCached: Map<number, Target>;
  /** Bearer mode, small requests only: Basic vs token per request, the same gate otherwise. */
  gateBearer: Map<number, Target>;
  /** The Node ceilings (transfers only). */
  nodeFile: Target | undefined;
  nodeProxy: Target | undefined;
  /** Targets that failed to start, with why. */
  failures: Array<{ label: string; error: string }>;
  /** Logs of the gate processes, for the report when something goes wrong. */
  outputs: Map<string, () => string>;
}

/** What users run: the launcher whose first line carries the node flags (dist/bench/ → the repo's bin/). */
export const GATE_BIN = fileURLToPath(new URL('../../bin/registry-gate', import.meta.url));
const CEILING_SERVER = fileURLToPath(new URL('./ceiling-server.js', import.meta.url));

/** The node flags in bin/registry-gate's `#!/usr/bin/env -S node …` line. */
async function gateNodeFlags(): Promise<string[]> {
  const first = (await readFile(GATE_BIN, 'utf8')).split('\n', 1)[0] ?? '';
  const words = first.replace(/^#!\s*/, '').split(/\s+/);
  return words.slice(words.indexOf('node') + 1);
}

/** `--cpu-prof` into `<dir>/<label>/` when profiling (cluster workers inherit it and write their own). */
function profileFlags(profileDir: string | undefined, label: string): string[] {
  if (!profileDir) return [];
  return ['--cpu-prof', '--cpu-prof-dir', join(profileDir, label.replace(/[^a-z0-9]+/gi, '-').replace(/-$/, ''))];
}

/** A profiled process writes its profile when it exits: give it time. */
function killAfterMs(profileDir: string | undefined): number {
  return profileDir ? 60_000 : 3_000;
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

function label(kind: TargetKind, cost: number | undefined): string {
  return cost === undefined ? kind : `${kind} (cost ${cost})`;
}

async function writeHtpasswd(file: string, password: string, cost: number): Promise<void> {
  // -i: the password on stdin, not on the command line.
  const result = await runProcess('htpasswd', ['-c', '-i', '-B', '-C', String(cost), file, BENCH_USER], {
    input: `${password}\n`,
    timeoutMs: 60_000,
  });
  if (result.code !== 0) throw new Error(`htpasswd -C ${cost} failed: ${result.stderr}`);
  await chmod(file, 0o600); // htpasswd -c makes it 0644; registry-gate rightly warns about that
}

async function startGate(options: {
  dir: string;
  tls: TlsPair;
  htpasswdFile: string;
  upstreamUrl: string | undefined;
  /** `upstream.cache: true`, the cache in `<dir>/cache`. */
  cache?: boolean;
  /** Bearer mode: every /v2/ request carries a token from /auth/token. */
  bearer?: boolean;
  dispatcher: Agent;
  ws: Workspace;
  label: string;
  profileDir: string | undefined;
}): Promise<{ pid: number; url: string; output: () => string; storageRoot: string }> {
  await mkdir(options.dir, { recursive: true });
  const configFile = join(options.dir, 'registry-gate.yaml');
  const storageRoot = join(options.dir, 'storage');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config: Record<string, unknown> = {
      listen: `127.0.0.1:${port}`,
      tls: { cert: options.tls.certFile, key: options.tls.keyFile },
      dataDir: options.dir,
      ...(options.upstreamUrl
        ? { upstream: { url: options.upstreamUrl, cache: options.cache === true }, cache: { dir: join(options.dir, 'cache') } }
        : { storage: { root: storageRoot } }),
      auth: options.bearer
        ? { htpasswd: options.htpasswdFile, scheme: 'bearer', token: { expiresIn: '24h' } }
        : { htpasswd: options.htpasswdFile },
      log: { level: 'warn', access: false },
      // BENCH_GATE_WORKERS=N measures another worker count than the default (auto: one per core).
      ...(process.env.BENCH_GATE_WORKERS ? { workers: Number(process.env.BENCH_GATE_WORKERS) } : {}),
    };
    await writeFile(configFile, stringify(config));
    try {
      const flags = [...(await gateNodeFlags()), ...profileFlags(options.profileDir, options.label)];
      const proc = await startProcess(process.execPath, [...flags, GATE_BIN, 'serve', '--config', configFile], {
        cwd: options.dir,
        readyUrl: `https://127.0.0.1:${port}/v2/`,
        readyDispatcher: options.dispatcher,
        timeoutMs: 30_000,
        killAfterMs: killAfterMs(options.profileDir),
      });
      const pid = childPid(proc);
      options.ws.defer(() => stopWithTree(pid, () => proc.stop()));
      return { pid, url: `https://127.0.0.1:${port}`, output: () => proc.output(), storageRoot };
    } catch (err) {
      if (attempt < 3 && /EADDRINUSE|in use/.test(String(err))) continue;
      throw err;
    }
  }
}

/** A Node ceiling (bench/ceiling-server.ts): `file` stores and serves blob files, `proxy` forwards to `upstreamUrl`. */
async function startCeiling(options: {
  mode: 'file' | 'proxy';
  dir: string;
  tls: TlsPair;
  authFile: string;
  upstreamUrl: string;
  dispatcher: Agent;
  ws: Workspace;
  label: string;
  profileDir: string | undefined;
}): Promise<{ pid: number; url: string; root: string }> {
  const root = join(options.dir, 'blobs');
  await mkdir(root, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = [
      ...profileFlags(options.profileDir, options.label),
      CEILING_SERVER,
      options.mode,
      `127.0.0.1:${port}`,
      options.tls.certFile,
      options.tls.keyFile,
      options.authFile,
      options.mode === 'file' ? root : options.upstreamUrl,
    ];
    try {
      const proc = await startProcess(process.execPath, args, {
        readyUrl: `https://127.0.0.1:${port}/v2/`,
        readyDispatcher: options.dispatcher,
        timeoutMs: 30_000,
        killAfterMs: killAfterMs(options.profileDir),
      });
      const pid = childPid(proc);
      options.ws.defer(() => stopWithTree(pid, () => proc.stop()));
      return { pid, url: `https://127.0.0.1:${port}`, root };
    } catch (err) {
      if (attempt < 3 && /EADDRINUSE|in use/.test(String(err))) continue;
      throw err;
    }
  }
}

export async function startFleet(ws: Workspace, options: BenchOptions, log: (line: string) => void): Promise<Fleet> {
  const { transferCost, targets: wanted, profileDir } = options;
  // Other bcrypt costs matter to the small requests only.
  const costs = options.only.has('get') || options.only.has('head') ? options.costs : [transferCost];
  const password = randomBytes(12).toString('hex');
  const authorization = basic(BENCH_USER, password);
  const tls = await makeTlsPair(join(ws.dir, 'tls'));
  const dispatcher = new Agent({ connect: { ca: tls.caPem }, connections: 64 });
  ws.defer(() => dispatcher.close());
  const htpasswd = new Map<number, string>();
  for (const cost of new Set([...costs, transferCost])) {
    const file = join(ws.dir, `htpasswd-cost-${cost}`);
    await writeHtpasswd(file, password, cost);
    htpasswd.set(cost, file);
  }

  const base = { authorization, dispatcher, caFile: tls.caFile, caDir: tls.caDir };
  const registry = await startDistribution({ dir: join(ws.dir, 'registry'), logLevel: 'error' });
  ws.defer(() => registry.stop());
  const fleet: Fleet = {
    password,
    tls,
    registry: {
      ...base,
      kind: 'registry',
      cost: undefined,
      label: 'registry',
      url: registry.url,
      caFile: undefined,
      caDir: undefined,
      pid: (await pidOf(registry.configFile)) ?? 0,
      storage: { layout: 'distribution', dataDir: registry.dataDir },
    },
    distributionTls: undefined,
    nginx: new Map(),
    gate: new Map(),
    gateBuiltin: new Map(),
    gateCached: new Map(),
    gateBearer: new Map(),
    nodeFile: undefined,
    nodeProxy: undefined,
    failures: [],
    outputs: new Map(),
  };
  log(`registry (Distribution, plain HTTP) at ${registry.url}`);

  const starts: Array<Promise<void>> = [];
  const attempt = (what: string, start: () => Promise<void>): void => {
    starts.push(
      start().catch((err: unknown) => {
        fleet.failures.push({ label: what, error: (err as Error).message });
        log(`${what} did not start: ${(err as Error).message.split('\n')[0]}`);
      }),
    );
  };

  if (wanted.has('distribution-tls'))
    attempt('distribution-tls', async () => {
      const dist = await startDistribution({
        dir: join(ws.dir, 'distribution-tls'),
        logLevel: 'error',
        tls: { certFile: tls.certFile, keyFile: tls.keyFile, caPem: tls.caPem },
        auth: { htpasswd: { realm: 'Registry realm', path: required(htpasswd.get(transferCost), 'the htpasswd file') } },
      });
      ws.defer(() => dist.stop());
      fleet.distributionTls = {
        ...base,
        kind: 'distribution-tls',
        cost: transferCost,
        label: 'distribution-tls',
        url: dist.url,
        pid: (await pidOf(dist.configFile)) ?? 0,
        storage: { layout: 'distribution', dataDir: dist.dataDir },
      };
    });

  for (const cost of costs) {
    const htpasswdFile = required(htpasswd.get(cost), 'the htpasswd file');
    if (wanted.has('nginx'))
      attempt(label('nginx', cost), async () => {
        const nginx = await startRecipeNginx({ dir: join(ws.dir, `nginx-cost-${cost}`), upstreamPort: registry.port, tls, htpasswdFile });
        ws.defer(() => nginx.stop());
        fleet.nginx.set(cost, {
          ...base,
          kind: 'nginx',
          cost,
          label: label('nginx', cost),
          url: nginx.url,
          pid: nginx.pid,
          storage: fleet.registry.storage,
        });
      });
    for (const kind of ['gate', 'gate-builtin', 'gate-cached'] as const) {
      if (!wanted.has(kind)) continue;
      attempt(label(kind, cost), async () => {
        const gate = await startGate({
          dir: join(ws.dir, `${kind}-cost-${cost}`),
          tls,
          htpasswdFile,
          upstreamUrl: kind === 'gate-builtin' ? undefined : registry.url,
          cache: kind === 'gate-cached',
          dispatcher,
          ws,
          label: label(kind, cost),
          profileDir,
        });
        fleet.outputs.set(label(kind, cost), gate.output);
        // The cache keeps a blob at cache/blobs/sha256/<hex>: the warm pull's file is there.
        const storage: StorageLayout =
          kind === 'gate'
            ? fleet.registry.storage
            : kind === 'gate-cached'
              ? { layout: 'flat', root: join(ws.dir, `${kind}-cost-${cost}`, 'cache', 'blobs', 'sha256') }
              : { layout: 'builtin', root: gate.storageRoot };
        ({ gate: fleet.gate, 'gate-builtin': fleet.gateBuiltin, 'gate-cached': fleet.gateCached })[kind].set(cost, {
          ...base,
          kind,
          cost,
          label: label(kind, cost),
          url: gate.url,
          pid: gate.pid,
          storage,
        });
      });
    }
  }
  if (costs.includes(BEARER_COST) && wanted.has('gate-bearer')) {
    attempt(label('gate-bearer', BEARER_COST), async () => {
      const gate = await startGate({
        dir: join(ws.dir, `gate-bearer-cost-${BEARER_COST}`),
        tls,
        htpasswdFile: required(htpasswd.get(BEARER_COST), 'the htpasswd file'),
        upstreamUrl: registry.url,
        bearer: true,
        dispatcher,
        ws,
        label: label('gate-bearer', BEARER_COST),
        profileDir,
      });
      fleet.outputs.set(label('gate-bearer', BEARER_COST), gate.output);
      const token = await fetchToken(gate.url, dispatcher, authorization);
      fleet.gateBearer.set(BEARER_COST, {
        ...base,
        authorization: `Bearer ${token}`,
        kind: 'gate-bearer',
        cost: BEARER_COST,
        label: label('gate-bearer', BEARER_COST),
        url: gate.url,
        pid: gate.pid,
        storage: fleet.registry.storage,
      });
    });
  }
  const authFile = join(ws.dir, 'ceiling-authorization');
  await writeFile(authFile, `${authorization}\n`, { mode: 0o600 });
  for (const kind of ['node-file', 'node-proxy'] as const) {
    if (!wanted.has(kind)) continue;
    attempt(kind, async () => {
      const ceiling = await startCeiling({
        mode: kind === 'node-file' ? 'file' : 'proxy',
        dir: join(ws.dir, kind),
        tls,
        authFile,
        upstreamUrl: registry.url,
        dispatcher,
        ws,
        label: kind,
        profileDir,
      });
      const target: Target = {
        ...base,
        kind,
        cost: undefined,
        label: kind,
        url: ceiling.url,
        pid: ceiling.pid,
        storage: kind === 'node-file' ? { layout: 'flat', root: ceiling.root } : fleet.registry.storage,
      };
      if (kind === 'node-file') fleet.nodeFile = target;
      else fleet.nodeProxy = target;
    });
  }
  await Promise.all(starts);
  await checkFleet(fleet, log);
  return fleet;
}

const BEARER_COST = 10;

/** A token for the small-request workloads, asked for with the benchmark user's Basic credentials. */
async function fetchToken(url: string, dispatcher: Agent, authorization: string): Promise<string> {
  const { request } = await import('undici');
  const scope = `repository:${BENCH_REPO_SMALL}:pull`;
  const response = await request(`${url}/auth/token?service=registry-gate&scope=${encodeURIComponent(scope)}`, {
    dispatcher,
    headers: { authorization },
  });
  const body = (await response.body.json()) as { token?: string };
  if (response.statusCode !== 200 || !body.token) throw new Error(`the token endpoint answered ${response.statusCode}`);
  return body.token;
}

/** The PID of the docker-registry serving `configFile` (the helper does not expose it). */
async function pidOf(configFile: string): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if (cmdline.includes(configFile)) return Number(entry);
    } catch {
      // gone
    }
  }
  return undefined;
}

/** Every target accepts the benchmark user, refuses a wrong password, and serves the small image. */
async function checkFleet(fleet: Fleet, log: (line: string) => void): Promise<void> {
  const wrong = basic(BENCH_USER, `${fleet.password}-wrong`);
  await ping(fleet.registry);
  await pushSmallImage(fleet.registry, BENCH_REPO_SMALL, BENCH_TAG);
  const authenticated = [
    fleet.distributionTls,
    ...fleet.nginx.values(),
    ...fleet.gate.values(),
    ...fleet.gateBuiltin.values(),
    ...fleet.gateCached.values(),
    ...fleet.gateBearer.values(),
    fleet.nodeFile,
    fleet.nodeProxy,
  ];
  for (const target of authenticated) {
    if (!target) continue;
    try {
      await ping(target);
      await expectWrongPasswordRefused(target, wrong);
      if (target.kind === 'gate-builtin') await pushSmallImage(target, BENCH_REPO_SMALL, BENCH_TAG);
      log(`${target.label} at ${target.url}: ${target.kind.startsWith('node-') ? 'login' : 'bcrypt login'} ok, wrong password refused`);
    } catch (err) {
      const output = fleet.outputs.get(target.label)?.().trim();
      const tail = output ? `\n--- its output (last lines) ---\n${output.split('\n').slice(-5).join('\n')}` : '';
      fleet.failures.push({ label: target.label, error: `failed its start-up check: ${(err as Error).message}${tail}` });
      log(`${target.label} failed its start-up check, left out: ${(err as Error).message}${tail}`);
      removeTarget(fleet, target);
    }
  }
}

function removeTarget(fleet: Fleet, target: Target): void {
  if (target.kind === 'distribution-tls') fleet.distributionTls = undefined;
  if (target.kind === 'node-file') fleet.nodeFile = undefined;
  if (target.kind === 'node-proxy') fleet.nodeProxy = undefined;
  for (const map of [fleet.nginx, fleet.gate, fleet.gateBuiltin, fleet.gateCached, fleet.gateBearer]) {
    for (const [cost, t] of map) if (t === target) map.delete(cost);
  }
}
