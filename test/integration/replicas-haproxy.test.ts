/**
 * Many replicas behave as one: Debian's HAProxy terminating TLS in front of three registry-gate
 * processes (`tls: off`, HAProxy in `trustedProxies`), one Distribution 2.8 on filesystem storage
 * behind them, one redis-server they share, files (htpasswd, token keys, robots) on one shared
 * directory. Everything on 127.0.0.1.
 *
 * What used to go wrong with replicas that keep state per process, and is checked here:
 * - a guesser spreading attempts round-robin got every login limit once per replica;
 * - two pushes of a new protected tag through two replicas could both be accepted, the tag ending on
 *   whichever landed last;
 * - a revoked robot, a deleted user or a rotated key took effect on one replica and not the others;
 * - behind a TLS load balancer, upload `Location`s and the token `realm` named the replica's own
 *   plain-HTTP address instead of the address the client used;
 * and a push whose requests land on different replicas, and a pull whose replica dies mid-stream,
 * must still work (the pull with one retry, not lost data).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { readFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { basic, writeHtpasswd } from '../helpers/gate.js';
import { CLI, startConfiguredGateProcess, type GateProcess } from '../helpers/gate-process.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startRedis, type RunningRedis } from '../helpers/redis.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { makeTlsPair, trustingAgent, type TlsPair } from '../helpers/tls.js';
import { makeOciImage, readOciLayoutDigests } from '../helpers/oci-image.js';
import { dockerRef, skopeoCopy } from '../helpers/skopeo.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, randomBlob, sha256 } from '../helpers/registry-client.js';
import { waitFor } from '../helpers/wait.js';

const SERVICE = 'registry-gate';
const PASSWORDS = { alice: 'alice-Replica-pw-1', bob: 'bob-Replica-pw-2', carol: 'carol-Replica-pw-3' };
const REDIS_PASSWORD = `redis-${randomBytes(12).toString('hex')}`;
const RULES = [
  { repository: 'release/**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'], protectedTags: ['v*'] },
  { repository: 'team/**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] },
];

interface Replica {
  name: string;
  url: string;
  config: string;
  process: GateProcess;
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  servedBy: string;
}

let dir: string;
let shared: string;
let tls: TlsPair;
let distribution: RunningDistribution;
let redis: RunningRedis;
let haproxy: RunningHaproxy;
let lbAgent: Agent;
const replicas: Replica[] = [];

async function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<Reply> {
  const response = await request(url, {
    method: (options.method ?? 'GET') as 'GET',
    headers: options.headers ?? {},
    ...(options.body !== undefined ? { body: options.body } : {}),
    ...(url.startsWith('https:') ? { dispatcher: lbAgent } : {}),
  });
  const body = Buffer.from(await response.body.arrayBuffer());
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers))
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  return { status: response.statusCode, headers, body, servedBy: headers['x-served-by'] ?? '' };
}

/** A token from the token endpoint at `base` (the load balancer or one replica), with Basic credentials. */
async function tokenFor(base: string, user: string, password: string, scope: string): Promise<string> {
  const reply = await send(`${base}/auth/token?${new URLSearchParams({ service: SERVICE, scope })}`, {
    headers: { authorization: basic(user, password) },
  });
  assert.equal(reply.status, 200, `${user} gets a token at ${base}: ${reply.status} ${reply.body.toString()}`);
  return (JSON.parse(reply.body.toString()) as { token: string }).token;
}

async function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runProcess(process.execPath, [CLI, ...args], { cwd: dir, timeoutMs: 30_000 });
}

/** Polls `holds(replica)` on every replica at once until it holds on each; fails naming the replica that missed `limitMs`. */
async function everywhereWithin(what: string, holds: (replica: Replica) => Promise<boolean>, limitMs = 4000): Promise<void> {
  await Promise.all(
    replicas.map((replica) => waitFor(`${what} at ${replica.name}`, () => holds(replica), { timeoutMs: limitMs, intervalMs: 50 })),
  );
}

async function startReplica(index: number): Promise<Replica> {
  const name = `g${index + 1}`;
  const gate = await startConfiguredGateProcess({
    dir,
    file: `${name}.yaml`,
    timeoutMs: 30_000,
    config: {
      tls: 'off',
      dataDir: join(dir, name),
      upstream: { url: distribution.url },
      trustedProxies: ['127.0.0.1/32'],
      auth: {
        htpasswd: join(shared, 'htpasswd'),
        scheme: 'bearer',
        token: { service: SERVICE, keyDir: join(shared, 'token') },
        // Only the per-account limit is under test; polling the replicas must not block the test's own address.
        throttle: { baseDelay: '30s', maxFailuresPerIp: 100_000 },
      },
      redis: { url: redis.url, keyPrefix: 'replicas-test:' },
      access: RULES,
      workers: 1,
      log: { level: 'info', access: false },
      audit: { enabled: false },
    },
  });
  return { name, url: gate.url, config: gate.configFile, process: gate };
}

before(async () => {
  dir = await makeTempDir('rg-replicas-');
  shared = join(dir, 'shared');
  await mkdir(shared);
  tls = await makeTlsPair(join(dir, 'tls'));
  lbAgent = trustingAgent(tls.caPem);
  await writeHtpasswd(join(shared, 'htpasswd'), PASSWORDS, 4);
  [distribution, redis] = await Promise.all([
    startDistribution({ dir: join(dir, 'distribution') }),
    startRedis({ password: REDIS_PASSWORD }),
  ]);
  // The first replica makes the signing key on the shared volume; the others find it.
  replicas.push(await startReplica(0));
  replicas.push(...(await Promise.all([startReplica(1), startReplica(2)])));
  haproxy = await startHaproxy({
    dir,
    tls,
    servers: replicas.map((replica) => ({ name: replica.name, address: replica.url.slice('http://'.length) })),
  });
});

after(async () => {
  await haproxy.stop();
  await Promise.all(replicas.map((replica) => replica.process.stop()));
  await Promise.all([distribution.stop(), redis.close()]);
  await lbAgent.close();
  if (dir) await removeDir(dir);
});

describe('three replicas behind HAProxy, sharing Redis and one Distribution', () => {
  test('readiness through the load balancer: ready, Redis up', async () => {
    const reply = await send(`${haproxy.url}/readyz`);
    assert.equal(reply.status, 200);
    const body = JSON.parse(reply.body.toString()) as { status: string; checks: { redis?: { state: string } } };
    assert.equal(body.status, 'ok');
    assert.equal(body.checks.redis?.state, 'up');
  });

  test('skopeo copies an image in and out through the load balancer, every digest intact', async () => {
    const image = await makeOciImage(join(dir, 'image'), { layers: [3000, 400_000, 1_500_000] });
    const access = { creds: { user: 'alice', password: PASSWORDS.alice }, certDir: tls.caDir };
    const pushed = await skopeoCopy({
      from: image.ref,
      to: dockerRef(haproxy.host, 'team/app', 'v1'),
      dest: access,
      preserveDigests: true,
    });
    assert.equal(pushed.code, 0, pushed.stderr);
    const out = join(dir, 'out');
    const pulled = await skopeoCopy({
      from: dockerRef(haproxy.host, 'team/app', 'v1'),
      to: `oci:${out}:v1`,
      src: access,
      preserveDigests: true,
    });
    assert.equal(pulled.code, 0, pulled.stderr);
    const digests = await readOciLayoutDigests(out, 'v1');
    assert.equal(digests.manifestDigest, image.manifestDigest);
    assert.deepEqual(digests.layerDigests, image.layerDigests);
  });

  test('an upload started on one replica goes on on the others; Location and realm name the load balancer as the client reached it', async () => {
    const challenge = await send(`${haproxy.url}/v2/`, { headers: { 'x-forwarded-proto': 'http', 'x-forwarded-for': '198.51.100.1' } });
    assert.equal(challenge.status, 401);
    assert.match(
      challenge.headers['www-authenticate'] ?? '',
      new RegExp(`^Bearer realm="https://${haproxy.host}/auth/token",service="${SERVICE}"`),
      'the realm is https on the load balancer, whatever the client claimed',
    );

    const authorization = `Bearer ${await tokenFor(haproxy.url, 'alice', PASSWORDS.alice, 'repository:team/chunked:pull,push')}`;
    const blob = randomBlob(300_000);
    const start = await send(`${haproxy.url}/v2/team/chunked/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization, 'content-length': '0' },
    });
    assert.equal(start.status, 202, start.body.toString());
    const servers = [start.servedBy];
    let location = start.headers.location ?? '';
    let offset = 0;
    for (const size of [100_000, 100_000, 100_000]) {
      assert.ok(
        location.startsWith(`https://${haproxy.host}/v2/team/chunked/blobs/uploads/`),
        `Location names the load balancer: ${location}`,
      );
      const chunk = blob.subarray(offset, offset + size);
      const patch = await send(location, {
        method: 'PATCH',
        headers: {
          authorization,
          'content-type': 'application/octet-stream',
          'content-range': `${offset}-${offset + size - 1}`,
          'content-length': String(size),
        },
        body: chunk,
      });
      assert.equal(patch.status, 202, `PATCH on ${patch.servedBy}: ${patch.body.toString()}`);
      servers.push(patch.servedBy);
      offset += size;
      location = patch.headers.location ?? '';
    }
    const url = new URL(location);
    url.searchParams.set('digest', sha256(blob));
    const done = await send(url.href, { method: 'PUT', headers: { authorization, 'content-length': '0' } });
    assert.equal(done.status, 201, done.body.toString());
    servers.push(done.servedBy);
    assert.ok(
      done.headers.location?.startsWith(`https://${haproxy.host}/v2/team/chunked/blobs/sha256:`),
      `blob Location: ${done.headers.location}`,
    );
    assert.ok(
      servers.some((server) => server !== start.servedBy),
      `the chunks and the end went to other replicas than the start: ${servers.join(' ')}`,
    );
    assert.equal(new Set(servers).size, 3, `all three replicas took part: ${servers.join(' ')}`);
    const pulled = await send(`${haproxy.url}/v2/team/chunked/blobs/${sha256(blob)}`, { headers: { authorization } });
    assert.equal(pulled.status, 200);
    assert.equal(sha256(pulled.body), sha256(blob));
  });

  test('a brute force spread round-robin over the replicas is throttled as if it hit one', async () => {
    const replies: Reply[] = [];
    for (let i = 0; i < 12; i += 1) {
      replies.push(
        await send(`${haproxy.url}/auth/token?${new URLSearchParams({ service: SERVICE, scope: 'repository:team/app:pull' })}`, {
          headers: { authorization: basic('bob', `guess-${i}`) },
        }),
      );
    }
    assert.equal(new Set(replies.map((reply) => reply.servedBy)).size, 3, 'the guesses reached all three replicas');
    assert.deepEqual(
      replies.map((reply) => reply.status),
      [...Array<number>(5).fill(401), ...Array<number>(7).fill(429)],
      'five guesses in all, not five per replica',
    );
    for (const reply of replies.slice(5)) {
      assert.equal((JSON.parse(reply.body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'TOOMANYREQUESTS');
      assert.ok(Number(reply.headers['retry-after']) >= 1);
    }
    // Another account from the same client is not held back.
    await tokenFor(haproxy.url, 'carol', PASSWORDS.carol, 'repository:team/app:pull');
  });

  test('a protected-tag race across replicas has one winner', async () => {
    const authorization = `Bearer ${await tokenFor(haproxy.url, 'alice', PASSWORDS.alice, 'repository:release/app:pull,push')}`;
    const pushBlob = async (data: Buffer): Promise<string> => {
      const start = await send(`${haproxy.url}/v2/release/app/blobs/uploads/`, {
        method: 'POST',
        headers: { authorization, 'content-length': '0' },
      });
      assert.equal(start.status, 202);
      const url = new URL(start.headers.location ?? '');
      url.searchParams.set('digest', sha256(data));
      const put = await send(url.href, {
        method: 'PUT',
        headers: { authorization, 'content-type': 'application/octet-stream' },
        body: data,
      });
      assert.equal(put.status, 201);
      return sha256(data);
    };
    const manifest = async (label: string): Promise<Buffer> => {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', label }));
      const layer = randomBlob(2048);
      return Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: OCI_CONFIG, digest: await pushBlob(config), size: config.length },
          layers: [{ mediaType: OCI_LAYER, digest: await pushBlob(layer), size: layer.length }],
        }),
      );
    };
    for (const round of [1, 2, 3]) {
      const tag = `v${round}.0`;
      const [a, b] = [await manifest(`a${round}`), await manifest(`b${round}`)];
      const put = (bytes: Buffer) =>
        send(`${haproxy.url}/v2/release/app/manifests/${tag}`, {
          method: 'PUT',
          headers: { authorization, 'content-type': OCI_MANIFEST },
          body: bytes,
        });
      const replies = await Promise.all(Array.from({ length: 3 }, () => [put(a), put(b)]).flat());
      const sides = { a: replies.filter((_, i) => i % 2 === 0), b: replies.filter((_, i) => i % 2 === 1) };
      const statuses = { a: sides.a.map((reply) => reply.status), b: sides.b.map((reply) => reply.status) };
      assert.ok(
        new Set(replies.map((reply) => reply.servedBy)).size >= 2,
        `the race reached several replicas: ${replies.map((reply) => reply.servedBy).join(' ')}`,
      );
      const winner = statuses.a.every((status) => status === 201) ? 'a' : 'b';
      const loser = winner === 'a' ? 'b' : 'a';
      assert.deepEqual(statuses[winner], [201, 201, 201], `one side wins: ${JSON.stringify(statuses)}`);
      assert.deepEqual(statuses[loser], [403, 403, 403], `the other is refused: ${JSON.stringify(statuses)}`);
      const head = await send(`${haproxy.url}/v2/release/app/manifests/${tag}`, {
        method: 'HEAD',
        headers: { authorization, accept: OCI_MANIFEST },
      });
      assert.equal(
        head.headers['docker-content-digest'],
        sha256(winner === 'a' ? a : b),
        'the tag names the manifest whose push was acknowledged',
      );
    }
  });

  test('a revoked robot is refused by every replica within 2 s, its refresh tokens too', async () => {
    const created = await cli(
      'token',
      'create',
      '--config',
      replicas[0]!.config,
      '--name',
      'ci',
      '--scope',
      'repository:team/*:pull,push',
      '--expires',
      '1d',
    );
    assert.equal(created.code, 0, created.stderr);
    const secret = created.stdout.trim();
    const robotLogin = (replica: Replica) => send(`${replica.url}/v2/`, { headers: { authorization: basic('robot$ci', secret) } });
    // Every replica learns of the new robot from the shared file, then holds its login in its credential cache.
    await everywhereWithin('the new robot logs in', async (replica) => (await robotLogin(replica)).status === 200);
    const refreshTokens = new Map<string, string>();
    for (const replica of replicas) {
      const reply = await send(`${replica.url}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          service: SERVICE,
          client_id: 'replicas-test',
          grant_type: 'password',
          username: 'robot$ci',
          password: secret,
          access_type: 'offline',
          scope: 'repository:team/app:pull',
        }).toString(),
      });
      assert.equal(reply.status, 200, reply.body.toString());
      refreshTokens.set(replica.name, (JSON.parse(reply.body.toString()) as { refresh_token: string }).refresh_token);
    }

    const revoked = await cli('token', 'revoke', 'ci', '--config', replicas[0]!.config);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stderr, /Published to every replica through Redis/);
    await everywhereWithin(
      'the revoked robot and its refresh token refused',
      async (replica) => {
        const login = await robotLogin(replica);
        const refreshed = await send(`${replica.url}/auth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            service: SERVICE,
            client_id: 'replicas-test',
            grant_type: 'refresh_token',
            refresh_token: refreshTokens.get(replica.name) ?? '',
            scope: 'repository:team/app:pull',
          }).toString(),
        });
        return (login.status === 401 || login.status === 429) && refreshed.status === 401;
      },
      2000,
    );
  });

  test('a user deleted from the shared htpasswd file is refused by every replica within 2 s', async () => {
    const login = (replica: Replica) => send(`${replica.url}/v2/`, { headers: { authorization: basic('carol', PASSWORDS.carol) } });
    for (const replica of replicas)
      assert.equal((await login(replica)).status, 200, `carol logs in at ${replica.name} (and is cached there)`);
    const deleted = await cli('htpasswd', 'delete', join(shared, 'htpasswd'), 'carol');
    assert.equal(deleted.code, 0, deleted.stderr);
    await everywhereWithin('carol refused', async (replica) => (await login(replica)).status === 401, 2000);
  });

  test('a rotated signing key is used and published by every replica within 2 s', async () => {
    const keyFile = join(shared, 'token', 'token-keys.json');
    const before = (JSON.parse(await readFile(keyFile, 'utf8')) as { current: { kid: string } }).current.kid;
    const rotated = await cli('token', 'rotate-key', '--config', replicas[0]!.config);
    assert.equal(rotated.code, 0, rotated.stderr);
    const after = (JSON.parse(await readFile(keyFile, 'utf8')) as { current: { kid: string } }).current.kid;
    assert.notEqual(after, before);
    await everywhereWithin(
      'the new key used and published',
      async (replica) => {
        const token = await tokenFor(replica.url, 'alice', PASSWORDS.alice, 'repository:team/app:pull');
        const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { kid?: string };
        const jwks = JSON.parse((await send(`${replica.url}/auth/jwks`)).body.toString()) as { keys: Array<{ kid?: string }> };
        return header.kid === after && jwks.keys.some((key) => key.kid === after);
      },
      2000,
    );
    // A token signed by one replica is good at the others: they share the keys.
    const token = await tokenFor(replicas[0]!.url, 'alice', PASSWORDS.alice, 'repository:team/app:pull');
    for (const replica of replicas)
      assert.equal((await send(`${replica.url}/v2/team/app/tags/list`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  });

  test('no replica writes the Redis password anywhere in its output', () => {
    for (const replica of replicas) {
      const output = replica.process.output();
      assert.ok(output.includes('connected to Redis'), `${replica.name} says it uses Redis`);
      assert.ok(!output.includes(REDIS_PASSWORD), `${replica.name}'s output holds the Redis password`);
    }
  });

  test('killing the replica that serves a pull, mid-stream, costs one retry and no data', async () => {
    const authorization = `Bearer ${await tokenFor(haproxy.url, 'alice', PASSWORDS.alice, 'repository:team/big:pull,push')}`;
    const blob = randomBlob(48 * 1024 * 1024);
    const digest = sha256(blob);
    const start = await send(`${haproxy.url}/v2/team/big/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization, 'content-length': '0' },
    });
    const url = new URL(start.headers.location ?? '');
    url.searchParams.set('digest', digest);
    assert.equal(
      (await send(url.href, { method: 'PUT', headers: { authorization, 'content-type': 'application/octet-stream' }, body: blob })).status,
      201,
    );

    const response = await request(`${haproxy.url}/v2/team/big/blobs/${digest}`, { dispatcher: lbAgent, headers: { authorization } });
    assert.equal(response.statusCode, 200);
    const victim = replicas.find((replica) => replica.name === response.headers['x-served-by']);
    assert.ok(victim, `served by a known replica: ${String(response.headers['x-served-by'])}`);
    const received: Buffer[] = [];
    let size = 0;
    let cut = false;
    try {
      for await (const chunk of response.body) {
        if (size === 0) victim.process.child.kill('SIGKILL');
        received.push(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
    } catch {
      cut = true;
    }
    assert.ok(cut && size < blob.length, `the pull was cut (${size} of ${blob.length} bytes)`);

    // The client resumes from what it has, as often as needed (at most three times here).
    let retries = 0;
    while (size < blob.length && retries < 3) {
      retries += 1;
      const rest = await send(`${haproxy.url}/v2/team/big/blobs/${digest}`, { headers: { authorization, range: `bytes=${size}-` } });
      assert.equal(rest.status, 206, `the retry resumes: ${rest.status}`);
      assert.notEqual(rest.servedBy, victim.name, 'another replica answers the retry');
      received.push(rest.body);
      size += rest.body.length;
    }
    assert.equal(retries, 1, 'one retry');
    assert.equal(size, blob.length);
    assert.equal(sha256(Buffer.concat(received)), digest, 'the bytes are the blob');
  });
});
