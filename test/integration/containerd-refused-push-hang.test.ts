/**
 * A push the rules refuse must end containerd's `ctr images push` with the 403, not hang it.
 *
 * The failure: a user who may pull a repository but not push to it runs `ctr images push` of an
 * image whose blobs are already there. ctr skips the blobs and PUTs the manifest; the gateway
 * refused that PUT as soon as it had the headers, with `Connection: close`, before the (small) body
 * arrived. containerd 1.6 (`remotes/docker/pusher.go`) writes the body from one goroutine into an
 * `io.Pipe` that another goroutine's request reads, wrapped in `io.NopCloser` so that Go's
 * transport cannot close it. On the early 403 the request goroutine closes the push writer while
 * the copying goroutine has not taken the pipe yet, so the pipe stays open; the transport closes the
 * connection, its write loop dies writing the manifest and stops reading the pipe, and the copier's
 * `Commit` then blocks for ever in a zero-length `pipe.Write` (a goroutine dump of the hung ctr
 * shows it at pusher.go:438). The access log showed those runs as `complete:false, bytesIn:0`; they
 * hung in about half the runs. Now a small body of declared length is read before the refusal goes
 * out, on a connection kept open, as nginx discards a refused request's body
 * (src/gateway/early-refusal.ts): the copier holds the pipe by then, and the 403 ends the push.
 *
 * Real containerd and ctr (Debian's package), the gateway as `serve` runs it: 20 refused pushes in
 * a row, each must end within 20 s with the 403; and an allowed push and pull round-trip works.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startConfiguredGateProcess, type GateProcess } from '../helpers/gate-process.js';
import { startContainerd, assertCtrOk, type RunningContainerd } from '../helpers/containerd.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeTlsPair } from '../helpers/tls.js';
import { makeOciImage, type OciImage } from '../helpers/oci-image.js';
import { pollUntil } from '../helpers/wait.js';

const ALICE = { user: 'alice', password: 'alice-ctr-pw-1' };
const BOB = { user: 'bob', password: 'bob-ctr-pw-2' };
const REFUSED_PUSHES = 20;
const PUSH_LIMIT_MS = 20_000;

interface AccessRecord {
  log?: string;
  user?: string | null;
  method?: string;
  path?: string;
  status?: number;
  complete?: boolean;
}

describe('containerd: a refused push ends with the 403', () => {
  let dir: string;
  let gate: GateProcess;
  let containerd: RunningContainerd;
  let image: OciImage;
  let host: string;

  before(async () => {
    dir = await makeTempDir('rg-ctr-');
    const tls = await makeTlsPair(join(dir, 'tls'));
    image = await makeOciImage(join(dir, 'layout'), { tag: 'v1', layers: [2048, 4096] });
    gate = await startConfiguredGateProcess({
      dir,
      users: { [ALICE.user]: ALICE.password, [BOB.user]: BOB.password },
      config: {
        tls: { cert: tls.certFile, key: tls.keyFile },
        dataDir: 'data',
        auth: { htpasswd: 'htpasswd' },
        workers: 1,
        log: { level: 'info', format: 'json', access: true },
        audit: { enabled: false },
        access: [
          { repository: 'team/**', actions: ['pull', 'push'], subjects: ['user:alice'] },
          { repository: 'team/**', actions: ['pull'], subjects: ['user:bob'] },
        ],
      },
    });
    host = gate.url.replace(/^https:\/\//, '');
    containerd = await startContainerd();
    await containerd.trustRegistry(host, tls.caFile);
    await containerd.importImage(image, `${host}/team/app:v1`);
  });

  after(async () => {
    await containerd.stop();
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  function accessRecords(): AccessRecord[] {
    return gate
      .streamOutput('stdout')
      .split('\n')
      .filter((line) => line.startsWith('{') && line.includes('"log":"access"'))
      .map((line) => JSON.parse(line) as AccessRecord);
  }

  test('an allowed ctr push and pull round-trip', async () => {
    const ref = `${host}/team/app:v1`;
    assertCtrOk(await containerd.push(ref, ALICE));
    const pushed = await containerd.imageDigest(ref);
    assert.ok(pushed, 'the imported image is listed');
    // Another namespace has none of the content: every blob comes through the gateway.
    assertCtrOk(await containerd.pull(ref, ALICE, { namespace: 'pulled' }));
    assert.equal(await containerd.imageDigest(ref, { namespace: 'pulled' }), pushed, 'the pulled image is the pushed one');
    const readLayers = () =>
      accessRecords().filter(
        (record) => record.method === 'GET' && record.status === 200 && image.layerDigests.some((digest) => record.path?.endsWith(digest)),
      );
    const layerReads = await pollUntil(
      () => Promise.resolve(readLayers()),
      (records) => records.length >= image.layerDigests.length,
      { timeoutMs: 5000, intervalMs: 50 },
    );
    assert.equal(layerReads.length, image.layerDigests.length, 'each layer was read from the gateway');
  });

  test(`${REFUSED_PUSHES} refused ctr pushes in a row each end with the 403`, async () => {
    const ref = `${host}/team/app:v2`;
    assertCtrOk(await containerd.ctr(['images', 'tag', `${host}/team/app:v1`, ref]));
    for (let run = 1; run <= REFUSED_PUSHES; run++) {
      const result = await containerd.push(ref, BOB, { timeoutMs: PUSH_LIMIT_MS });
      assert.notEqual(result.signal, 'SIGKILL', `run ${run}: ctr hung (killed after ${PUSH_LIMIT_MS} ms)\n${result.stderr.slice(-400)}`);
      assert.notEqual(result.code, 0, `run ${run}: the push must fail`);
      assert.match(result.stderr, /403 Forbidden|denied/i, `run ${run}: ${result.stderr.slice(-400)}`);
    }
    const manifestPuts = () =>
      accessRecords().filter(
        (record) => record.user === BOB.user && record.method === 'PUT' && record.path === '/v2/team/app/manifests/v2',
      );
    // The access line of the last run may still be on its way through the pipe.
    const refusals = await pollUntil(
      () => Promise.resolve(manifestPuts()),
      (records) => records.length >= REFUSED_PUSHES,
      { timeoutMs: 5000, intervalMs: 50 },
    );
    // The refusal was the manifest's, each time: the blobs were there, so nothing else was pushed.
    assert.equal(refusals.length, REFUSED_PUSHES, 'every run reached the manifest PUT');
    assert.ok(
      refusals.every((record) => record.status === 403),
      'each manifest PUT was refused',
    );
  });
});
