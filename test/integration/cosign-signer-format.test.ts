/**
 * The tests' cosign signer (test/helpers/cosign-signer.ts), checked by readers that share nothing
 * with the gateway: OpenSSL verifies each key kind's signature over the payload file, and a Python
 * script reads the payload's digest and reference. If the signer drifted from cosign's format, the
 * signature tests would test the gateway against itself.
 */
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeSigningKey, signPayload, simpleSigningPayload, writePublicKey, type KeyKind } from '../helpers/cosign-signer.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const REFERENCE = '127.0.0.1:5000/prod/app';

const PYTHON_CHECK = `
import json, sys
payload = json.load(open(sys.argv[1]))
critical = payload["critical"]
assert critical["type"] == "cosign container image signature", critical["type"]
assert critical["image"]["docker-manifest-digest"] == sys.argv[2]
assert critical["identity"]["docker-reference"] == sys.argv[3]
assert payload["optional"] is None
print("ok")
`;

describe('the test signer writes what cosign writes', () => {
  let dir: string;
  before(async () => {
    dir = await makeTempDir('rg-cosign-signer-');
  });
  after(async () => {
    if (dir) await removeDir(dir);
  });

  for (const kind of ['ecdsa-p256', 'ed25519', 'rsa'] as KeyKind[]) {
    test(`${kind}: OpenSSL verifies the signature over the payload bytes`, async () => {
      const key = makeSigningKey(kind);
      const payload = simpleSigningPayload(REFERENCE, DIGEST);
      const [pub, sig, body] = ['pub.pem', 'sig.bin', 'payload.json'].map((name) => join(dir, `${kind}-${name}`)) as [
        string,
        string,
        string,
      ];
      await writePublicKey(pub, key);
      await writeFile(sig, signPayload(key, payload));
      await writeFile(body, payload);
      const args =
        kind === 'ed25519'
          ? ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', body, '-sigfile', sig]
          : ['dgst', '-sha256', '-verify', pub, '-signature', sig, body];
      const verified = await runProcess('openssl', args, { timeoutMs: 20_000 });
      assert.equal(verified.code, 0, verified.stderr);
      assert.match(verified.stdout, /Verified OK|Signature Verified Successfully/);
      const other = makeSigningKey(kind);
      await writePublicKey(pub, other);
      const refused = await runProcess('openssl', args, { timeoutMs: 20_000 });
      assert.notEqual(refused.code, 0, 'OpenSSL must refuse the signature under another key');
    });
  }

  test('a separate reader finds the digest and the reference in the payload', async () => {
    const body = join(dir, 'payload-check.json');
    await writeFile(body, simpleSigningPayload(REFERENCE, DIGEST));
    const checked = await runProcess('python3', ['-c', PYTHON_CHECK, body, DIGEST, REFERENCE], { timeoutMs: 20_000 });
    assert.equal(checked.code, 0, checked.stderr);
    assert.equal(checked.stdout.trim(), 'ok');
  });
});
