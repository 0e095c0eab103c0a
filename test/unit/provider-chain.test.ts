/**
 * The provider chain and user-name folding. The attack (see also the integration test
 * provider-chain-spelling): a provider later in the chain that matches names its own way (a
 * directory: case- and width-insensitive, or by e-mail address) accepts a spelling of a name an
 * earlier provider owns, and answers with the owner's name: the earlier account's groups and rules
 * with a password it never had. Here with a real htpasswd file and robot store, and a scripted
 * directory-like provider in place of LDAP (slapd runs in the integration test).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { ProviderChain } from '../../src/auth/chain.js';
import { HtpasswdProvider } from '../../src/auth/htpasswd/index.js';
import type { AuthOutcome, AuthProvider, Credentials, Identity } from '../../src/auth/identity.js';
import { RobotProvider } from '../../src/auth/token/robots.js';
import { foldUserName } from '../../src/auth/user-name.js';

describe('foldUserName', () => {
  test('folds case, width, compatibility forms, invisible characters and white space runs', () => {
    for (const spelling of [
      'carol',
      'CAROL',
      'Carol',
      'ｃａｒｏｌ',
      'ＣＡＲＯＬ',
      'car\u00ADol',
      'ca\u200Brol',
      'caro\uFE0Fl',
      ' carol ',
    ]) {
      assert.equal(foldUserName(spelling), 'carol', JSON.stringify(spelling));
    }
    assert.equal(foldUserName('Straße'), foldUserName('STRASSE'));
    assert.equal(foldUserName('ſ'), 's');
    assert.equal(foldUserName('Ω'), foldUserName('ω')); // Ohm sign and omega
    assert.equal(foldUserName('a \u00A0\u3000b'), 'a b');
  });

  test('does not merge names that differ in more than spelling', () => {
    assert.notEqual(foldUserName('zoë'), foldUserName('zoe'));
    assert.notEqual(foldUserName('carol'), foldUserName('carol2'));
    assert.notEqual(foldUserName('carol@example.test'), foldUserName('carol'));
  });
});

/** Matches names as a directory does and answers with its own spelling; `byMail` maps addresses to names. */
class DirectoryLikeProvider implements AuthProvider {
  readonly name = 'ldap';
  asked = 0;
  constructor(
    private readonly users: Record<string, string>,
    private readonly byMail: Record<string, string> = {},
  ) {}
  async verify(credentials: Credentials): Promise<Identity | null> {
    const outcome = await this.authenticate(credentials);
    return outcome.result === 'accepted' ? outcome.identity : null;
  }
  authenticate(credentials: Credentials): Promise<AuthOutcome> {
    this.asked += 1;
    return Promise.resolve(this.decide(credentials));
  }
  private decide({ user, password }: Credentials): AuthOutcome {
    const folded = foldUserName(user);
    const name = Object.keys(this.users).find((candidate) => foldUserName(candidate) === folded) ?? this.byMail[folded];
    if (name === undefined) return { result: 'unknown' };
    return this.users[name] === password
      ? { result: 'accepted', identity: { user: name, groups: ['from-directory'], via: 'ldap' } }
      : { result: 'rejected' };
  }
}

describe('ProviderChain: a name an earlier provider owns is never a later provider’s to decide', () => {
  let dir: string;
  let htpasswd: HtpasswdProvider;
  let robots: RobotProvider;
  const logger = pino({ level: 'silent' });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rg-chain-'));
    const file = join(dir, 'htpasswd');
    const line = execFileSync('htpasswd', ['-nbB', '-C', '4', 'carol', 'local-pw'], { encoding: 'utf8' }).trim();
    await writeFile(file, `${line}\n`, { mode: 0o600 });
    htpasswd = await HtpasswdProvider.open({ file, logger, watch: false });
    robots = await RobotProvider.open({ file: join(dir, 'robots.json'), logger, watch: { watch: false } });
  });

  after(async () => {
    await htpasswd.close();
    await robots.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('another spelling of an htpasswd name is refused without asking the directory', async () => {
    const directory = new DirectoryLikeProvider({ carol: 'directory-pw', bob: 'bob-pw' });
    const chain = new ProviderChain([robots, htpasswd, directory]);
    for (const user of ['CAROL', 'Carol', 'ｃａｒｏｌ', 'car\u00ADol'])
      assert.equal(await chain.verify({ user, password: 'directory-pw' }), null, user);
    assert.equal(directory.asked, 0);
    assert.equal((await chain.verify({ user: 'carol', password: 'local-pw' }))?.via, 'htpasswd');
  });

  test('a directory answer naming an htpasswd user (reached by e-mail address) is refused', async () => {
    const directory = new DirectoryLikeProvider({ carol: 'directory-pw' }, { 'carol@example.test': 'carol' });
    const chain = new ProviderChain([robots, htpasswd, directory]);
    assert.equal(await chain.verify({ user: 'carol@example.test', password: 'directory-pw' }), null);
    assert.equal(directory.asked, 1);
  });

  test('a directory-only user in any spelling gets the directory’s name', async () => {
    const directory = new DirectoryLikeProvider({ bob: 'bob-pw' }, { 'bob@example.test': 'bob' });
    const chain = new ProviderChain([robots, htpasswd, directory]);
    for (const user of ['bob', 'BOB', 'ｂｏｂ', 'bob@example.test']) {
      assert.deepEqual(await chain.verify({ user, password: 'bob-pw' }), { user: 'bob', groups: ['from-directory'], via: 'ldap' }, user);
    }
  });

  test('robot names are the robots’ in every spelling, and a directory answering with one is refused', async () => {
    const directory = new DirectoryLikeProvider({ robot$ci: 'directory-pw' });
    const chain = new ProviderChain([robots, htpasswd, directory]);
    for (const user of ['robot$ci', 'ROBOT$ci', 'ｒｏｂｏｔ$ci'])
      assert.equal(await chain.verify({ user, password: 'directory-pw' }), null, user);
    assert.equal(directory.asked, 0);
    const renaming = new DirectoryLikeProvider({ robot$ci: 'directory-pw' }, { 'ci@example.test': 'robot$ci' });
    assert.equal(await new ProviderChain([robots, htpasswd, renaming]).verify({ user: 'ci@example.test', password: 'directory-pw' }), null);
  });

  test('with the directory first, it decides every spelling it matches; htpasswd only sees the rest', async () => {
    const directory = new DirectoryLikeProvider({ carol: 'directory-pw' });
    const chain = new ProviderChain([robots, directory, htpasswd]);
    assert.equal((await chain.verify({ user: 'CAROL', password: 'directory-pw' }))?.via, 'ldap');
    assert.equal(await chain.verify({ user: 'carol', password: 'local-pw' }), null, 'the directory knows carol: its answer is final');
  });
});
