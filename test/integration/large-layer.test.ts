/**
 * A 1 GiB layer through registry-gate (a real process) to Distribution and back, over TLS with
 * skopeo: the digest survives, and the gateway's memory does not grow with the body size.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage, readOciLayoutDigests } from '../helpers/oci-image.js';
import { skopeoCopy, dockerRef } from '../helpers/skopeo.js';
import { startConfiguredGateProcess, peakRss, type ConfiguredGateProcess } from '../helpers/gate-process.js';

const USER = { user: 'alice', password: 'alice-secret-1' };
const GIB = 1024 * 1024 * 1024;

let dir: string;
let tls: TlsPair;
let registry: RunningDistribution;
let gate: ConfiguredGateProcess;
let host: string;

before(async () => {
  dir = await makeTempDir('rg-large-');
  tls = await makeTlsPair(join(dir, 'tls'));
  registry = await startDistribution({ dir: join(dir, 'distribution') });
  gate = await startConfiguredGateProcess({
    dir,
    users: { [USER.user]: USER.password },
    config: {
      tls: { cert: tls.certFile, key: tls.keyFile },
      upstream: { url: registry.url },
      auth: { htpasswd: 'htpasswd' },
      log: { level: 'warn', format: 'json', access: false },
    },
  });
  host = `127.0.0.1:${gate.port}`;
});

after(async () => {
  await gate.stop();
  await registry.stop();
  await removeDir(dir);
});

test('a 1 GiB layer round-trips with its digest intact and without buffering', { timeout: 600_000 }, async () => {
  // Warm up with a 64 MiB layer first: what a process needs to stream at all is not what we measure;
  // what we measure is that a 16 times larger body does not need more memory.
  const warmup = await makeOciImage(join(dir, 'warmup'), { layers: [64 * 1024 * 1024] });
  const warmed = await skopeoCopy({
    from: warmup.ref,
    to: dockerRef(host, 'big/warmup', 'v1'),
    dest: { creds: USER, certDir: tls.caDir },
    preserveDigests: true,
  });
  assert.equal(warmed.code, 0, warmed.stderr);
  const image = await makeOciImage(join(dir, 'image'), { layers: [GIB, 4096] });
  const baseline = await peakRss(gate.child.pid!);

  const pushed = await skopeoCopy({
    from: image.ref,
    to: dockerRef(host, 'big/layer', 'v1'),
    dest: { creds: USER, certDir: tls.caDir },
    preserveDigests: true,
    timeoutMs: 480_000,
  });
  assert.equal(pushed.code, 0, pushed.stderr);
  const out = join(dir, 'pulled');
  const pulled = await skopeoCopy({
    from: dockerRef(host, 'big/layer', 'v1'),
    to: `oci:${out}:v1`,
    src: { creds: USER, certDir: tls.caDir },
    ociAcceptUncompressed: true,
    timeoutMs: 480_000,
  });
  assert.equal(pulled.code, 0, pulled.stderr);

  const digests = await readOciLayoutDigests(out, 'v1');
  assert.deepEqual(digests.layerDigests, image.layerDigests);
  assert.equal(digests.manifestDigest, image.manifestDigest);
  const grown = (await peakRss(gate.child.pid!)) - baseline;
  assert.ok(
    grown < 32 * 1024 * 1024,
    `peak RSS grew by ${(grown / 1048576).toFixed(1)} MiB for a 1 GiB layer (from ${(baseline / 1048576).toFixed(1)} MiB)`,
  );
});
