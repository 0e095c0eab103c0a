/**
 * Reading one sigstore bundle (src/signatures/bundle.ts) without a registry: the DSSE
 * pre-authentication encoding against the DSSE specification's own example, and bundles that hold
 * both contents, neither, or a digest other than sha256, which must never count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { bundleProblem, dssePae } from '../../src/signatures/bundle.js';

test('the DSSE PAE is the specification example byte for byte, lengths in bytes', () => {
  // secure-systems-lab/dsse protocol.md: PAE("http://example.com/HelloWorld", "hello world").
  assert.equal(
    dssePae('http://example.com/HelloWorld', Buffer.from('hello world')).toString(),
    'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
  );
  assert.equal(dssePae('t', Buffer.from('é')).toString(), 'DSSEv1 1 t 2 é');
});

test('a bundle counts only with exactly one content, over a sha256 digest', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const bytes = Buffer.from('{"schemaVersion":2}');
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const messageSignature = {
    messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(bytes).digest('base64') },
    signature: sign(null, bytes, privateKey).toString('base64'),
  };
  const bundle = (extra: Record<string, unknown>) =>
    Buffer.from(
      JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', verificationMaterial: { publicKey: {} }, ...extra }),
    );
  assert.equal(bundleProblem(bundle({ messageSignature }), { digest, bytes }, [publicKey]), undefined);
  const both = bundle({ messageSignature, dsseEnvelope: { payloadType: 'application/vnd.in-toto+json', payload: '', signatures: [] } });
  assert.match(String(bundleProblem(both, { digest, bytes }, [publicKey])), /neither a DSSE envelope nor a message signature/);
  assert.match(String(bundleProblem(bundle({}), { digest, bytes }, [publicKey])), /neither/);
  const sha512 = `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
  assert.match(String(bundleProblem(bundle({ messageSignature }), { digest: sha512, bytes }, [publicKey])), /only sha256/);
  assert.match(String(bundleProblem(Buffer.from('[1,2'), { digest, bytes }, [publicKey])), /not unambiguous JSON/);
});
