/**
 * A signature policy's key file replaced by garbage keeps the last good keys, and says so; a
 * replaced key takes over within the watch interval and the old key's signatures stop counting.
 *
 * What it prevents: a key file truncated or overwritten by a bad deploy (or by someone who can
 * write it but cannot sign) must neither open the gate (no keys read as "nothing to check") nor
 * close it to every signed image without a word in the log.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startConfiguredGateProcess, type ConfiguredGateProcess } from '../helpers/gate-process.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { basic } from '../helpers/gate.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { makeSigningKey, signImage, writePublicKey, type SigningKey } from '../helpers/cosign-signer.js';
import { pollUntil, waitFor } from '../helpers/wait.js';

const PASSWORDS = { ci: 'ci-Garb4ge-secret', dev: 'dev-Garb4ge-secret' };

describe('a signature key file replaced by garbage', () => {
  let dir: string;
  let gate: ConfiguredGateProcess;
  let keyFile: string;
  let first: SigningKey;
  let digest: string;
  const client = (user: keyof typeof PASSWORDS) =>
    new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(user, PASSWORDS[user]) }));
  const pullStatus = async () => (await client('dev').call('GET', '/v2/prod/app/manifests/v1')).status;
  /** Replaced as deploy tools do: a new file renamed over the old one. */
  const replaceKeyFile = async (content: string) => {
    await writeFile(`${keyFile}.new`, content);
    await rename(`${keyFile}.new`, keyFile);
  };

  before(async () => {
    dir = await makeTempDir('rg-signature-keys-');
    first = makeSigningKey('ed25519');
    keyFile = join(dir, 'cosign.pub');
    await writePublicKey(keyFile, first);
    gate = await startConfiguredGateProcess({
      dir,
      users: PASSWORDS,
      config: {
        tls: 'off',
        workers: 1,
        dataDir: './data',
        auth: { htpasswd: './htpasswd' },
        access: [
          { repository: 'prod/**', actions: ['pull', 'push'], subjects: ['user:ci'] },
          { repository: 'prod/**', actions: ['pull'], subjects: ['user:dev'] },
        ],
        signatures: [{ name: 'production', repository: 'prod/**', keys: ['./cosign.pub'] }],
        log: { level: 'info', format: 'json' },
        audit: { enabled: false },
      },
    });
    digest = (await client('ci').pushImage('prod/app', 'v1')).digest;
    await signImage(client('ci'), first, '127.0.0.1', 'prod/app', digest);
  });

  after(async () => {
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  test('keeps the last good keys and logs that it does', async () => {
    assert.equal(await pullStatus(), 200);
    await replaceKeyFile('-----BEGIN PUBLIC KEY-----\nnot a key at all\n-----END PUBLIC KEY-----\n');
    await waitFor('the log line about the garbage key file', () =>
      /signature key file of policy production reload failed; keeping the last good keys/.test(gate.output()),
    );
    assert.equal(await pullStatus(), 200, 'the signed image still passes with the last good keys');
    await replaceKeyFile('');
    assert.equal(await pullStatus(), 200);
  });

  test('a new good key takes over: the old signature stops counting, the new one counts', async () => {
    const second = makeSigningKey('rsa');
    await writePublicKey(`${keyFile}.new`, second);
    await rename(`${keyFile}.new`, keyFile);
    assert.equal(await pollUntil(pullStatus, (status) => status === 403, { timeoutMs: 5000 }), 403);
    await signImage(client('ci'), second, '127.0.0.1', 'prod/app', digest);
    assert.equal(await pullStatus(), 200);
  });
});
