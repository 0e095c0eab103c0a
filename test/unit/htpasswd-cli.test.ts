/**
 * `registry-gate htpasswd` run in-process on temporary files: what `add` writes is accepted by
 * Debian's `htpasswd -vb`, the file is 0600 and replaced atomically, other lines survive byte for
 * byte, exit statuses are right, and no output ever contains a password or a hash.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { CommanderError } from 'commander';
import { htpasswdCommand } from '../../src/cli/htpasswd.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

type Stdin = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(mode: boolean): unknown };

async function run(args: string[], stdin: Stdin = Readable.from([])): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const command = htpasswdCommand({
    stdin,
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

const stdinOf = (text: string): Stdin => Readable.from([Buffer.from(text)]);

/** A fake terminal that types `lines` (each ending with Enter) once the prompt has switched to raw mode. */
function fakeTerminal(lines: string[]): Stdin & { rawModes: boolean[] } {
  const terminal = new PassThrough() as unknown as Stdin & { rawModes: boolean[] };
  terminal.isTTY = true;
  terminal.rawModes = [];
  let next = 0;
  terminal.setRawMode = (mode: boolean) => {
    terminal.rawModes.push(mode);
    if (mode) {
      const line = lines[next++];
      if (line !== undefined) setImmediate(() => (terminal as unknown as PassThrough).write(line + '\r'));
    }
    return terminal;
  };
  return terminal;
}

function debianVerifies(file: string, user: string, password: string): boolean {
  return spawnSync('htpasswd', ['-vb', file, user, password], { stdio: 'ignore' }).status === 0;
}

describe('registry-gate htpasswd', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rg-htpasswd-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('add creates the file with mode 0600, and Debian htpasswd accepts the hash', async () => {
    const file = join(dir, 'new');
    const password = 'pässwörd with spaces';
    const result = await run(['add', file, 'alice', '--password-stdin', '--cost', '4'], stdinOf(password + '\n'));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /Added user alice/);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const content = await readFile(file, 'utf8');
    assert.match(content, /^alice:\$2y\$04\$[./A-Za-z0-9]{53}\n$/);
    assert.ok(debianVerifies(file, 'alice', password), 'htpasswd -vb refused our hash');
    assert.ok(!debianVerifies(file, 'alice', password + '\n'), 'the trailing newline was kept');
    for (const output of [result.stdout, result.stderr]) assert.ok(!output.includes(password) && !output.includes('$2y$'));
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.includes('.tmp')),
      [],
    );
  });

  it('add updates a user in place and keeps every other line byte for byte (CRLF, comments, unknown formats)', async () => {
    const file = join(dir, 'keep');
    const bob = execFileSync('htpasswd', ['-nbm', 'bob', 'bob-pw'], { encoding: 'utf8' }).trim();
    const original = `# team registry\r\nalice:{PLAIN}old\r\n${bob}\r\n\r\ncarol:weird-format\r\n# trailing comment`;
    await writeFile(file, original, { mode: 0o640 });
    assert.equal((await run(['add', file, 'alice', '--password-stdin', '--cost', '4'], stdinOf('new-pw\r\n'))).code, 0);
    assert.equal((await run(['add', file, 'dave', '--password-stdin', '--cost', '4'], stdinOf('dave-pw'))).code, 0);
    const lines = (await readFile(file, 'utf8')).split('\r\n');
    assert.equal(lines.length, 8);
    assert.equal(lines[7], '', "the added line ends with the file's CRLF");
    assert.match(lines[1]!, /^alice:\$2y\$04\$/);
    assert.deepEqual(
      [lines[0], lines[2], lines[3], lines[4], lines[5]],
      ['# team registry', bob, '', 'carol:weird-format', '# trailing comment'],
    );
    assert.match(lines[6]!, /^dave:\$2y\$04\$/);
    assert.equal((await stat(file)).mode & 0o777, 0o600, "a rewritten file is the owner's only");
    assert.ok(debianVerifies(file, 'alice', 'new-pw'));
    assert.ok(debianVerifies(file, 'bob', 'bob-pw'));
    assert.ok(debianVerifies(file, 'dave', 'dave-pw'));
  });

  it('never leaves an existing file readable by anyone but its owner', async () => {
    const file = join(dir, 'world');
    await writeFile(file, '', { mode: 0o644 });
    assert.equal((await run(['add', file, 'alice', '--password-stdin', '--cost', '4'], stdinOf('pw'))).code, 0);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });

  it('verify exits 0 for the right password and 1 for a wrong one or an unknown user, printing neither', async () => {
    const file = join(dir, 'verify');
    await run(['add', file, 'alice', '--password-stdin', '--cost', '4'], stdinOf('right-pw\n'));
    const ok = await run(['verify', file, 'alice', '--password-stdin'], stdinOf('right-pw\n'));
    assert.equal(ok.code, 0);
    assert.match(ok.stderr, /correct/);
    const wrong = await run(['verify', file, 'alice', '--password-stdin'], stdinOf('wrong-pw\n'));
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /incorrect/);
    const hash = (await readFile(file, 'utf8')).split(':')[1]!.trim();
    for (const output of [ok, wrong].flatMap((r) => [r.stdout, r.stderr])) {
      assert.ok(!output.includes('right-pw') && !output.includes('wrong-pw') && !output.includes(hash));
    }
    assert.equal((await run(['verify', file, 'nobody', '--password-stdin'], stdinOf('x'))).code, 1);
  });

  it('verify checks hashes made by Debian htpasswd (SHA-512 crypt through the worker)', async () => {
    const file = join(dir, 'debian');
    execFileSync('htpasswd', ['-cb5', file, 'erin', 'erin-pw'], { stdio: 'ignore' });
    execFileSync('htpasswd', ['-bd', file, 'old', 'old-pw'], { stdio: 'ignore' });
    assert.equal((await run(['verify', file, 'erin', '--password-stdin'], stdinOf('erin-pw'))).code, 0);
    assert.equal((await run(['verify', file, 'erin', '--password-stdin'], stdinOf('nope'))).code, 1);
    const des = await run(['verify', file, 'old', '--password-stdin'], stdinOf('old-pw'));
    assert.equal(des.code, 1);
    assert.match(des.stderr, /cannot log in: line 2: crypt\(3\) DES/);
  });

  it('list prints user names and hash formats, never hashes', async () => {
    const file = join(dir, 'list');
    execFileSync('htpasswd', ['-cbB', '-C', '4', file, 'alice', 'a'], { stdio: 'ignore' });
    execFileSync('htpasswd', ['-bm', file, 'bob', 'b'], { stdio: 'ignore' });
    execFileSync('htpasswd', ['-bs', file, 'carol', 'c'], { stdio: 'ignore' });
    execFileSync('htpasswd', ['-bd', file, 'dave', 'd'], { stdio: 'ignore' });
    const result = await run(['list', file]);
    assert.equal(result.code, 0);
    const lines = result.stdout.trimEnd().split('\n');
    assert.deepEqual(
      lines.map((line) => line.split('\t')[0]),
      ['alice', 'bob', 'carol', 'dave'],
    );
    assert.deepEqual(
      lines.slice(0, 3).map((line) => line.split('\t')[1]),
      ['bcrypt', 'apr1-md5', 'sha1'],
    );
    assert.match(lines[3]!, /unsupported: crypt\(3\) DES/);
    assert.ok(!result.stdout.includes('$'));
  });

  it('delete removes the user; deleting an unknown user exits 1; a missing file exits 2', async () => {
    const file = join(dir, 'delete');
    await run(['add', file, 'alice', '--password-stdin', '--cost', '4'], stdinOf('a'));
    await run(['add', file, 'bob', '--password-stdin', '--cost', '4'], stdinOf('b'));
    assert.equal((await run(['delete', file, 'alice'])).code, 0);
    assert.ok(!(await readFile(file, 'utf8')).includes('alice'));
    assert.ok(debianVerifies(file, 'bob', 'b'));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const unknown = await run(['delete', file, 'alice']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /not found/);
    const missing = await run(['delete', join(dir, 'absent'), 'alice']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /does not exist/);
  });

  it('refuses bad input with clear messages and a non-zero exit', async () => {
    const file = join(dir, 'bad');
    const cases: Array<[string[], string, RegExp]> = [
      [['add', file, 'bad:name', '--password-stdin'], 'pw', /invalid user name/],
      [['add', file, ' alice', '--password-stdin'], 'pw', /invalid user name/],
      [['add', file, 'alice', '--password-stdin'], '\n', /empty password/],
      [['add', file, 'alice', '--password-stdin'], 'two\nlines\n', /more than one line/],
      [['add', file, 'alice', '--password-stdin'], 'x'.repeat(73), /72 bytes/],
      [['add', file, 'alice', '--password-stdin', '--cost', '3'], 'pw', /4 to 17/],
      [['add', file, 'alice'], '', /use --password-stdin/],
    ];
    for (const [args, input, message] of cases) {
      const result = await run(args, stdinOf(input));
      assert.notEqual(result.code, 0, args.join(' '));
      assert.match(result.stderr, message);
      if (input.length > 2) assert.ok(!result.stderr.includes(input.trim()));
    }
    await assert.rejects(stat(file), { code: 'ENOENT' });
  });

  it('prompts twice without echo on a terminal', async () => {
    const file = join(dir, 'prompt');
    const terminal = fakeTerminal(['typed-secret', 'typed-secret']);
    const result = await run(['add', file, 'alice', '--cost', '4'], terminal);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(terminal.rawModes, [true, false, true, false]);
    assert.ok(!result.stderr.includes('typed-secret'));
    assert.match(result.stderr, /New password: \nRe-type new password: \n/);
    assert.ok(debianVerifies(file, 'alice', 'typed-secret'));

    const mismatch = await run(['add', file, 'alice', '--cost', '4'], fakeTerminal(['one', 'two']));
    assert.equal(mismatch.code, 2);
    assert.match(mismatch.stderr, /do not match/);
    assert.ok(debianVerifies(file, 'alice', 'typed-secret'));
  });

  it('has --help on every subcommand', async () => {
    for (const args of [['--help'], ['add', '--help'], ['delete', '--help'], ['verify', '--help'], ['list', '--help']]) {
      const result = await run(args);
      assert.equal(result.code, 0);
      assert.match(result.stdout, /Usage: htpasswd/);
    }
  });
});
