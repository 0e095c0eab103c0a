/**
 * A first run that works from another machine.
 *
 * The zero-config server listens on every address but used to announce only https://127.0.0.1,
 * and its certificate named only localhost and the host name, so a client on another machine had
 * neither the URL nor a certificate that matched it. Now: the banner names every address a wildcard
 * listener answers on; the generated certificate carries the host name and every address of this
 * machine plus `tls.auto.names`, and is made anew when that set grows; and `dataDir/tls-trust/ca.crt`
 * exists, so the push of README.md's walk-through (`skopeo copy --dest-cert-dir ./data/tls-trust …`
 * to `localhost:5043`) works as written, with certificate verification on.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { freePort, makeTempDir, removeDir } from '../helpers/process.js';
import { startGateProcess } from '../helpers/gate-process.js';
import { makeOciImage } from '../helpers/oci-image.js';
import { dockerRef, skopeoCopy } from '../helpers/skopeo.js';
import { machineAddresses } from '../../src/server/self-signed.js';

let dir: string;

before(async () => {
  dir = await makeTempDir('rg-first-names-');
});

after(async () => {
  if (dir) await removeDir(dir);
});

async function certificate(): Promise<X509Certificate> {
  return new X509Certificate(await readFile(join(dir, 'data', 'tls', 'cert.pem')));
}

test('a wildcard listener announces every address; the certificate names them; tls-trust/ca.crt makes the walk-through push work', async () => {
  const port = await freePort();
  // Only loopback receives traffic here; the other addresses are only announced and named.
  const gate = await startGateProcess(['--listen', `0.0.0.0:${port}`], { cwd: dir, url: `https://127.0.0.1:${port}` });
  try {
    const banner = gate.streamOutput('stderr');
    const ipv4 = machineAddresses().filter((address) => address.includes('.') && address !== '127.0.0.1');
    for (const address of ipv4) assert.ok(banner.includes(`https://${address}:${port}`), `the banner names ${address}`);
    assert.match(banner, new RegExp(`listening on https://127\\.0\\.0\\.1:${port} \\(built-in registry`));

    const san = (await certificate()).subjectAltName ?? '';
    assert.ok(san.includes(`DNS:${hostname().toLowerCase()}`), san);
    assert.ok(san.includes('DNS:localhost') && san.includes('IP Address:127.0.0.1'), san);
    for (const address of ipv4) assert.ok(san.includes(`IP Address:${address}`), `${address} in ${san}`);

    const trusted = await readFile(join(dir, 'data', 'tls-trust', 'ca.crt'));
    assert.deepEqual(trusted, await readFile(join(dir, 'data', 'tls', 'cert.pem')), 'ca.crt is the served certificate');
    const password = (await readFile(join(dir, 'data', 'initial-admin-password'), 'utf8')).trim();
    const image = await makeOciImage(join(dir, 'image'), { layers: [800] });
    // The walk-through's push (README.md), with `localhost` as written there.
    const pushed = await skopeoCopy({
      from: image.ref,
      to: dockerRef(`localhost:${port}`, 'test', 'latest'),
      dest: { creds: { user: 'admin', password }, certDir: join(dir, 'data', 'tls-trust') },
      preserveDigests: true,
    });
    assert.equal(pushed.code, 0, pushed.stderr);
  } finally {
    await gate.stop();
  }
});

test('names added in tls.auto.names make a new certificate once; an unchanged set keeps it', async () => {
  const before = (await certificate()).fingerprint256;
  const port = await freePort();
  const config = join(dir, 'names.yaml');
  await writeFile(
    config,
    `listen: "127.0.0.1:${port}"\ndataDir: data\ntls: { auto: { names: [registry.example.com, 10.0.0.5, "fd12::5"] } }\n`,
  );
  let gate = await startGateProcess(['--config', config], { cwd: dir, url: `https://127.0.0.1:${port}` });
  await gate.stop();
  assert.match(gate.streamOutput('stderr'), /Generated a self-signed TLS certificate .*new names: registry\.example\.com/);
  const renewed = await certificate();
  assert.notEqual(renewed.fingerprint256, before);
  for (const name of ['DNS:registry.example.com', 'IP Address:10.0.0.5', 'IP Address:FD12:0:0:0:0:0:0:5'])
    assert.ok(renewed.subjectAltName?.includes(name), `${name} in ${renewed.subjectAltName}`);
  assert.deepEqual(
    await readFile(join(dir, 'data', 'tls-trust', 'ca.crt')),
    await readFile(join(dir, 'data', 'tls', 'cert.pem')),
    'the trust copy follows',
  );

  gate = await startGateProcess(['--config', config], { cwd: dir, url: `https://127.0.0.1:${port}` });
  await gate.stop();
  assert.doesNotMatch(gate.streamOutput('stderr'), /Generated a self-signed/);
  assert.equal((await certificate()).fingerprint256, renewed.fingerprint256, 'the same names keep the same certificate');
});
