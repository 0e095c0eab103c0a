/**
 * `registry-gate token create|list|revoke` work on the robot store that `serve` reads, found the
 * same way: from `-c`, else from REGISTRY_GATE_CONFIG, else the defaults under ./data. A robot
 * made in another store than the server's would never log in, and nothing would say why; so each
 * command also says which file it used and where that name came from. All real processes: the CLI
 * makes the robot, a real `serve` from the same config (or none) lets it log in.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { freePort, makeTempDir, removeDir, runProcess, startProcess, type RunResult, type RunningProcess } from '../helpers/process.js';
import { basic } from '../helpers/gate.js';
import { CLI } from '../helpers/gate-process.js';
import { readRobots } from '../../src/auth/token/robots.js';
import { pollUntil } from '../helpers/wait.js';

/** The test runner's environment without any REGISTRY_GATE_* variable, plus `extra`. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('REGISTRY_GATE_')) env[name] = value;
  return { ...env, ...extra };
}

function token(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  return runProcess(process.execPath, [CLI, 'token', ...args], { cwd: options.cwd, env: cleanEnv(options.env), timeoutMs: 20_000 });
}

function serve(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<RunningProcess> {
  return startProcess(process.execPath, [CLI, 'serve', ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    readyWhen: (line) => line.includes('registry-gate is listening'),
    timeoutMs: 30_000,
  });
}

/** The status of `GET /v2/` as robot$ci with `secret`. */
async function robotLogin(url: string, secret: string, dispatcher?: Agent): Promise<number> {
  const response = await request(`${url}/v2/`, {
    headers: { authorization: basic('robot$ci', secret) },
    ...(dispatcher ? { dispatcher } : {}),
  });
  await response.body.dump();
  return response.statusCode;
}

/** Writes a config whose store is its folder's ./state/token/robots.json; returns the config path and that store. */
async function writeConfig(dir: string, port: number): Promise<{ file: string; store: string }> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'htpasswd'), '', { mode: 0o600 });
  const file = join(dir, 'registry-gate.yaml');
  await writeFile(
    file,
    [
      `listen: "127.0.0.1:${port}"`,
      'tls: off',
      'dataDir: ./state',
      'auth: { htpasswd: ./htpasswd }',
      'access: [{ repository: "ci/**", actions: [pull, push], subjects: ["user:robot$ci"] }]',
      'log: { level: warn }',
      'audit: { enabled: false }',
      '',
    ].join('\n'),
  );
  return { file, store: join(dir, 'state', 'token', 'robots.json') };
}

describe('token create|list|revoke use the store serve reads', () => {
  let dir: string;
  let elsewhere: string;
  const servers: RunningProcess[] = [];

  before(async () => {
    dir = await makeTempDir('rg-token-store-');
    // Commands run from a folder that holds nothing, so a store found relative to it would be the wrong one.
    elsewhere = join(dir, 'elsewhere');
    await mkdir(elsewhere);
  });

  after(async () => {
    for (const server of servers) await server.stop();
    if (dir) await removeDir(dir);
  });

  test("with -c: the config folder's store, named on stderr; serve -c lets the robot in", async () => {
    const port = await freePort();
    const config = await writeConfig(join(dir, 'with-flag'), port);
    const created = await token(['create', '--name', 'ci', '--scope', 'repository:ci/*:pull', '-c', config.file], { cwd: elsewhere });
    assert.equal(created.code, 0, created.stderr);
    const secret = created.stdout.trim();
    assert.ok(created.stderr.includes(`Created robot$ci in ${config.store} (from the config ${config.file})`), created.stderr);
    assert.ok(!created.stderr.includes(secret), 'the secret only on stdout');
    assert.equal((await readRobots(config.store)).length, 1);

    const server = await serve(['-c', config.file], { cwd: elsewhere });
    servers.push(server);
    assert.equal(await robotLogin(`http://127.0.0.1:${port}`, secret), 200, server.output());
    assert.equal(await robotLogin(`http://127.0.0.1:${port}`, `${secret}x`), 401);
  });

  test('with REGISTRY_GATE_CONFIG: the same store for create, list, revoke and serve', async () => {
    const port = await freePort();
    const config = await writeConfig(join(dir, 'with-env'), port);
    const env = { REGISTRY_GATE_CONFIG: config.file };
    const created = await token(['create', '--name', 'ci', '--scope', 'repository:ci/*:pull'], { cwd: elsewhere, env });
    assert.equal(created.code, 0, created.stderr);
    const secret = created.stdout.trim();
    assert.ok(created.stderr.includes(`in ${config.store} (from the config ${config.file})`), created.stderr);

    const listed = await token(['list'], { cwd: elsewhere, env });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^robot\$ci\trepository:ci\/\*:pull\t/);
    assert.ok(listed.stderr.includes(`1 robot in ${config.store} (from the config ${config.file})`), listed.stderr);

    const server = await serve([], { cwd: elsewhere, env });
    servers.push(server);
    const url = `http://127.0.0.1:${port}`;
    assert.equal(await robotLogin(url, secret), 200, `serve reads REGISTRY_GATE_CONFIG too:\n${server.output()}`);

    const revoked = await token(['revoke', 'ci'], { cwd: elsewhere, env });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.ok(revoked.stderr.includes(`Revoked robot$ci in ${config.store} (from the config ${config.file})`), revoked.stderr);
    const status = await pollUntil(
      () => robotLogin(url, secret),
      (answer) => answer !== 200,
      { timeoutMs: 3000, intervalMs: 100 },
    );
    assert.equal(status, 401, 'the server stops accepting the revoked robot');
  });

  test('-c wins over REGISTRY_GATE_CONFIG', async () => {
    const flagged = await writeConfig(join(dir, 'flag-wins'), await freePort());
    const ignored = await writeConfig(join(dir, 'env-ignored'), await freePort());
    const created = await token(['create', '--name', 'ci', '--scope', 'repository:ci/*:pull', '-c', flagged.file], {
      cwd: elsewhere,
      env: { REGISTRY_GATE_CONFIG: ignored.file },
    });
    assert.equal(created.code, 0, created.stderr);
    assert.equal((await readRobots(flagged.store)).length, 1);
    assert.deepEqual(await readRobots(ignored.store), []);
  });

  test('without any config: ./data under the working folder, as serve without a config uses', async () => {
    const home = join(dir, 'no-config');
    await mkdir(home);
    const created = await token(['create', '--name', 'ci', '--scope', 'repository:ci/*:pull'], { cwd: home });
    assert.equal(created.code, 0, created.stderr);
    const secret = created.stdout.trim();
    const store = join(home, 'data', 'token', 'robots.json');
    assert.ok(
      created.stderr.includes(`in ${store} (no config file given with -c or REGISTRY_GATE_CONFIG; the default, as for serve without one)`),
      created.stderr,
    );

    const port = await freePort();
    const server = await serve(['--listen', `127.0.0.1:${port}`], { cwd: home });
    servers.push(server);
    const dispatcher = new Agent({ connect: { ca: await readFile(join(home, 'data', 'tls', 'cert.pem'), 'utf8') } });
    try {
      assert.equal(await robotLogin(`https://127.0.0.1:${port}`, secret, dispatcher), 200, server.output());
    } finally {
      await dispatcher.close();
    }
  });

  test('list with no robots says so, and where it looked', async () => {
    const config = await writeConfig(join(dir, 'empty'), await freePort());
    const listed = await token(['list', '-c', config.file], { cwd: elsewhere });
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout, '', 'nothing on stdout: no robots');
    assert.ok(listed.stderr.includes(`No robots in ${config.store} (from the config ${config.file}).`), listed.stderr);
    const json = await token(['list', '--json', '-c', config.file], { cwd: elsewhere });
    assert.deepEqual(JSON.parse(json.stdout), []);
    const missing = await token(['revoke', 'ci', '-c', config.file], { cwd: elsewhere });
    assert.equal(missing.code, 1);
    assert.ok(missing.stderr.includes(`no robot ci in ${config.store}`), missing.stderr);
  });
});
