/**
 * `access explain` answers what the server would answer for a directory user: it asks the
 * providers of `auth.providers` for the user as a refresh re-check does, so the directory's groups
 * count (before, it said DENY for a push the server allowed, because it knew only --group and the
 * config's groups). `--no-lookup` asks nobody and says so; groups an SSO proxy sends are named as
 * not known. Against Debian's slapd, with the real CLI.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { CLI } from '../helpers/gate-process.js';
import { writeHtpasswd } from '../helpers/gate.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { startSlapd, type RunningSlapd } from '../helpers/slapd.js';

let dir: string;
let slapd: RunningSlapd;
let configFile: string;

before(async () => {
  dir = await makeTempDir('rg-explain-ldap-');
  slapd = await startSlapd();
  await writeHtpasswd(join(dir, 'htpasswd'), { dora: 'dora-explain-pw' }, 4);
  configFile = join(dir, 'gate.yaml');
  await writeFile(
    configFile,
    stringify({
      dataDir: join(dir, 'data'),
      auth: {
        htpasswd: join(dir, 'htpasswd'),
        providers: ['htpasswd', 'ldap'],
        ldap: {
          url: slapd.url,
          bindDN: slapd.serviceDN,
          bindPasswordFile: slapd.servicePasswordFile,
          userBase: slapd.peopleBase,
          tls: { ca: slapd.caFile },
          timeout: '2s',
        },
        trustedHeader: { user: 'X-Forwarded-User', groups: 'X-Forwarded-Groups' },
      },
      trustedProxies: ['127.0.0.1'],
      access: [{ repository: '${group}/**', actions: ['pull', 'push'], subjects: ['authenticated'] }],
    }),
  );
});

after(async () => {
  await slapd.close();
  await removeDir(dir);
});

function explain(...args: string[]) {
  return runProcess(process.execPath, [CLI, 'access', 'explain', '-c', configFile, ...args]);
}

test("a directory user's groups come from the directory, as the server reads them", async () => {
  const allowed = await explain('--user', 'alice', '--repository', 'pushers/app', '--action', 'push');
  assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr);
  assert.match(allowed.stdout, /^ALLOW: user alice \(groups: [^)]*pushers[^)]*\) push pushers\/app/m);
  // The directory's spelling of the name, as the server uses it.
  const upper = await explain('--user', 'ALICE', '--repository', 'pushers/app', '--action', 'push');
  assert.match(upper.stdout, /^ALLOW: user alice /m);
  assert.match(allowed.stderr, /note: groups a single sign-on proxy sends in X-Forwarded-Groups are not known here/);
});

test('--no-lookup asks nobody, and says which groups it did not consult', async () => {
  const denied = await explain('--user', 'alice', '--repository', 'pushers/app', '--action', 'push', '--no-lookup');
  assert.equal(denied.code, 2);
  assert.match(denied.stdout, /^DENY: user alice push pushers\/app/m);
  assert.match(denied.stderr, /note: the directory was not asked for the groups of alice \(--no-lookup\): pass them with --group/);
  const given = await explain('--user', 'alice', '--group', 'pushers', '--repository', 'pushers/app', '--action', 'push', '--no-lookup');
  assert.equal(given.code, 0, given.stdout);
});

test('a name no provider knows is explained without groups, and the note says so', async () => {
  const unknown = await explain('--user', 'mallory', '--repository', 'pushers/app', '--action', 'push');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /note: no provider of auth\.providers \(htpasswd, ldap\) knows mallory/);
  const htpasswdUser = await explain('--user', 'dora', '--repository', 'pushers/app', '--action', 'pull');
  assert.doesNotMatch(htpasswdUser.stdout, /knows dora/, 'the htpasswd user is known');
});
