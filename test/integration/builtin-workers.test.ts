/**
 * The built-in registry under `workers: 2`, as `serve` runs it: the primary hands each new
 * connection to the next worker, so the requests of one upload, each on its own connection, land
 * on different processes. An upload session lives on disk (data, acknowledged offset) and each
 * worker's running hash catches up from the file, so chunked uploads, resumption and digest checks
 * work wherever a chunk lands; requests on one session are ordered by the lock the primary serves,
 * so two chunks racing for one offset from two workers cannot both be written. skopeo pushes and
 * pulls a multi-layer image through both workers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Agent } from 'undici';
import { basic } from '../helpers/gate.js';
import { startConfiguredGateProcess, type GateProcess } from '../helpers/gate-process.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient, randomBlob, sha256, type Reply } from '../helpers/registry-client.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeOciImage, readOciLayoutDigests } from '../helpers/oci-image.js';
import { dockerRef, skopeoCopy } from '../helpers/skopeo.js';
import { pollUntil } from '../helpers/wait.js';

const USER = { user: 'alice', password: 'alice-secret-1' };

describe('the built-in registry with two worker processes', () => {
  let dir: string;
  let tls: TlsPair;
  let gate: GateProcess;
  let client: RegistryClient;
  const agents: Agent[] = [];

  before(async () => {
    dir = await makeTempDir('rg-builtin-workers-');
    tls = await makeTlsPair(join(dir, 'tls'));
    gate = await startConfiguredGateProcess({
      dir,
      users: { [USER.user]: USER.password },
      config: {
        tls: { cert: tls.certFile, key: tls.keyFile },
        dataDir: 'data',
        auth: { htpasswd: 'htpasswd' },
        workers: 2,
        log: { level: 'info', format: 'json', access: true },
        audit: { enabled: false },
      },
    });
    // A new connection for every request: the primary gives each to the next worker in turn.
    client = new RegistryClient(() => {
      const dispatcher = new Agent({ connect: { ca: tls.caPem }, pipelining: 0 });
      agents.push(dispatcher);
      return { baseUrl: gate.url, dispatcher, authHeader: basic(USER.user, USER.password) };
    });
  });

  after(async () => {
    await Promise.all(agents.map((agent) => agent.close()));
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  /** The worker PIDs that served requests whose path contains `part`, from the access log. */
  function servedBy(part: string, method?: string): Set<number> {
    const pids = new Set<number>();
    for (const line of gate.streamOutput('stdout').split('\n')) {
      if (!line.startsWith('{')) continue;
      const record = JSON.parse(line) as { log?: string; path?: string; method?: string; pid?: number };
      if (record.log === 'access' && record.path?.includes(part) && (!method || record.method === method) && record.pid)
        pids.add(record.pid);
    }
    return pids;
  }

  /** Waits (at most 5 s) until `count` access lines name `part`; the assertion on them follows. */
  async function waitForAccessLines(part: string, count: number): Promise<void> {
    const accessLines = () =>
      gate
        .streamOutput('stdout')
        .split('\n')
        .filter((line) => line.includes('"log":"access"') && line.includes(part)).length;
    await pollUntil(
      () => Promise.resolve(accessLines()),
      (seen) => seen >= count,
      { timeoutMs: 5000, intervalMs: 50 },
    );
  }

  function patch(location: string, data: Buffer, range?: [number, number]): Promise<Reply> {
    return client.call('PATCH', location, {
      headers: { 'content-type': 'application/octet-stream', ...(range ? { 'content-range': `${range[0]}-${range[1]}` } : {}) },
      body: data,
    });
  }

  test('a chunked upload whose chunks reach different workers stores the right blob', async () => {
    const data = randomBlob(3 * 1024 * 1024 + 12_345);
    const cuts = [0, 700_000, 1_500_000, 2_600_000, data.length];
    let location = await client.startUpload('apps/chunked');
    const id = location.split('/').pop()!.split('?')[0]!;
    for (let i = 0; i + 2 < cuts.length; i++) {
      const [start, end] = [cuts[i]!, cuts[i + 1]!];
      // Every other chunk streamed without Content-Range: appended at the offset on disk.
      const reply = await patch(location, data.subarray(start, end), i % 2 === 0 ? [start, end - 1] : undefined);
      assert.equal(reply.status, 202, reply.text());
      assert.equal(reply.headers.range, `0-${end - 1}`);
      location = RegistryClient.pathOf(reply.headers.location);
    }
    const status = await client.call('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.range, `0-${cuts.at(-2)! - 1}`);
    const stale = await patch(location, Buffer.from('late'), [cuts[1]!, cuts[1]! + 3]);
    assert.equal(stale.status, 416, 'a chunk at an old offset is refused wherever it lands');
    assert.equal(stale.headers.range, `0-${cuts.at(-2)! - 1}`);

    const last = await client.call('PUT', RegistryClient.withQuery(location, { digest: sha256(data) }), {
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${cuts.at(-2)}-${data.length - 1}` },
      body: data.subarray(cuts.at(-2)),
    });
    assert.equal(last.status, 201, last.text());
    const pulled = await client.call('GET', `/v2/apps/chunked/blobs/${sha256(data)}`);
    assert.equal(pulled.status, 200);
    assert.ok(pulled.body.equals(data), 'the blob pulled back is the blob pushed');

    await waitForAccessLines(id, 7);
    const workers = servedBy(id);
    assert.ok(workers.size >= 2, `the upload's requests reached ${workers.size} worker(s); the test needs two`);
  });

  test('a wrong digest is refused when the last chunk reaches another worker', async () => {
    const data = randomBlob(900_000);
    const location = RegistryClient.pathOf(
      (await patch(await client.startUpload('apps/wrong'), data.subarray(0, 400_000))).headers.location,
    );
    const reply = await client.call('PUT', RegistryClient.withQuery(location, { digest: sha256('something else') }), {
      headers: { 'content-type': 'application/octet-stream' },
      body: data.subarray(400_000),
    });
    assert.equal(reply.status, 400);
    assert.equal(reply.json<{ errors: Array<{ code: string }> }>().errors[0]?.code, 'DIGEST_INVALID');
    assert.equal((await client.call('HEAD', `/v2/apps/wrong/blobs/${sha256(data)}`)).status, 404);
  });

  test('two chunks racing for one offset from two workers: one is written, the other gets 416', async () => {
    for (let round = 0; round < 3; round++) {
      const location = await client.startUpload('apps/race');
      const id = location.split('/').pop()!.split('?')[0]!;
      const a = randomBlob(4 * 1024 * 1024);
      const b = randomBlob(4 * 1024 * 1024);
      const replies = await Promise.all([patch(location, a, [0, a.length - 1]), patch(location, b, [0, b.length - 1])]);
      assert.deepEqual(replies.map((reply) => reply.status).sort(), [202, 416], replies.map((reply) => reply.text()).join(' | '));
      const winner = replies[0].status === 202 ? a : b;
      const done = await client.call(
        'PUT',
        RegistryClient.withQuery(RegistryClient.pathOf(replies.find((reply) => reply.status === 202)!.headers.location), {
          digest: sha256(winner),
        }),
      );
      assert.equal(done.status, 201, done.text());
      const pulled = await client.call('GET', `/v2/apps/race/blobs/${sha256(winner)}`);
      assert.ok(pulled.body.equals(winner), 'the stored blob is the winning chunk, whole');
      await waitForAccessLines(id, 4);
      assert.equal(servedBy(id, 'PATCH').size, 2, 'the racing chunks reached both workers');
    }
  });

  test('skopeo pushes and pulls a multi-layer image through both workers', async () => {
    const image = await makeOciImage(join(dir, 'image'), { layers: [3000, 1_500_000, 2_000_000, 700_000, 40] });
    const access = { creds: USER, certDir: tls.caDir };
    const host = gate.url.replace(/^https:\/\//, '');
    const pushed = await skopeoCopy({ from: image.ref, to: dockerRef(host, 'apps/image', 'v1'), dest: access, preserveDigests: true });
    assert.equal(pushed.code, 0, pushed.stderr);
    const out = join(dir, 'out');
    const pulled = await skopeoCopy({ from: dockerRef(host, 'apps/image', 'v1'), to: `oci:${out}:v1`, src: access, preserveDigests: true });
    assert.equal(pulled.code, 0, pulled.stderr);
    const digests = await readOciLayoutDigests(out, 'v1');
    assert.equal(digests.manifestDigest, image.manifestDigest);
    assert.deepEqual(digests.layerDigests, image.layerDigests);
    assert.ok(servedBy('/v2/apps/image/').size >= 2, 'skopeo reached both workers');
  });
});
