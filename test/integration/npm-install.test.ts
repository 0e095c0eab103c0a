/**
 * Installing registry-gate like any npm CLI, from a fresh folder holding what a clone holds: `npm
 * pack` makes a package with dist/, `npm install -g` of it (into a temporary --prefix, so this
 * machine is not changed) gives a `registry-gate` that serves; `npm ci --omit=dev` on a checkout
 * that has dist/ installs without TypeScript. The systemd unit in contrib/ passes systemd's own
 * check against the installed binary. The package carries the guide the README links to
 * (docs/*.md) and the CHANGELOG, not the screenshots or what only developers read.
 *
 * npm reads its cache first (`--prefer-offline`): scripts/test.sh has just run `npm ci`, so the
 * packages are there and the registry is asked only for what is missing.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, lstat, mkdir, readFile, readdir, stat, symlink, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort, makeTempDir, removeDir, runProcess, startProcess } from '../helpers/process.js';

const ROOT = process.cwd();
const NPM_TIMEOUT_MS = 180_000;

/** The environment npm runs in: no npm_* variables from a parent `npm run`, which would change its config. */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/^npm_/i.test(name)) env[name] = value;
  return env;
}

async function npm(args: string[], cwd: string): Promise<string> {
  const result = await runProcess('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd,
    env: npmEnv(),
    timeoutMs: NPM_TIMEOUT_MS,
  });
  assert.equal(result.code, 0, `npm ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** The files a fresh clone of this working tree has: tracked and untracked-but-not-ignored. */
async function copyCheckout(to: string): Promise<void> {
  const listed = await runProcess('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT });
  assert.equal(listed.code, 0, listed.stderr);
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    const exists = await stat(join(ROOT, file)).catch(() => undefined);
    if (!exists?.isFile()) continue; // deleted in the work tree but still in the index
    await mkdir(join(to, file, '..'), { recursive: true });
    await cp(join(ROOT, file), join(to, file));
  }
}

describe('npm pack, global install, production install', () => {
  let dir: string;
  let checkout: string;
  let tarball: string;
  let prefix: string;
  let version: string;

  before(async () => {
    dir = await makeTempDir('rg-npm-');
    checkout = join(dir, 'checkout');
    await copyCheckout(checkout);
    version = (JSON.parse(await readFile(join(checkout, 'package.json'), 'utf8')) as { version: string }).version;
    // `npm pack` runs `prepare`, which compiles with the TypeScript of the dev install here.
    await symlink(join(ROOT, 'node_modules'), join(checkout, 'node_modules'));
    const packed = await npm(['pack', '--pack-destination', dir], checkout);
    tarball = join(dir, packed.trim().split('\n').at(-1)!);
    prefix = join(dir, 'prefix');
  });
  after(async () => {
    if (!dir) return;
    // Unlink the borrowed node_modules first, so removing the folder can never reach the real one.
    const link = join(checkout, 'node_modules');
    if ((await lstat(link).catch(() => undefined))?.isSymbolicLink()) await unlink(link);
    await removeDir(dir);
  });

  test('the package holds dist/, the CLI, the LICENSE, the systemd unit and the guide, and no tests or sources', async () => {
    assert.equal(tarball, join(dir, `registry-gate-${version}.tgz`));
    const listed = await runProcess('tar', ['-tzf', tarball]);
    const files = listed.stdout.split('\n').filter(Boolean);
    for (const needed of [
      'package/bin/registry-gate',
      'package/dist/src/cli/main.js',
      'package/dist/src/assembly/app.js',
      'package/LICENSE',
      'package/README.md',
      'package/CHANGELOG.md',
      'package/docs/README.md',
      'package/docs/config.md',
      'package/contrib/registry-gate.service',
    ]) {
      assert.ok(files.includes(needed), `${needed} is in the package`);
    }
    // Every guide page the front page links to is there to read.
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const guidePages = new Set([...readme.matchAll(/\]\((docs\/[\w.-]+\.md)(?:#[^)]*)?\)/g)].map((match) => match[1]!));
    assert.ok(guidePages.size >= 7, `README links ${[...guidePages].join(', ')}`);
    for (const page of guidePages) assert.ok(files.includes(`package/${page}`), `${page} is in the package`);
    assert.deepEqual(
      files.filter((file) => /^package\/(CONTRIBUTING\.md|ARCHITECTURE\.md|docs\/ui\/)/.test(file)),
      [],
    );
    assert.deepEqual(
      files.filter((file) => /^package\/(src|test|bench|dist\/test)\/|\.map$|\.ts$/.test(file)),
      [],
    );
    assert.match(
      await readFile(join(ROOT, 'LICENSE'), 'utf8'),
      /Apache License\s+Version 2\.0, January 2004[\s\S]*END OF TERMS AND CONDITIONS/,
    );
  });

  test('npm install -g of the package gives a registry-gate that prints its version and serves', async () => {
    await npm(['install', '--global', '--prefix', prefix, tarball], dir);
    const bin = join(prefix, 'bin', 'registry-gate');
    const printed = await runProcess(bin, ['version']);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.stdout, `registry-gate ${version} (Node.js ${process.version})\n`);

    const cwd = join(dir, 'run');
    await mkdir(cwd);
    const port = await freePort();
    const served = await startProcess(bin, ['serve', '--listen', `127.0.0.1:${port}`], {
      cwd,
      readyWhen: (line) => line.includes('registry-gate is listening'),
      timeoutMs: 30_000,
    });
    try {
      // The generated certificate is self-signed: trust exactly it.
      const ca = await readFile(join(cwd, 'data', 'tls', 'cert.pem'), 'utf8');
      const { Agent } = await import('undici');
      const dispatcher = new Agent({ connect: { ca, servername: 'localhost' } });
      const response = await request(`https://127.0.0.1:${port}/v2/`, { dispatcher });
      await response.body.dump();
      await dispatcher.close();
      assert.equal(response.statusCode, 401);
      assert.equal(response.headers['docker-distribution-api-version'], 'registry/2.0');
      assert.ok((await readdir(join(cwd, 'data'))).includes('initial-admin-password'));
    } finally {
      await served.stop();
    }
  });

  test('the systemd unit passes systemd-analyze verify with the installed binary', async () => {
    const unitText = await readFile(join(ROOT, 'contrib', 'registry-gate.service'), 'utf8');
    assert.match(unitText, /^User=registry-gate$/m, 'runs as its own user, not root');
    assert.match(unitText, /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
    assert.match(unitText, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    const units = join(dir, 'units');
    await mkdir(units);
    const unit = join(units, 'registry-gate.service');
    await writeFile(unit, unitText.replaceAll('/usr/local/bin/registry-gate', join(prefix, 'bin', 'registry-gate')));
    const verified = await runProcess('systemd-analyze', ['verify', unit], { env: { ...process.env, SYSTEMD_LOG_LEVEL: 'warning' } });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.equal(verified.stderr.trim(), '', 'no warnings');
  });

  test('npm ci --omit=dev on a checkout that has dist/ installs and runs without TypeScript', async () => {
    await unlink(join(checkout, 'node_modules'));
    const installed = await runProcess('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: checkout,
      env: npmEnv(),
      timeoutMs: NPM_TIMEOUT_MS,
    });
    assert.equal(installed.code, 0, installed.stdout + installed.stderr);
    assert.match(installed.stderr, /TypeScript is not installed \(dev dependencies omitted\); using the compiled dist\//);
    await assert.rejects(stat(join(checkout, 'node_modules', 'typescript')), 'no dev dependency was installed');
    const printed = await runProcess(join(checkout, 'bin', 'registry-gate'), ['version']);
    assert.equal(printed.stdout, `registry-gate ${version} (Node.js ${process.version})\n`);

    // With neither TypeScript nor dist/, the install stops and says what to do.
    await rm(join(checkout, 'dist'), { recursive: true });
    const failed = await runProcess(process.execPath, [join(checkout, 'scripts', 'prepare.mjs')], { cwd: checkout });
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /cannot build: TypeScript is not installed and there is no dist\/[\s\S]*npm ci && npm prune --omit=dev/);
  });
});
