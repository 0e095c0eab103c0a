/**
 * Robot accounts: the secret is shown once and stored only as a hash in a 0600 file; a robot logs
 * in with `robot$NAME` and its secret, carries its scopes (and no groups), stops working when it
 * expires, and stops working within 2 seconds of being revoked, without a restart (the regression
 * to not have is verdaccio #3241: removed credentials kept working until a restart). The `token`
 * command creates, lists, revokes and rotates the signing key, and never prints a secret twice.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CommanderError } from 'commander';
import { tokenCommand } from '../../src/cli/token.js';
import { accessCovers } from '../../src/access/scopes.js';
import {
  createRobot,
  KEY_FILE,
  parseRobotScope,
  readRobots,
  revokeRobot,
  RobotProvider,
  robotUserName,
  SigningKeys,
} from '../../src/auth/token/index.js';
import { waitFor } from '../helpers/wait.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const command = tokenCommand({
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  for (const each of [command, ...command.commands]) each.exitOverride();
  try {
    await command.parseAsync(args, { from: 'user' });
    return { code: 0, stdout, stderr };
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return { code: error.exitCode, stdout, stderr };
  }
}

describe('robot accounts', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rg-robots-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('checks names and scopes', () => {
    assert.equal(robotUserName('ci'), 'robot$ci');
    assert.equal(robotUserName('robot$ci-2'), 'robot$ci-2');
    for (const bad of ['', 'CI', 'a b', 'a:b', '-ci', 'x'.repeat(65), 'robot$']) assert.equal(robotUserName(bad), undefined, bad);
    assert.ok('access' in parseRobotScope('repository:team-a/*:pull,push'));
    assert.ok('access' in parseRobotScope('repository:**:pull'));
    assert.ok('access' in parseRobotScope('registry:catalog:*'));
    for (const bad of [
      'repository:team:fly',
      'repository:${user}/*:pull',
      'repository:Team/*:pull',
      'namespace:x:pull',
      'registry:catalog:pull',
      'nonsense',
      'repository:a***:pull',
    ]) {
      assert.ok('problem' in parseRobotScope(bad), bad);
    }
  });

  it('stores only a hash, in a 0600 file, and refuses duplicates and bad input', async () => {
    const file = join(dir, 'store', 'robots.json');
    const { robot, secret } = await createRobot(file, { name: 'ci', scopes: ['repository:team-a/*:pull,push'], expires: null });
    assert.match(secret, /^rgr_[A-Za-z0-9_-]{43}$/);
    assert.equal(robot.name, 'robot$ci');
    const text = await readFile(file, 'utf8');
    assert.ok(!text.includes(secret) && !text.includes(secret.slice(4)), 'the secret is not stored');
    assert.match(text, /"hash": "sha256:[0-9a-f]{64}"/);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    await assert.rejects(createRobot(file, { name: 'ci', scopes: ['repository:x:pull'], expires: null }), { code: 'RG_ERR_ROBOT_EXISTS' });
    // One code for what is wrong with the input; the message says which part (the UI shows it).
    const invalid = (part: RegExp) => ({ code: 'RG_ERR_ROBOT_INVALID', message: part });
    await assert.rejects(createRobot(file, { name: 'ok', scopes: [], expires: null }), invalid(/at least one scope/));
    await assert.rejects(createRobot(file, { name: 'ok', scopes: ['repository:x:fly'], expires: null }), invalid(/unknown action/));
    await assert.rejects(
      createRobot(file, { name: 'ok', scopes: ['repository:x:pull'], expires: new Date(Date.now() - 1000) }),
      invalid(/in the past/),
    );
    assert.equal((await readRobots(file)).length, 1);
  });

  it('verifies the secret, carries the scopes, and refuses anything else', async () => {
    const file = join(dir, 'verify.json');
    const { secret } = await createRobot(file, {
      name: 'ci',
      scopes: ['repository:team-a/*:pull,push', 'registry:catalog:*'],
      expires: null,
    });
    const provider = await RobotProvider.open({ file });
    try {
      const identity = await provider.verify({ user: 'robot$ci', password: secret });
      assert.ok(identity);
      assert.equal(identity.user, 'robot$ci');
      assert.deepEqual(identity.groups, []);
      assert.ok(identity.tokenAccess);
      assert.equal(accessCovers(identity.tokenAccess, 'team-a/app', 'push'), true);
      assert.equal(accessCovers(identity.tokenAccess, 'team-a/app/sub', 'pull'), false);
      assert.equal(accessCovers(identity.tokenAccess, 'team-b/app', 'pull'), false);
      assert.equal(accessCovers(identity.tokenAccess, 'team-a/app', 'delete'), false);
      assert.equal(await provider.verify({ user: 'robot$ci', password: secret + 'x' }), null);
      assert.equal(await provider.verify({ user: 'robot$ci', password: '' }), null);
      assert.equal(await provider.verify({ user: 'robot$other', password: secret }), null);
      assert.equal(await provider.verify({ user: 'ci', password: secret }), null);
      const found = await provider.lookup('robot$ci');
      assert.equal(found.result === 'accepted' && found.identity.user, 'robot$ci');
      assert.equal(found.result === 'accepted' && found.identity.subjectId, identity.subjectId, 'lookup and login agree on the robot id');
      assert.match(String(identity.subjectId), /^[0-9a-f-]{36}$/);
      assert.deepEqual(await provider.lookup('robot$ghost'), { result: 'rejected' }, 'a robot$ name is the robot store to answer for');
      assert.deepEqual(await provider.lookup('alice'), { result: 'unknown' });
      // In a provider chain: other names are not its to judge, robot$ names are.
      assert.deepEqual(await provider.authenticate({ user: 'alice', password: secret }), { result: 'unknown' });
      assert.deepEqual(await provider.authenticate({ user: 'robot$ci', password: 'wrong' }), { result: 'rejected' });
      assert.deepEqual(await provider.authenticate({ user: 'robot$ghost', password: secret }), { result: 'rejected' });
      assert.equal((await provider.authenticate({ user: 'robot$ci', password: secret })).result, 'accepted');
    } finally {
      await provider.close();
    }
  });

  it('stops accepting an expired robot', async () => {
    const file = join(dir, 'expiry.json');
    const created = Date.now();
    const { secret } = await createRobot(file, { name: 'short', scopes: ['repository:x:pull'], expires: new Date(created + 60_000) });
    let clock = created;
    const provider = await RobotProvider.open({ file, now: () => clock });
    try {
      assert.ok(await provider.verify({ user: 'robot$short', password: secret }));
      clock = created + 60_000;
      assert.equal(await provider.verify({ user: 'robot$short', password: secret }), null);
      assert.deepEqual(await provider.lookup('robot$short'), { result: 'rejected' });
    } finally {
      await provider.close();
    }
  });

  it('stops accepting a revoked robot within 2 s, without a restart, and sees new ones', async () => {
    const file = join(dir, 'revoke.json');
    const { secret } = await createRobot(file, { name: 'ci', scopes: ['repository:x:pull'], expires: null });
    const provider = await RobotProvider.open({ file });
    let changes = 0;
    provider.onChange(() => (changes += 1));
    try {
      assert.ok(await provider.verify({ user: 'robot$ci', password: secret }));
      assert.equal(await revokeRobot(file, 'ci'), true);
      assert.equal(await revokeRobot(file, 'ci'), false);
      await waitFor('robot$ci refused', async () => (await provider.verify({ user: 'robot$ci', password: secret })) === null, {
        timeoutMs: 2000,
      });
      assert.ok(changes >= 1, 'listeners hear of the change');
      const other = await createRobot(file, { name: 'deploy', scopes: ['repository:y:pull'], expires: null });
      await waitFor(
        'robot$deploy accepted',
        async () => (await provider.verify({ user: 'robot$deploy', password: other.secret })) !== null,
        { timeoutMs: 2000 },
      );
    } finally {
      await provider.close();
    }
  });

  it('polls alone when directory watching is off, and keeps the last good copy of a damaged file', async () => {
    const file = join(dir, 'poll.json');
    const { secret } = await createRobot(file, { name: 'ci', scopes: ['repository:x:pull'], expires: null });
    const provider = await RobotProvider.open({ file, watch: { watch: false, pollIntervalMs: 200 } });
    try {
      await writeFile(file, '{not json');
      await provider.reload();
      assert.ok(await provider.verify({ user: 'robot$ci', password: secret }), 'still the last good copy');
      await revokeRobot(file, 'ci').catch(() => undefined);
      await writeFile(file, JSON.stringify({ version: 1, robots: [] }));
      await waitFor('robot$ci refused', async () => (await provider.verify({ user: 'robot$ci', password: secret })) === null, {
        timeoutMs: 2000,
      });
    } finally {
      await provider.close();
    }
  });

  it('starts with no robots when the store does not exist yet', async () => {
    const provider = await RobotProvider.open({ file: join(dir, 'absent', 'robots.json') });
    assert.equal(provider.robotCount, 0);
    await provider.close();
  });
});

describe('registry-gate token', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rg-token-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a robot, prints the secret once on stdout, lists it without the secret, and revokes it', async () => {
    const store = join(dir, 'robots.json');
    const created = await run([
      'create',
      '--name',
      'ci',
      '--scope',
      'repository:team-a/*:pull,push',
      '--scope',
      'registry:catalog:*',
      '--expires',
      '30d',
      '--store',
      store,
    ]);
    assert.equal(created.code, 0, created.stderr);
    const secret = created.stdout.trim();
    assert.match(secret, /^rgr_/);
    assert.ok(!created.stderr.includes(secret));
    assert.match(created.stderr, /robot\$ci.*expires/);

    const listed = await run(['list', '--store', store]);
    assert.equal(listed.code, 0);
    assert.match(listed.stdout, /^robot\$ci\trepository:team-a\/\*:pull,push registry:catalog:\*\tcreated .*\texpires /);
    assert.ok(!listed.stdout.includes(secret) && !listed.stdout.includes('sha256:'));
    const json = JSON.parse((await run(['list', '--json', '--store', store])).stdout) as Array<Record<string, unknown>>;
    assert.equal(json[0]?.name, 'robot$ci');
    assert.equal(json[0].hash, undefined);
    const expires = Date.parse(json[0].expires as string);
    assert.ok(Math.abs(expires - (Date.now() + 30 * 86_400_000)) < 60_000);

    assert.equal((await run(['revoke', 'robot$ci', '--store', store])).code, 0);
    const again = await run(['revoke', 'ci', '--store', store]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no robot ci/);
  });

  it('refuses bad input with exit status 2 and a clear message', async () => {
    const store = join(dir, 'bad.json');
    const bad = await run(['create', '--name', 'ci', '--scope', 'repository:x:fly', '--store', store]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown action/);
    assert.equal(bad.stdout, '');
    const expiry = await run(['create', '--name', 'ci', '--scope', 'repository:x:pull', '--expires', 'soon', '--store', store]);
    assert.notEqual(expiry.code, 0);
    assert.match(expiry.stderr, /duration/);
    const never = await run(['create', '--name', 'forever', '--scope', 'repository:x:pull', '--expires', 'never', '--store', store]);
    assert.equal(never.code, 0, never.stderr);
    assert.equal((await readRobots(store))[0]?.expires, null);
  });

  it('finds its files from the config file and rotates the signing key', async () => {
    const config = join(dir, 'registry-gate.yaml');
    await writeFile(config, 'dataDir: ./state\n');
    const created = await run(['create', '--name', 'ci', '--scope', 'repository:x:pull', '-c', config]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal((await readRobots(join(dir, 'state', 'token', 'robots.json'))).length, 1);

    const keyDir = join(dir, 'state', 'token');
    const first = await SigningKeys.open({ dir: keyDir, algorithm: 'ES256', watch: false });
    const rotated = await run(['rotate-key', '-c', config]);
    assert.equal(rotated.code, 0, rotated.stderr);
    const stored = JSON.parse(await readFile(join(keyDir, KEY_FILE), 'utf8')) as {
      current: { kid: string };
      previous: { kid: string; privateKey?: string };
    };
    assert.notEqual(stored.current.kid, first.current.kid);
    assert.equal(stored.previous.kid, first.current.kid);
    assert.equal(stored.previous.privateKey, undefined, 'the retired private key is not kept');
    assert.match(rotated.stderr, new RegExp(`New ES256 signing key ${stored.current.kid}`));
    const rsa = await run(['rotate-key', '--key-dir', keyDir, '--algorithm', 'RS256']);
    assert.equal(rsa.code, 0, rsa.stderr);
    assert.equal((await SigningKeys.open({ dir: keyDir, algorithm: 'RS256', watch: false })).current.algorithm, 'RS256');
  });

  it('has help for every command', async () => {
    const help = await run(['--help']);
    assert.match(help.stdout, /create[\s\S]*list[\s\S]*revoke[\s\S]*rotate-key/);
    const createHelp = await run(['create', '--help']);
    assert.match(createHelp.stdout, /--scope <scope>/);
  });
});
