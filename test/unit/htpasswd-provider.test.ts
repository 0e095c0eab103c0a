/**
 * The htpasswd provider against real files: verification, groups, warnings that never carry a
 * hash, and hot reload: a changed password or a removed user takes effect within 2 s whether the
 * file is replaced by rename (editors, our CLI) or rewritten in place (Apache's htpasswd); a
 * deleted file refuses everyone until it is back (the regressions: verdaccio #3241, removed users
 * kept working until restart; and our own fail-open, every user valid after the file was deleted).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { HtpasswdProvider } from '../../src/auth/htpasswd/index.js';
import { configGroups, withGroups } from '../../src/auth/groups.js';
import { waitFor } from '../helpers/wait.js';

function bcryptLine(user: string, password: string, cost = 4): string {
  return execFileSync('htpasswd', ['-nbB', '-C', String(cost), user, password], { encoding: 'utf8' }).trim();
}

function capturingLogger(): { logger: pino.Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, records };
}

/** Polls until `condition` holds; fails after `ms`. */

describe('HtpasswdProvider', () => {
  let dir: string;
  let aliceLine: string;
  let bobLine: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rg-htpasswd-'));
    aliceLine = bcryptLine('alice', 'alice-pw');
    bobLine = bcryptLine('bob', 'bob-pw');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function open(name: string, content: string, watch = true) {
    const file = join(dir, name);
    await writeFile(file, content, { mode: 0o600 });
    const { logger, records } = capturingLogger();
    const provider = await HtpasswdProvider.open({ file, logger, watch });
    return { file, provider, records };
  }

  it('verifies users and attaches their groups', async () => {
    const { provider } = await open('basic', `${aliceLine}\n${bobLine}\n`);
    // Groups are joined after the provider, from every source (auth/groups.ts), as auth/assemble.ts does.
    const groups = configGroups({ pushers: ['alice', 'ghost'], admins: ['alice'], readers: ['bob'] });
    const verify = async (credentials: { user: string; password: string }) => {
      const identity = await provider.verify(credentials);
      return identity && withGroups(identity, [groups]);
    };
    try {
      assert.equal(provider.name, 'htpasswd');
      assert.deepEqual(await verify({ user: 'alice', password: 'alice-pw' }), {
        user: 'alice',
        groups: ['pushers', 'admins'],
        via: 'htpasswd',
      });
      assert.deepEqual((await verify({ user: 'bob', password: 'bob-pw' }))?.groups, ['readers']);
      assert.equal(await provider.verify({ user: 'alice', password: 'bob-pw' }), null);
      assert.equal(await provider.verify({ user: 'ghost', password: 'anything' }), null);
      assert.equal(provider.userCount, 2);
    } finally {
      await provider.close();
    }
  });

  it('warns about a skipped line with its number, never with its hash', async () => {
    const des = execFileSync('htpasswd', ['-nbd', 'carol', 'secret'], { encoding: 'utf8' }).trim();
    const { provider, records } = await open('skipped', `# users\n${aliceLine}\n${des}\nweird:NotAHash\n`);
    try {
      const warnings = records.filter((record) => record.level === 40 && record.line !== undefined);
      assert.deepEqual(
        warnings.map((record) => record.line),
        [3, 4],
      );
      const logged = JSON.stringify(records);
      assert.ok(!logged.includes(des.split(':')[1]!), 'the DES hash was logged');
      assert.ok(!logged.includes('NotAHash'), 'the unknown hash was logged');
      assert.ok(!logged.includes(aliceLine.split(':')[1]!));
      assert.equal(await provider.verify({ user: 'carol', password: 'secret' }), null);
    } finally {
      await provider.close();
    }
  });

  it('refuses to start when the file cannot be read, naming the file', async () => {
    const { logger } = capturingLogger();
    await assert.rejects(HtpasswdProvider.open({ file: join(dir, 'missing'), logger }), {
      code: 'RG_ERR_FILE_LOAD_FAILED',
      message: /htpasswd file .*missing/,
    });
  });

  it('takes a changed password and a removed user within 2 s when the file is replaced by rename', async () => {
    const { file, provider } = await open('rename', `${aliceLine}\n${bobLine}\n`);
    let changes = 0;
    provider.onChange(() => (changes += 1));
    try {
      const replace = async (content: string) => {
        const temporary = `${file}.tmp`;
        await writeFile(temporary, content, { mode: 0o600 });
        await rename(temporary, file);
      };
      await replace(`${bcryptLine('alice', 'new-pw')}\n${bobLine}\n`);
      await waitFor('alice with the new password', async () => (await provider.verify({ user: 'alice', password: 'new-pw' })) !== null, {
        timeoutMs: 2000,
      });
      assert.equal(await provider.verify({ user: 'alice', password: 'alice-pw' }), null);
      await replace(`${bobLine}\n`);
      await waitFor(
        'bob alone',
        async () => (await provider.verify({ user: 'bob', password: 'bob-pw' })) !== null && provider.userCount === 1,
        { timeoutMs: 2000 },
      );
      assert.equal(await provider.verify({ user: 'alice', password: 'new-pw' }), null);
      assert.ok(changes >= 2);
    } finally {
      await provider.close();
    }
  });

  it("takes an in-place edit within 2 s (Debian's htpasswd -D rewrites the file in place)", async () => {
    const { file, provider } = await open('inplace', `${aliceLine}\n${bobLine}\n`);
    try {
      execFileSync('htpasswd', ['-D', file, 'bob'], { stdio: 'ignore' });
      await waitFor('bob refused', async () => (await provider.verify({ user: 'bob', password: 'bob-pw' })) === null, { timeoutMs: 2000 });
      assert.ok(await provider.verify({ user: 'alice', password: 'alice-pw' }));
    } finally {
      await provider.close();
    }
  });

  it('notices a replaced file by polling alone (filesystems where fs.watch is silent)', async () => {
    const { file, provider } = await open('poll', `${aliceLine}\n`, false);
    try {
      await writeFile(`${file}.tmp`, `${bobLine}\n`);
      await rename(`${file}.tmp`, file);
      await waitFor('alice refused', async () => (await provider.verify({ user: 'alice', password: 'alice-pw' })) === null, {
        timeoutMs: 2000,
      });
      assert.ok(await provider.verify({ user: 'bob', password: 'bob-pw' }));
    } finally {
      await provider.close();
    }
  });

  it('refuses every login while the file is missing (no fail-open), tells listeners, logs why once, and recovers', async () => {
    const { file, provider, records } = await open('vanish', `${aliceLine}\n`);
    let changes = 0;
    provider.onChange(() => (changes += 1));
    try {
      assert.ok(await provider.verify({ user: 'alice', password: 'alice-pw' }));
      await unlink(file);
      await waitFor('alice refused', async () => (await provider.verify({ user: 'alice', password: 'alice-pw' })) === null, {
        timeoutMs: 2000,
      });
      assert.equal(changes, 1, 'listeners (the credential cache) hear of it');
      assert.equal(provider.userCount, 0);
      assert.equal(provider.owns('alice'), true, 'its names stay owned: no later provider may take them over');
      assert.deepEqual(await provider.authenticate({ user: 'alice', password: 'alice-pw' }, false), { result: 'rejected' });
      for (let poll = 0; poll < 2; poll++) await provider.reload(); // more polls (what the timer does, run now) see the missing file
      const failures = records.filter((record) => String(record.msg).includes('cannot be read'));
      assert.equal(failures.length, 1, 'logged once');
      assert.match(String(failures[0]?.msg), /every htpasswd login is refused/);
      assert.ok(!JSON.stringify(records).includes(aliceLine.split(':')[1]!), 'no hash in the log');

      await writeFile(file, `${aliceLine}\n`, { mode: 0o600 }); // the same content back
      await waitFor('alice accepted', async () => (await provider.verify({ user: 'alice', password: 'alice-pw' })) !== null, {
        timeoutMs: 2000,
      });
      assert.equal(changes, 2);
      assert.ok(records.some((record) => String(record.msg).includes('readable again')));

      await unlink(file);
      await waitFor('alice refused', async () => (await provider.verify({ user: 'alice', password: 'alice-pw' })) === null, {
        timeoutMs: 2000,
      });
      await writeFile(file, `${bobLine}\n`, { mode: 0o600 }); // other content back
      await waitFor('bob accepted', async () => (await provider.verify({ user: 'bob', password: 'bob-pw' })) !== null, { timeoutMs: 2000 });
      assert.equal(await provider.verify({ user: 'alice', password: 'alice-pw' }), null);
    } finally {
      await provider.close();
    }
  });

  it('owns its names in every spelling: other spellings are rejected (not passed on), unknown names are not', async () => {
    const { provider } = await open('spellings', `${aliceLine}\n`);
    try {
      for (const user of ['ALICE', 'Alice', 'ａｌｉｃｅ', 'ali\u00ADce']) {
        assert.equal(provider.owns(user), true, user);
        assert.deepEqual(await provider.authenticate({ user, password: 'alice-pw' }, false), { result: 'rejected' }, user);
      }
      assert.equal(provider.owns('bob'), false);
      assert.deepEqual(await provider.authenticate({ user: 'bob', password: 'bob-pw' }, false), { result: 'unknown' });
    } finally {
      await provider.close();
    }
  });

  it('does not notify listeners when the file is touched without a content change', async () => {
    const content = `${aliceLine}\n`;
    const { file, provider } = await open('touch', content);
    let changes = 0;
    provider.onChange(() => (changes += 1));
    try {
      await writeFile(file, content);
      await provider.reload();
      assert.equal(changes, 0);
      await writeFile(file, `${content}${bobLine}\n`);
      await provider.reload();
      assert.equal(changes, 1);
    } finally {
      await provider.close();
    }
  });

  it('makes an unknown user cost about as much as a wrong password (bcrypt decoy at the file cost)', async () => {
    const { provider } = await open('timing', `${bcryptLine('alice', 'alice-pw', 9)}\n${bcryptLine('bob', 'bob-pw', 9)}\n`);
    try {
      await provider.verify({ user: 'nobody', password: 'x' }); // the decoy hash is made on first use
      const time = async (user: string): Promise<number> => {
        const start = performance.now();
        await provider.verify({ user, password: 'wrong' });
        return performance.now() - start;
      };
      const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
      const known: number[] = [];
      const unknown: number[] = [];
      for (let i = 0; i < 5; i++) {
        known.push(await time('alice'));
        unknown.push(await time('nobody'));
      }
      assert.ok(median(unknown) > median(known) * 0.5, `unknown ${median(unknown)} ms vs known ${median(known)} ms`);
    } finally {
      await provider.close();
    }
  });
});
