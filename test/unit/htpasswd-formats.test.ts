/**
 * Every htpasswd hash format people have, made at test time by the real tools (Debian's htpasswd
 * from apache2-utils and openssl passwd), verified by our code; wrong passwords refused; formats
 * we refuse on purpose (DES crypt, plaintext) classified as unsupported without echoing the hash.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  classifyHash,
  isSupported,
  parseHtpasswd,
  verifyPassword,
  type HashFormat,
  type ParsedHash,
} from '../../src/auth/htpasswd/index.js';

const PASSWORD = 'pässwörd ✓ with spaces:and:colons';

function htpasswd(flags: string[], password = PASSWORD): string {
  const line = execFileSync('htpasswd', ['-nb', ...flags, 'user', password], { encoding: 'utf8' }).trim();
  return line.slice(line.indexOf(':') + 1);
}

function openssl(flag: string, password = PASSWORD): string {
  return execFileSync('openssl', ['passwd', flag, '-stdin'], { input: password + '\n', encoding: 'utf8' }).trim();
}

function parsed(hash: string): ParsedHash {
  const classification = classifyHash(hash);
  assert.ok(isSupported(classification), `expected a supported hash, got: ${JSON.stringify(classification)}`);
  return classification;
}

function ssha(password: string, salt: Buffer): string {
  const digest = createHash('sha1').update(password).update(salt).digest();
  return '{SSHA}' + Buffer.concat([digest, salt]).toString('base64');
}

const bcrypt = htpasswd(['-B', '-C', '5']);
const cases: Array<{ name: string; hash: string; format: HashFormat }> = [
  { name: 'htpasswd -B ($2y$)', hash: bcrypt, format: 'bcrypt' },
  { name: 'bcrypt $2a$', hash: bcrypt.replace('$2y$', '$2a$'), format: 'bcrypt' },
  { name: 'bcrypt $2b$', hash: bcrypt.replace('$2y$', '$2b$'), format: 'bcrypt' },
  { name: 'htpasswd -m ($apr1$)', hash: htpasswd(['-m']), format: 'apr1' },
  { name: 'openssl passwd -apr1', hash: openssl('-apr1'), format: 'apr1' },
  { name: 'openssl passwd -1 ($1$)', hash: openssl('-1'), format: 'md5-crypt' },
  { name: 'htpasswd -s ({SHA})', hash: htpasswd(['-s']), format: 'sha1' },
  { name: 'htpasswd -2 ($5$)', hash: htpasswd(['-2']), format: 'sha256-crypt' },
  { name: 'htpasswd -5 ($6$)', hash: htpasswd(['-5']), format: 'sha512-crypt' },
  { name: 'htpasswd -5 -r 12000 ($6$rounds=)', hash: htpasswd(['-5', '-r', '12000']), format: 'sha512-crypt' },
  { name: 'openssl passwd -5', hash: openssl('-5'), format: 'sha256-crypt' },
  { name: 'openssl passwd -6', hash: openssl('-6'), format: 'sha512-crypt' },
  { name: '{SSHA} (nginx)', hash: ssha(PASSWORD, Buffer.from('8bytesalt')), format: 'ssha' },
];

describe('htpasswd hash formats', () => {
  for (const { name, hash, format } of cases) {
    it(`${name}: right password accepted, wrong ones refused`, async () => {
      const entry = parsed(hash);
      assert.equal(entry.format, format);
      assert.equal(await verifyPassword(entry, PASSWORD), true);
      assert.equal(await verifyPassword(entry, PASSWORD + 'x'), false);
      assert.equal(await verifyPassword(entry, ''), false);
      assert.equal(await verifyPassword(entry, PASSWORD.slice(0, -1)), false);
    });
  }

  it('reads the cost of bcrypt and the rounds of SHA-crypt', () => {
    assert.equal(parsed(bcrypt).cost, 5);
    assert.equal(parsed(htpasswd(['-5', '-r', '12000'])).cost, 12000);
    assert.equal(parsed(openssl('-6')).cost, 5000);
  });

  it('refuses a password containing NUL even when the prefix is right', async () => {
    const entry = parsed(htpasswd(['-B', '-C', '4'], 'secret'));
    assert.equal(await verifyPassword(entry, 'secret'), true);
    assert.equal(await verifyPassword(entry, 'secret\0anything'), false);
  });

  it('refuses DES crypt and plaintext as unsupported, with reasons that do not echo the hash', () => {
    const des = htpasswd(['-d'], 'secret');
    const plain = htpasswd(['-p'], 'secret-plaintext');
    for (const [hash, pattern] of [
      [des, /DES/],
      [plain, /plaintext/],
      ['{PLAIN}secret', /plaintext/],
      ['$y$j9T$abc$def', /yescrypt/],
    ] as const) {
      const classification = classifyHash(hash);
      assert.ok(!isSupported(classification));
      assert.match(classification.unsupported, pattern);
      assert.ok(!classification.unsupported.includes(hash));
    }
  });

  it('refuses truncated or out-of-range hashes', () => {
    assert.ok(!isSupported(classifyHash(bcrypt.slice(0, -1))));
    assert.ok(!isSupported(classifyHash('$2y$03$' + bcrypt.slice(7))));
    assert.ok(!isSupported(classifyHash(openssl('-6').slice(0, -2))));
    assert.ok(!isSupported(classifyHash('$6$rounds=5000000$salt$' + 'a'.repeat(86))));
    assert.ok(!isSupported(classifyHash('{SHA}tooShort=')));
    assert.ok(!isSupported(classifyHash('')));
  });
});

describe('htpasswd file parsing', () => {
  it('ignores comments and blank lines, tolerates CRLF and a BOM, and ignores fields after the hash', async () => {
    const text = `\uFEFF# a comment\r\n\r\n   \r\nalice:${bcrypt}\r\n  # indented comment\r\nbob:${htpasswd(['-m'])}:extra:fields\r\n`;
    const { entries, skipped } = parseHtpasswd(text);
    assert.deepEqual([...entries.keys()], ['alice', 'bob']);
    assert.deepEqual(skipped, []);
    assert.equal(entries.get('alice')?.line, 4);
    assert.equal(await verifyPassword(entries.get('bob')!.hash, PASSWORD), true);
  });

  it('skips an unknown format naming the line number, never the hash', () => {
    const secretish = 'MyPlainTextPassword99';
    const { entries, skipped } = parseHtpasswd(`alice:${bcrypt}\ncarol:${secretish}\n\nno-colon-here\n:emptyuser\n`);
    assert.deepEqual([...entries.keys()], ['alice']);
    assert.deepEqual(
      skipped.map((s) => s.line),
      [2, 4, 5],
    );
    for (const s of skipped) assert.ok(!s.reason.includes(secretish) && !s.reason.includes(bcrypt));
  });

  it('uses the first line of a duplicated user, even when that line is unusable', () => {
    const { entries, skipped } = parseHtpasswd(`dave:{PLAIN}x\ndave:${bcrypt}\n`);
    assert.equal(entries.has('dave'), false);
    assert.equal(skipped.length, 2);
    assert.match(skipped[1]!.reason, /duplicate.*line 1/);
  });
});
