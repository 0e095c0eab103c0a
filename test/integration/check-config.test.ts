/**
 * `check-config` catches what `serve` would refuse, naming the key: files that cannot be read, a
 * port out of range, YAML errors with the parser's whole message; and it warns about rules naming a
 * group no source defines and LDAP user filters that match more than a user's name, and notes what
 * a public rule means for clients in Basic mode.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI } from '../helpers/gate-process.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';

let dir: string;

before(async () => {
  dir = await makeTempDir('rg-check-config-');
});

after(async () => {
  if (dir) await removeDir(dir);
});

async function check(name: string, yaml: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const file = join(dir, name);
  await writeFile(file, yaml);
  return runProcess(process.execPath, [CLI, 'check-config', file]);
}

test('missing files are errors naming their key: TLS pair, htpasswd, group file, upstream CA, LDAP CA and bind password', async () => {
  const result = await check(
    'files.yaml',
    [
      'tls: { cert: nope/cert.pem, key: nope/key.pem }',
      'upstream: { url: "http://127.0.0.1:5000", ca: nope/upstream-ca.pem }',
      'auth:',
      '  htpasswd: nope/htpasswd',
      '  groupFile: nope/groups',
      '  ldap: { url: "ldaps://127.0.0.1", bindDN: "cn=x", bindPasswordFile: nope/bind, userBase: "dc=x", tls: { ca: nope/ldap-ca.pem } }',
      '',
    ].join('\n'),
  );
  assert.equal(result.code, 1);
  for (const key of [
    'tls.cert',
    'tls.key',
    'upstream.ca',
    'auth.htpasswd',
    'auth.groupFile',
    'auth.ldap.bindPasswordFile',
    'auth.ldap.tls.ca',
  ]) {
    assert.match(result.stderr, new RegExp(`: ${key.replace(/\./g, '\\.')}: error: .* does not exist`), key);
  }
  assert.doesNotMatch(result.stdout, /: ok /);
});

test('a folder where a file should be is an error too', async () => {
  // (Modes cannot make a file unreadable to root, which CI runs as; a folder fails for everyone.)
  const result = await check('folder.yaml', `auth: { htpasswd: ${dir} }\n`);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /auth\.htpasswd: error: .* is not a file/);
});

test('a port out of range names listen', async () => {
  const result = await check('port.yaml', 'listen: "0.0.0.0:70000"\n');
  assert.equal(result.code, 1);
  assert.match(result.stderr, /listen: the port must be from 0 to 65535/);
});

test("a YAML error comes with the parser's whole message: line, column and the line itself", async () => {
  const result = await check('broken.yaml', 'listen: "127.0.0.1:5043"\naccess:\n  - { repository: "a/*", actions: [pull]\n');
  assert.equal(result.code, 1);
  assert.match(result.stderr, /at line \d+, column \d+/);
  assert.match(result.stderr, /repository: "a\/\*"/, 'the offending line is quoted');
});

test('a rule naming an undefined group is a warning; a public rule in Basic mode gets a note; both still pass', async () => {
  const groups = join(dir, 'groups');
  await writeFile(groups, 'from-file: carol\n');
  const result = await check(
    'rules.yaml',
    [
      `auth: { groupFile: ${groups} }`,
      'groups: { team-a: [alice] }',
      'access:',
      '  - { repository: "team-a/**", actions: [pull, push], subjects: ["group:team-a", "group:from-file", "group:team-typo"] }',
      '  - { repository: "base/*", actions: [pull], subjects: ["*"] }',
      '',
    ].join('\n'),
  );
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /access\.0\.subjects\.2: warning: the group team-typo is defined nowhere/);
  assert.doesNotMatch(result.stderr, /team-a is defined|from-file is defined/);
  assert.match(result.stdout, /access\.1: note: anonymous pulls in Basic mode: GET \/v2\/ still answers 401/);
  assert.match(result.stdout, /: ok \(built-in registry/);
});

describe('LDAP user names (a filter that matches more than the name would let one user log in as another)', () => {
  const ldapSection = (bindPasswordFile: string, extra: string) =>
    `auth:\n  ldap: { url: "ldaps://127.0.0.1", bindDN: "cn=svc", bindPasswordFile: ${bindPasswordFile}, userBase: "dc=x"${extra} }\n`;
  let bindPasswordFile: string;

  before(async () => {
    bindPasswordFile = join(dir, 'ldap-bind-password');
    await writeFile(bindPasswordFile, 'service-secret\n', { mode: 0o600 });
  });

  test('a filter that also compares {user} with mail: a warning naming userFilter, mail and the naming attribute', async () => {
    const filter = ', userFilter: "(&(objectClass=inetOrgPerson)(|(uid={user})(mail={user})))", userNameAttribute: uid';
    const result = await check('ldap-by-mail.yaml', ldapSection(bindPasswordFile, filter));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /auth\.ldap\.userFilter: warning: compares \{user\} with mail besides uid, the user name: .*refused/);
    assert.doesNotMatch(result.stderr, /userNameAttribute/);
    assert.match(result.stdout, /: ok /);
  });

  test('no userNameAttribute: a warning naming the attribute the filter implies', async () => {
    const result = await check('ldap-no-name.yaml', ldapSection(bindPasswordFile, ''));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /auth\.ldap\.userNameAttribute: warning: not set: user names are the values of uid/);
    assert.doesNotMatch(result.stderr, /auth\.ldap\.userFilter/);
  });

  test('no userNameAttribute and a filter comparing {user} with two attributes: an error, nothing starts', async () => {
    const filter = ', userFilter: "(|(uid={user})(mail={user}))"';
    const result = await check('ldap-which-name.yaml', ldapSection(bindPasswordFile, filter));
    assert.equal(result.code, 1);
    assert.match(result.stderr, /auth\.ldap\.userNameAttribute: .*set userNameAttribute/);
    assert.doesNotMatch(result.stdout, /: ok /);
  });

  test("the README's LDAP example passes without a warning about names", async () => {
    const filter = ', userFilter: "(&(objectClass=inetOrgPerson)(uid={user}))", userNameAttribute: uid';
    const result = await check('ldap-example.yaml', ldapSection(bindPasswordFile, filter));
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /auth\.ldap/);
  });
});

test('check-config takes -c FILE like every other command, or REGISTRY_GATE_CONFIG; with none it says what to give', async () => {
  const file = join(dir, 'dash-c.yaml');
  await writeFile(file, 'access: []\n');
  const withFlag = await runProcess(process.execPath, [CLI, 'check-config', '-c', file]);
  assert.equal(withFlag.code, 0, withFlag.stderr);
  assert.match(withFlag.stdout, /dash-c\.yaml: ok/);
  const fromEnv = await runProcess(process.execPath, [CLI, 'check-config'], { env: { ...process.env, REGISTRY_GATE_CONFIG: file } });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  const none = await runProcess(process.execPath, [CLI, 'check-config'], { env: { ...process.env, REGISTRY_GATE_CONFIG: '' } });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /name the file to check: check-config FILE, -c FILE or \$REGISTRY_GATE_CONFIG/);
});

test("the starter config the systemd unit's steps install is valid as shipped, with the unit's data folder", async () => {
  const root = join(import.meta.dirname, '..', '..', '..');
  const starter = join(root, 'contrib', 'registry-gate.yaml');
  const unit = await readFile(join(root, 'contrib', 'registry-gate.service'), 'utf8');
  assert.match(unit, /install -m 0640 -g registry-gate contrib\/registry-gate\.yaml \/etc\/registry-gate\/registry-gate\.yaml/);
  assert.match(unit, /^Environment=REGISTRY_GATE_DATA_DIR=\/var\/lib\/registry-gate$/m);
  const checked = await runProcess(process.execPath, [CLI, 'check-config', '-c', starter]);
  assert.equal(checked.code, 0, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /ok \(built-in registry at \/var\/lib\/registry-gate\/registry\)/);
});
