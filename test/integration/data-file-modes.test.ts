/**
 * Nothing under the data directory may be readable by other local users.
 *
 * The attack: a local user on the registry's host (another service, a shell account, a container
 * sharing the volume) reads what registry-gate stored: the layers and manifests of private
 * repositories, uploads in progress, the audit trail (who pushed what, from where), the TLS private
 * key's folder. Everything was created with the default modes (folders 0755, files 0644). Now
 * folders are created 0700 and files 0600 (a stricter umask still applies).
 *
 * A real gateway with the built-in registry, its self-signed TLS pair (`tls: auto`) and an audit
 * file under `dataDir`: after a push, an upload left half-done and a refused request, every folder
 * and file under `dataDir` is checked.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rename, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Agent } from 'undici';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient, randomBlob } from '../helpers/registry-client.js';
import { waitForAudit } from '../helpers/access-http.js';

const PASSWORDS = { alice: 'alice-modes-1' };

/** Every path under `dir` (itself included), folders and files. */
async function walk(dir: string): Promise<string[]> {
  const found = [dir];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await walk(path)));
    else found.push(path);
  }
  return found;
}

describe('modes of what registry-gate writes under dataDir', () => {
  let dir: string;
  let dataDir: string;
  let auditFile: string;
  let gate: TestGate;
  let agent: Agent;

  before(async () => {
    dir = await makeTempDir('rg-modes-');
    dataDir = join(dir, 'data');
    auditFile = join(dataDir, 'audit', 'audit.log');
    gate = await startGate({
      dir,
      users: PASSWORDS,
      bcryptCost: 4,
      config: { tls: 'auto', dataDir, audit: { enabled: true, file: auditFile } },
    });
    agent = new Agent({ connect: { ca: await readFile(join(dataDir, 'tls', 'cert.pem'), 'utf8') } });
  });

  after(async () => {
    await agent.close();
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  test('after a push, an unfinished upload, a refusal and audit lines: no folder or file is group- or other-accessible', async () => {
    const alice = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: agent, authHeader: basic('alice', PASSWORDS.alice) }));
    await alice.pushImage('team/app', 'v1', { layers: 2 });
    const upload = await alice.startUpload('team/app');
    const chunk = await alice.call('PATCH', upload, { headers: { 'content-type': 'application/octet-stream' }, body: randomBlob(4096) });
    assert.equal(chunk.status, 202, chunk.text());
    const anonymous = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: agent }));
    assert.equal((await anonymous.call('GET', '/v2/team/app/manifests/v1')).status, 401);
    const lines = await waitForAudit(
      auditFile,
      (all) => all.some((line) => line.decision === 'deny') && all.some((line) => line.action === 'push'),
    );
    assert.ok(lines.length > 0, 'the audit file was written');

    const paths = await walk(dataDir);
    for (const expected of [
      'tls/key.pem',
      'tls/cert.pem',
      'audit/audit.log',
      'registry/blobs',
      'registry/repositories/team/app/_manifests',
      'registry/uploads',
    ]) {
      assert.ok(paths.includes(join(dataDir, expected)), `${expected} exists (the walk covers it)`);
    }
    assert.ok(
      paths.some((path) => path.endsWith('/data') && path.includes('/uploads/')),
      'an unfinished upload is on disk',
    );
    const open: string[] = [];
    for (const path of paths) {
      const mode = (await stat(path)).mode & 0o777;
      if ((mode & 0o077) !== 0) open.push(`${relative(dir, path) || '.'} ${mode.toString(8)}`);
    }
    assert.deepEqual(open, [], 'group/other permission bits');
  });

  test('an audit file reopened after logrotate moved it away is created 0600 too', async () => {
    await rename(auditFile, `${auditFile}.1`);
    await gate.gate.reload('test: logrotate');
    const anonymous = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: agent }));
    assert.equal((await anonymous.call('GET', '/v2/team/app/manifests/v1')).status, 401);
    const lines = await waitForAudit(auditFile, (all) => all.length > 0);
    assert.ok(lines.length > 0, 'a new audit file was written');
    assert.equal((await stat(auditFile)).mode & 0o777, 0o600);
  });
});

describe('modes of the token service files under dataDir', () => {
  let dir: string;
  let dataDir: string;
  let gate: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-modes-token-');
    dataDir = join(dir, 'data');
    gate = await startGate({
      dir,
      users: PASSWORDS,
      bcryptCost: 4,
      config: { dataDir, auth: { scheme: 'bearer', token: { service: 'modes.test' } } },
    });
  });

  after(async () => {
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  test('the token folder is 0700 and its signing key 0600; only the public certificate and JWKS may be readable, inside it', async () => {
    const tokenDir = join(dataDir, 'token');
    assert.equal((await stat(dataDir)).mode & 0o077, 0, 'dataDir');
    assert.equal((await stat(tokenDir)).mode & 0o777, 0o700, 'the token folder');
    const PUBLIC = new Set(['token-cert.pem', 'token-jwks.json']);
    const names = await readdir(tokenDir);
    assert.ok(names.includes('token-keys.json'), names.join(', '));
    for (const name of names) {
      const mode = (await stat(join(tokenDir, name))).mode & 0o777;
      if (PUBLIC.has(name))
        assert.equal(mode & 0o133, 0, `${name}: public (for a registry that checks the tokens), at most 0644: ${mode.toString(8)}`);
      else assert.equal(mode & 0o077, 0, `${name}: ${mode.toString(8)}`);
    }
  });
});
