/**
 * Apache AuthGroupFile groups: parsing as mod_authz_groupfile reads them, and hot reload like the
 * htpasswd file — a change (in place or by atomic rename) applies within 2 s, a removed member
 * loses the group, and a reload that fails keeps the last good copy and says why.
 */
import assert from 'node:assert/strict';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { GroupFile, parseGroupFile } from '../../src/auth/group-file.js';
import { isInternalError } from '../../src/lib/internal-errors.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

function capturingLogger(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines: () => lines };
}

describe('parseGroupFile', () => {
  test('groups, comments, blank lines, CRLF, BOM, repeated groups and quoted members', () => {
    const parsed = parseGroupFile(
      '\uFEFF# registry groups\r\n' +
        'pushers: alice bob\r\n' +
        '\r\n' +
        '   # indented comment\n' +
        'readers:alice   bob\tcarol\n' +
        'pushers: dave alice\n' +
        "admins: \"john smith\" 'o\\'hara'\n" +
        'empty:\n',
    );
    assert.deepEqual(Object.fromEntries(parsed.groups), {
      pushers: ['alice', 'bob', 'dave'],
      readers: ['alice', 'bob', 'carol'],
      admins: ['john smith', "o'hara"],
      empty: [],
    });
    assert.deepEqual(parsed.skipped, []);
  });

  test('unusable lines are skipped with their line number, the rest still counts', () => {
    const parsed = parseGroupFile('pushers alice\n: alice\nbad group: alice\nquoted: "unterminated\nok: alice\n');
    assert.deepEqual(Object.fromEntries(parsed.groups), { ok: ['alice'] });
    assert.deepEqual(
      parsed.skipped.map((skip) => skip.line),
      [1, 2, 3, 4],
    );
    assert.match(parsed.skipped[0]?.reason ?? '', /no colon/);
    assert.match(parsed.skipped[3]?.reason ?? '', /unterminated quote/);
  });

  test('member names are exact (case-sensitive) and a colon in a member is kept', () => {
    const parsed = parseGroupFile('g: Alice alice a:b\n');
    assert.deepEqual(parsed.groups.get('g'), ['Alice', 'alice', 'a:b']);
  });
});

describe('GroupFile', () => {
  let dir: string;
  before(async () => {
    dir = await makeTempDir('registry-gate-groups-');
  });
  after(async () => {
    await removeDir(dir);
  });

  test('groupsOf, and a change in place applies within 2 s with onChange called', async () => {
    const file = join(dir, 'in-place.groups');
    await writeFile(file, 'pushers: alice\nreaders: alice bob\n');
    const { logger } = capturingLogger();
    const groups = await GroupFile.open({ file, logger });
    try {
      assert.deepEqual(groups.groupsOf('alice'), ['pushers', 'readers']);
      assert.deepEqual(groups.groupsOf('bob'), ['readers']);
      assert.deepEqual(groups.groupsOf('carol'), []);
      assert.deepEqual(groups.groupsOf('ALICE'), []);
      let changes = 0;
      groups.onChange(() => {
        changes += 1;
      });
      await writeFile(file, 'pushers: bob\nreaders: bob carol\n');
      await waitFor('alice removed', () => groups.groupsOf('alice').length === 0, { timeoutMs: 2000, intervalMs: 20 });
      assert.deepEqual(groups.groupsOf('bob'), ['pushers', 'readers']);
      assert.deepEqual(groups.groupsOf('carol'), ['readers']);
      assert.deepEqual(groups.groups.get('readers'), ['bob', 'carol']);
      assert.equal(changes, 1);
    } finally {
      await groups.close();
    }
  });

  test('an atomic replace (write temp, rename) is seen', async () => {
    const file = join(dir, 'renamed.groups');
    await writeFile(file, 'pushers: alice\n');
    const groups = await GroupFile.open({ file, logger: capturingLogger().logger });
    try {
      await writeFile(`${file}.tmp`, 'pushers: alice bob\n');
      await rename(`${file}.tmp`, file);
      await waitFor('bob added', () => groups.groupsOf('bob').includes('pushers'), { timeoutMs: 2000, intervalMs: 20 });
    } finally {
      await groups.close();
    }
  });

  test('the default stat poll alone (no fs.watch, as on NFS) applies a change within 2 s', async () => {
    const file = join(dir, 'poll-only.groups');
    await writeFile(file, 'g: alice\n');
    const groups = await GroupFile.open({ file, logger: capturingLogger().logger, watch: false });
    try {
      // Same size, so only the mtime/ctime/content tells the change apart.
      await writeFile(file, 'g: carol\n');
      await waitFor('carol added', () => groups.groupsOf('carol').length === 1, { timeoutMs: 2000, intervalMs: 20 });
    } finally {
      await groups.close();
    }
  });

  test('a failed reload keeps the last good copy, says why once, and recovers', async () => {
    const file = join(dir, 'failing.groups');
    await writeFile(file, 'pushers: alice\n');
    const capture = capturingLogger();
    const groups = await GroupFile.open({ file, logger: capture.logger, pollIntervalMs: 100 });
    try {
      await rm(file);
      await waitFor('failure logged', () => capture.lines().some((line) => /keeping the last good copy/.test(String(line.msg))), {
        timeoutMs: 2000,
        intervalMs: 20,
      });
      // Three more polls (what the 100 ms timer does, run now) see the same missing file.
      for (let poll = 0; poll < 3; poll++) await groups.reload();
      assert.deepEqual(groups.groupsOf('alice'), ['pushers']);
      const failures = capture.lines().filter((line) => /keeping the last good copy/.test(String(line.msg)));
      assert.equal(failures.length, 1);
      assert.match(String(failures[0]?.err), /ENOENT/);
      assert.equal(failures[0]?.code, 'RG_ERR_FILE_UNREADABLE');

      await mkdir(file);
      for (let poll = 0; poll < 3; poll++) await groups.reload();
      assert.deepEqual(groups.groupsOf('alice'), ['pushers']);
      await rm(file, { recursive: true });

      await writeFile(file, 'pushers: bob\n');
      await waitFor('recovered', () => groups.groupsOf('bob').length === 1, { timeoutMs: 2000, intervalMs: 20 });
      assert.ok(capture.lines().some((line) => line.msg === 'group file readable again'));
      assert.deepEqual(groups.groupsOf('alice'), []);
    } finally {
      await groups.close();
    }
  });

  test('skipped lines are logged by number, never stop the load', async () => {
    const file = join(dir, 'skips.groups');
    await writeFile(file, 'no colon here\npushers: alice\n');
    const capture = capturingLogger();
    const groups = await GroupFile.open({ file, logger: capture.logger });
    try {
      assert.deepEqual(groups.groupsOf('alice'), ['pushers']);
      assert.ok(capture.lines().some((line) => line.line === 1 && /no colon/.test(String(line.reason))));
    } finally {
      await groups.close();
    }
  });

  test('a missing file at start is a clear error naming it', async () => {
    const file = join(dir, 'absent.groups');
    await assert.rejects(GroupFile.open({ file, logger: capturingLogger().logger }), (error: unknown) => {
      assert.ok(isInternalError(error, 'RG_ERR_FILE_LOAD_FAILED'), String(error));
      assert.ok(error.message.includes(file) && /ENOENT/.test(error.message));
      return true;
    });
  });
});
