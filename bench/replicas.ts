/**
 * Issue 16's measurements: registry-gate as several replicas behind a load balancer, sharing Redis.
 *
 *   lb-1   HAProxy (TLS) → g1                    \
 *   lb-3   HAProxy (TLS) → g1, g2, g3  (round-robin) → Distribution (plain HTTP), Redis
 *   login-redis, login-local   one gate with `redis` and one without, every request a password
 *                              check (cacheTtl 0, rememberSuccess 0)
 *   push-redis, push-local     one gate with `redis` and one without, credential cache on
 *
 * - requests per second through HAProxy with one and with three replicas: `GET /v2/` (wrk) and
 *   `HEAD` of a manifest (ab), Basic credentials held by the credential cache;
 * - what Redis costs a login (a password check the cache does not hold: the throttle's check and
 *   outcome) and a push to a protected tag (the shared lock): the round trips to Redis per request,
 *   counted with `redis-cli MONITOR` (the commands clients sent; those a Lua script runs inside
 *   Redis are not round trips), and the time per request, with and without Redis, taken in turns.
 *
 * Everything runs on this machine: with HAProxy, three gates, Distribution, Redis and the load
 * generator on the same cores, the 3 ÷ 1 ratio shows what the extra processes cost, not scaling.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { Agent, request } from 'undici';
import { freePort, runProcess, startProcess } from '../test/helpers/process.js';
import { startDistribution } from '../test/helpers/distribution.js';
import { startRedis, type RunningRedis } from '../test/helpers/redis.js';
import { startHaproxy } from '../test/helpers/haproxy.js';
import { makeTlsPair } from '../test/helpers/tls.js';
import { runAbHead } from './ab.js';
import { runWrk } from './wrk.js';
import { median } from './results.js';
import { childPid, stopWithTree } from './memory.js';
import { formatNumber, formatRatio, markdownTable, MISSING, speedup } from './table.js';
import { MANIFEST_ACCEPT, OCI_MANIFEST, sha256Digest } from './registry-api.js';
import type { BenchOptions } from './options.js';
import type { Workspace } from './workspace.js';

const GATE_CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const USER = 'bench';
const SMALL_REPO = 'bench/small';
const PROTECTED_REPO = 'release/bench';
/** Requests whose round trips to Redis are counted (apart from the timed ones). */
const COUNTED = 10;

interface Endpoint {
  label: string;
  url: string;
  dispatcher: Agent;
}

export interface ReplicaFleet {
  authorization: string;
  lb1: Endpoint;
  lb3: Endpoint;
  login: { redis: Endpoint; local: Endpoint };
  push: { redis: Endpoint; local: Endpoint };
  redis: RunningRedis;
}

/** Every value measured, by name, one per round; the report shows medians. */
export class ReplicaResults {
  readonly samples = new Map<string, number[]>();
  readonly failures: string[] = [];

  add(name: string, value: number): void {
    if (!Number.isFinite(value)) return;
    this.samples.set(name, [...(this.samples.get(name) ?? []), value]);
  }

  median(name: string): number | undefined {
    return median(this.samples.get(name) ?? []);
  }
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

async function startBenchGate(ws: Workspace, name: string, settings: Record<string, unknown>): Promise<string> {
  const dir = join(ws.dir, 'replicas', name);
  await mkdir(dir, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const configFile = join(dir, 'registry-gate.yaml');
    await writeFile(
      configFile,
      stringify({
        listen: `127.0.0.1:${port}`,
        tls: 'off',
        dataDir: dir,
        workers: 1,
        log: { level: 'warn', access: false },
        audit: { enabled: false },
        ...settings,
      }),
    );
    try {
      const proc = await startProcess(process.execPath, [GATE_CLI, 'serve', '--config', configFile], {
        cwd: dir,
        readyUrl: `http://127.0.0.1:${port}/readyz`,
        timeoutMs: 30_000,
      });
      const pid = childPid(proc);
      ws.defer(() => stopWithTree(pid, () => proc.stop()));
      return `http://127.0.0.1:${port}`;
    } catch (error) {
      if (attempt < 3 && /EADDRINUSE|in use/.test(String(error))) continue;
      throw error;
    }
  }
}

export async function startReplicaFleet(ws: Workspace, log: (line: string) => void): Promise<ReplicaFleet> {
  const base = join(ws.dir, 'replicas');
  await mkdir(base, { recursive: true });
  const password = randomBytes(12).toString('hex');
  const htpasswd = join(base, 'htpasswd');
  const made = await runProcess('htpasswd', ['-c', '-i', '-B', '-C', '5', htpasswd, USER], { input: `${password}\n`, timeoutMs: 60_000 });
  if (made.code !== 0) throw new Error(`htpasswd failed: ${made.stderr}`);
  await chmod(htpasswd, 0o600);
  const tls = await makeTlsPair(join(base, 'tls'));
  const distribution = await startDistribution({ dir: join(base, 'distribution'), logLevel: 'error' });
  ws.defer(() => distribution.stop());
  const redis = await startRedis();
  ws.defer(() => redis.close());
  const access = [
    { repository: 'release/*', actions: ['pull', 'push'], subjects: ['authenticated'], protectedTags: ['v*'] },
    { repository: 'bench/**', actions: ['pull', 'push'], subjects: ['authenticated'] },
  ];
  const shared = { upstream: { url: distribution.url }, trustedProxies: ['127.0.0.1/32'], access };
  const replicaUrls: string[] = [];
  for (const name of ['g1', 'g2', 'g3']) {
    replicaUrls.push(
      await startBenchGate(ws, name, { ...shared, auth: { htpasswd }, redis: { url: redis.url, keyPrefix: `bench-${name}:` } }),
    );
  }
  const everyCheck = { htpasswd, cacheTtl: 0, throttle: { rememberSuccess: 0 } };
  const loginRedis = await startBenchGate(ws, 'login-redis', {
    ...shared,
    auth: everyCheck,
    redis: { url: redis.url, keyPrefix: 'bench-login:' },
  });
  const loginLocal = await startBenchGate(ws, 'login-local', { ...shared, auth: everyCheck });
  const pushRedis = await startBenchGate(ws, 'push-redis', {
    ...shared,
    auth: { htpasswd },
    redis: { url: redis.url, keyPrefix: 'bench-push:' },
  });
  const pushLocal = await startBenchGate(ws, 'push-local', { ...shared, auth: { htpasswd } });

  const haproxy = async (name: string, urls: string[]): Promise<Endpoint> => {
    const dir = join(base, name);
    await mkdir(dir, { recursive: true });
    const lb = await startHaproxy({
      dir,
      tls,
      servers: urls.map((url, i) => ({ name: `g${i + 1}`, address: url.slice('http://'.length) })),
    });
    ws.defer(() => lb.stop());
    const dispatcher = new Agent({ connect: { ca: tls.caPem }, connections: 64 });
    ws.defer(() => dispatcher.close());
    return { label: name, url: lb.url, dispatcher };
  };
  const plain = (label: string, url: string): Endpoint => {
    const dispatcher = new Agent({ connections: 64 });
    ws.defer(() => dispatcher.close());
    return { label, url, dispatcher };
  };
  const fleet: ReplicaFleet = {
    authorization: basic(USER, password),
    lb1: await haproxy('lb-1', replicaUrls.slice(0, 1)),
    lb3: await haproxy('lb-3', replicaUrls),
    login: { redis: plain('login-redis', loginRedis), local: plain('login-local', loginLocal) },
    push: { redis: plain('push-redis', pushRedis), local: plain('push-local', pushLocal) },
    redis,
  };
  await pushSmallImage(fleet.lb3, fleet.authorization, SMALL_REPO, 'v1');
  log(`replicas: HAProxy with one replica at ${fleet.lb1.url}, with three at ${fleet.lb3.url}; Redis at 127.0.0.1:${redis.port}`);
  return fleet;
}

async function call(
  endpoint: Endpoint,
  authorization: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer | string } = {},
) {
  const response = await request(path.startsWith('http') ? path : `${endpoint.url}${path}`, {
    method: method as 'GET',
    headers: { authorization, ...options.headers },
    ...(options.body !== undefined ? { body: options.body } : {}),
    dispatcher: endpoint.dispatcher,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  await response.body.dump();
  return { status: response.statusCode, location: response.headers.location as string | undefined };
}

async function pushBlob(endpoint: Endpoint, authorization: string, repository: string, data: Buffer | string): Promise<string> {
  const digest = sha256Digest(data);
  const start = await call(endpoint, authorization, 'POST', `/v2/${repository}/blobs/uploads/`, { headers: { 'content-length': '0' } });
  if (start.status !== 202 || !start.location) throw new Error(`${endpoint.label}: upload start answered ${start.status}`);
  const url = new URL(start.location, endpoint.url);
  url.searchParams.set('digest', digest);
  const put = await call(endpoint, authorization, 'PUT', url.href, { headers: { 'content-type': 'application/octet-stream' }, body: data });
  if (put.status !== 201) throw new Error(`${endpoint.label}: blob PUT answered ${put.status}`);
  return digest;
}

/** A one-layer image's manifest whose blobs are pushed, ready to be pushed under any tag. */
async function prepareImage(endpoint: Endpoint, authorization: string, repository: string): Promise<{ manifest: string; blobs: string[] }> {
  const layer = randomBytes(256);
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Digest(layer)] } });
  const blobs = [await pushBlob(endpoint, authorization, repository, config), await pushBlob(endpoint, authorization, repository, layer)];
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: blobs[0], size: Buffer.byteLength(config) },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: blobs[1], size: layer.length }],
  });
  return { manifest, blobs };
}

async function pushSmallImage(endpoint: Endpoint, authorization: string, repository: string, tag: string): Promise<void> {
  const { manifest } = await prepareImage(endpoint, authorization, repository);
  const put = await call(endpoint, authorization, 'PUT', `/v2/${repository}/manifests/${tag}`, {
    headers: { 'content-type': OCI_MANIFEST },
    body: manifest,
  });
  if (put.status !== 201) throw new Error(`${endpoint.label}: manifest PUT answered ${put.status}`);
}

/**
 * The round trips clients make to Redis while `work` runs: `MONITOR` prints every command, those a
 * Lua script runs inside Redis marked `[DB lua]`; those are not round trips and are not counted.
 */
async function redisRoundTrips(redis: RunningRedis, work: () => Promise<void>): Promise<number> {
  const monitor = await startProcess('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), 'monitor'], {
    readyWhen: (line) => line.trim() === 'OK',
    timeoutMs: 10_000,
  });
  try {
    await work();
    await new Promise((resolve) => setTimeout(resolve, 200));
  } finally {
    await monitor.stop();
  }
  return monitor
    .output()
    .split('\n')
    .filter((line) => /^\d+\.\d+ \[\d+ (?!lua\])/.test(line)).length;
}

async function timed(work: () => Promise<void>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

export interface ReplicasRun {
  readonly fleet: ReplicaFleet;
  readonly results: ReplicaResults;
  readonly options: BenchOptions;
  /** bench/wrk.ts's Lua script, and where ab writes its percentiles. */
  readonly wrkScript: string;
  readonly workDir: string;
  readonly log: (line: string) => void;
}

export async function replicasRound(run: ReplicasRun, round: number): Promise<void> {
  const { fleet, results, options, log } = run;
  const o = options.load;
  const attempt = async (what: string, work: () => Promise<string>): Promise<void> => {
    try {
      log(`  ${what.padEnd(26)} ${await work()}`);
    } catch (error) {
      results.failures.push(`${what}, round ${round}: ${(error as Error).message.split('\n')[0]}`);
      log(`  ${what.padEnd(26)} FAILED: ${(error as Error).message.split('\n')[0]}`);
    }
  };

  for (const [lb, n] of [
    [fleet.lb1, 1],
    [fleet.lb3, 3],
  ] as const) {
    await attempt(`GET /v2/ via HAProxy, ${n} replica${n > 1 ? 's' : ''}`, async () => {
      const load = await runWrk({
        url: `${lb.url}/v2/`,
        method: 'GET',
        headers: { Authorization: fleet.authorization },
        seconds: o.seconds,
        threads: o.threads,
        connections: o.connections,
        timeoutSeconds: o.timeoutSeconds,
        script: run.wrkScript,
      });
      results.add(`get-rps-${n}`, load.requestsPerSecond);
      results.add(`get-p50-${n}`, load.p50Ms);
      results.add(`get-p99-${n}`, load.p99Ms);
      results.add(`get-errors-${n}`, load.errors);
      return `${formatNumber(load.requestsPerSecond)} req/s, p50 ${formatNumber(load.p50Ms)} ms, ${load.errors} errors`;
    });
    await attempt(`HEAD manifest via HAProxy, ${n}`, async () => {
      const load = await runAbHead({
        url: `${lb.url}/v2/${SMALL_REPO}/manifests/v1`,
        headers: { Authorization: fleet.authorization, Accept: MANIFEST_ACCEPT },
        seconds: o.seconds,
        concurrency: o.connections,
        timeoutSeconds: o.timeoutSeconds,
        workDir: run.workDir,
      });
      results.add(`head-rps-${n}`, load.requestsPerSecond);
      results.add(`head-p50-${n}`, load.p50Ms);
      results.add(`head-errors-${n}`, load.errors);
      return `${formatNumber(load.requestsPerSecond)} req/s, p50 ${formatNumber(load.p50Ms)} ms, ${load.errors} errors`;
    });
  }

  // With and without Redis in turns, so that whatever else the machine does falls on both alike.
  const logins = options.quick ? 100 : 400;
  await attempt('login, with and without Redis', async () => {
    const times = { redis: [] as number[], local: [] as number[] };
    const login = (endpoint: Endpoint) =>
      timed(async () => {
        const reply = await call(endpoint, fleet.authorization, 'GET', '/v2/');
        if (reply.status !== 200) throw new Error(`${endpoint.label}: login answered ${reply.status}`);
      });
    for (const endpoint of [fleet.login.redis, fleet.login.local]) await login(endpoint); // warm-up
    for (let i = 0; i < logins; i += 1) {
      times.redis.push(await login(fleet.login.redis));
      times.local.push(await login(fleet.login.local));
    }
    // Counted apart: MONITOR slows Redis down, and must not weigh on the times above.
    const trips =
      (await redisRoundTrips(fleet.redis, async () => {
        for (let i = 0; i < COUNTED; i += 1) await login(fleet.login.redis);
      })) / COUNTED;
    const [withRedis, without] = [typical(times.redis), typical(times.local)];
    results.add('login-ms-redis', withRedis);
    results.add('login-ms-local', without);
    results.add('login-trips', trips);
    return `${formatNumber(withRedis)} ms with Redis (${formatNumber(trips)} round trips), ${formatNumber(without)} ms without`;
  });

  const pushes = options.quick ? 20 : 60;
  await attempt('protected push, with and without Redis', async () => {
    const images = {
      redis: await prepareImage(fleet.push.redis, fleet.authorization, PROTECTED_REPO),
      local: await prepareImage(fleet.push.local, fleet.authorization, PROTECTED_REPO),
    };
    const times = { redis: [] as number[], local: [] as number[] };
    const manifestTimes = { redis: [] as number[], local: [] as number[] };
    // A push of an image whose blobs are there: a HEAD per blob, then the manifest under a new protected tag.
    const push = async (key: 'redis' | 'local', i: number) => {
      const endpoint = fleet.push[key];
      times[key].push(
        await timed(async () => {
          for (const blob of images[key].blobs) await call(endpoint, fleet.authorization, 'HEAD', `/v2/${PROTECTED_REPO}/blobs/${blob}`);
          manifestTimes[key].push(
            await timed(async () => {
              const put = await call(endpoint, fleet.authorization, 'PUT', `/v2/${PROTECTED_REPO}/manifests/v${round}.${i + 1}-${key}`, {
                headers: { 'content-type': OCI_MANIFEST },
                body: images[key].manifest,
              });
              if (put.status !== 201) throw new Error(`${endpoint.label}: manifest PUT answered ${put.status}`);
            }),
          );
        }),
      );
    };
    for (const key of ['redis', 'local'] as const) await push(key, -1); // warm-up
    for (let i = 0; i < pushes; i += 1) {
      await push('redis', i);
      await push('local', i);
    }
    for (const key of ['redis', 'local'] as const) [times[key], manifestTimes[key]].forEach((list) => list.shift());
    const [pushRedis, pushLocal, manifestRedis, manifestLocal] = [
      typical(times.redis),
      typical(times.local),
      typical(manifestTimes.redis),
      typical(manifestTimes.local),
    ];
    const trips =
      (await redisRoundTrips(fleet.redis, async () => {
        for (let i = 0; i < COUNTED; i += 1) await push('redis', pushes + i);
      })) / COUNTED;
    results.add('push-ms-redis', pushRedis);
    results.add('push-ms-local', pushLocal);
    results.add('manifest-ms-redis', manifestRedis);
    results.add('manifest-ms-local', manifestLocal);
    results.add('push-trips', trips);
    results.add('push-requests', images.redis.blobs.length + 1);
    return `${formatNumber(pushRedis)} ms with Redis (${formatNumber(trips)} round trips), ${formatNumber(pushLocal)} ms without; manifest PUT ${formatNumber(manifestRedis)} / ${formatNumber(manifestLocal)} ms`;
  });
}

/** The median: a request that met a pause of the busy machine must not weigh as much as the mean would let it. */
function typical(values: number[]): number {
  return median(values) ?? NaN;
}

export function replicasSection(results: ReplicaResults, options: BenchOptions): string {
  const r = (name: string) => results.median(name);
  const loadRows = (['get', 'head'] as const).flatMap((kind) =>
    [1, 3].map((n) => [
      kind === 'get' ? 'GET /v2/ (wrk)' : 'HEAD manifest (ab)',
      String(n),
      formatNumber(r(`${kind}-rps-${n}`)),
      formatNumber(r(`${kind}-p50-${n}`)),
      kind === 'get' ? formatNumber(r(`get-p99-${n}`)) : MISSING,
      r(`${kind}-rps-${n}`) === undefined ? MISSING : String(results.samples.get(`${kind}-errors-${n}`)?.reduce((a, b) => a + b, 0) ?? 0),
      n === 1 ? MISSING : formatRatio(speedup(r(`${kind}-rps-3`), r(`${kind}-rps-1`))),
    ]),
  );
  const difference = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a - b);
  const costRows = [
    [
      'login: a password check the cache does not hold (bcrypt cost 5)',
      formatNumber(r('login-ms-redis')),
      formatNumber(r('login-ms-local')),
      formatNumber(difference(r('login-ms-redis'), r('login-ms-local'))),
      formatNumber(r('login-trips')),
    ],
    [
      `push to a new protected tag: ${r('push-requests') ?? MISSING} requests (HEAD of each blob, manifest PUT), credentials cached`,
      formatNumber(r('push-ms-redis')),
      formatNumber(r('push-ms-local')),
      formatNumber(difference(r('push-ms-redis'), r('push-ms-local'))),
      formatNumber(r('push-trips')),
    ],
    [
      'of which the manifest PUT (the shared lock)',
      formatNumber(r('manifest-ms-redis')),
      formatNumber(r('manifest-ms-local')),
      formatNumber(difference(r('manifest-ms-redis'), r('manifest-ms-local'))),
      MISSING,
    ],
  ];
  const failures = results.failures.length > 0 ? `\n\nFailed: ${results.failures.join('; ')}` : '';
  return [
    '## Several replicas behind HAProxy, sharing Redis (issue 16)',
    '',
    `HAProxy terminates TLS and spreads requests round-robin over one or three registry-gate replicas (\`tls: off\`, \`redis\`), in front of one Distribution; Basic credentials held by each replica's credential cache; ${options.load.seconds} s runs with ${options.load.connections} connections. **HAProxy, the three replicas, Distribution, Redis and the load generator share this machine's cores: the 3 ÷ 1 ratio shows the overhead of more processes on the same cores, not how replicas scale on separate machines.**`,
    '',
    markdownTable(['request', 'replicas', 'req/s', 'p50 ms', 'p99 ms', 'errors', '× 1 replica'], loadRows, [
      'left',
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
    ]),
    '',
    'What Redis costs: a gate with `redis` against the same gate without, taking requests in turns, one at a time, plain HTTP to the gate; median times. Logins: every request a password check (`cacheTtl: 0`, `rememberSuccess: 0`). Pushes: the credential cache on, as by default; only the manifest PUT of a protected tag takes the shared lock. Round trips to Redis counted with `redis-cli MONITOR` (commands a Lua script runs inside Redis are not round trips). A login the credential cache holds costs no round trip at all.',
    '',
    markdownTable(['per', 'with Redis (ms)', 'without (ms)', 'difference (ms)', 'round trips to Redis'], costRows, [
      'left',
      'right',
      'right',
      'right',
      'right',
    ]),
  ]
    .join('\n')
    .concat(failures);
}
