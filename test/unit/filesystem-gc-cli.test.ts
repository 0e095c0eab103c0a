/** `registry-gate gc`: help, a dry run that removes nothing, a real run that does. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

let dir: string;
let config: string;
let orphan: string;
const bytes = randomBytes(4096);

before(async () => {
  dir = await makeTempDir('registry-gate-gc-cli-');
  config = join(dir, 'registry-gate.yaml');
  await writeFile(config, 'storage:\n  root: ./data\n');
  // An orphan blob, last touched two hours ago: past the grace period, referenced by nothing.
  const hex = createHash('sha256').update(bytes).digest('hex');
  orphan = join(dir, 'data', 'blobs', 'sha256', hex.slice(0, 2), hex);
  await mkdir(join(orphan, '..'), { recursive: true });
  await writeFile(orphan, bytes);
  const old = new Date(Date.now() - 2 * 3600_000);
  await utimes(orphan, old, old);
});

after(() => removeDir(dir));

test('gc --help documents the options', async () => {
  const result = await runProcess(process.execPath, [CLI, 'gc', '--help']);
  assert.equal(result.code, 0, result.stderr);
  for (const option of ['--config', '--dry-run', '--keep-untagged']) assert.match(result.stdout, new RegExp(option));
});

test('gc --dry-run reports and keeps; gc removes and reports the bytes freed', async () => {
  const dry = await runProcess(process.execPath, [CLI, 'gc', '--config', config, '--dry-run'], {
    env: { ...process.env, REGISTRY_GATE_UPSTREAM: '' },
  });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would remove blob sha256:/);
  assert.match(dry.stdout, new RegExp(`would remove 0 manifest\\(s\\) and 1 blob\\(s\\), ${bytes.length} bytes \\(dry run`));
  await stat(orphan);

  const real = await runProcess(process.execPath, [CLI, 'gc', '--config', config], { env: { ...process.env, REGISTRY_GATE_UPSTREAM: '' } });
  assert.equal(real.code, 0, real.stderr);
  assert.match(real.stdout, new RegExp(`removed 0 manifest\\(s\\) and 1 blob\\(s\\), ${bytes.length} bytes freed`));
  await assert.rejects(stat(orphan), { code: 'ENOENT' });
});

test('gc says that an unreferenced blob younger than an hour was kept on purpose', async () => {
  const young = randomBytes(1024);
  const hex = createHash('sha256').update(young).digest('hex');
  const path = join(dir, 'data', 'blobs', 'sha256', hex.slice(0, 2), hex);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, young);
  const env = { ...process.env, REGISTRY_GATE_UPSTREAM: '' };
  for (const flags of [['--dry-run'], []]) {
    const run = await runProcess(process.execPath, [CLI, 'gc', '--config', config, ...flags], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /0 manifest\(s\) and 0 blob\(s\)/);
    assert.match(run.stdout, /content pushed or used within the last hour is kept on purpose .*: 1 unreferenced blob\(s\) kept for now/);
  }
  await stat(path);
});
