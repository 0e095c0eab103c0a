/**
 * The TLS listener picks the cipher by its own preference, AES-128-GCM first as Go's crypto/tls
 * does (Distribution, docker, containerd): a client that lists AES-256-GCM first, as OpenSSL's
 * default order (curl) does, still gets AES-128-GCM, and one that offers only AES-256-GCM gets it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';

let dir: string;
let tls: TlsPair;
let gate: TestGate;

before(async () => {
  dir = await makeTempDir('rg-tls-cipher-');
  tls = await makeTlsPair(join(dir, 'tls'));
  gate = await startGate({ dir, tls });
});

after(async () => {
  await gate.stop();
  await removeDir(dir);
});

function negotiated(ciphers: string | undefined): Promise<string> {
  const url = new URL(gate.url);
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: url.hostname, port: Number(url.port), ca: tls.caPem, servername: 'localhost', ...(ciphers ? { ciphers } : {}) },
      () => {
        resolve(socket.getCipher().standardName);
        socket.end();
      },
    );
    socket.once('error', reject);
  });
}

test('a client listing AES-256-GCM first gets AES-128-GCM; one offering only AES-256-GCM gets it', async () => {
  assert.equal(await negotiated('TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256'), 'TLS_AES_128_GCM_SHA256');
  assert.equal(await negotiated('TLS_AES_256_GCM_SHA384'), 'TLS_AES_256_GCM_SHA384');
});
