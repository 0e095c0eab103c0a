/**
 * How the signatures stage reads a cosign payload: as strictly as containers/image (exact fields,
 * the cosign type, a digest), no key twice at any depth, and the repository after the host.
 */
import { test } from 'node:test';
import { generateKeyPairSync } from 'node:crypto';
import { RegistryError } from '../../src/oci/errors.js';
import { cosignSignature } from '../../src/signatures/cosign.js';
import type { SignatureReader } from '../../src/signatures/content.js';
import assert from 'node:assert/strict';
import { namesRepository, readSignedClaim } from '../../src/signatures/simple-signing.js';
import { ambiguityOf } from '../../src/signatures/strict-json.js';

const DIGEST = `sha256:${'cd'.repeat(32)}`;
const payload = (critical: string, optional = 'null') => Buffer.from(`{"critical":${critical},"optional":${optional}}`);
const CRITICAL = `{"identity":{"docker-reference":"registry.example.com:5043/prod/app"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"cosign container image signature"}`;

test('a payload as cosign writes it is read', () => {
  assert.deepEqual(readSignedClaim(payload(CRITICAL)), { manifestDigest: DIGEST, dockerReference: 'registry.example.com:5043/prod/app' });
  assert.equal(readSignedClaim(payload(CRITICAL, '{"creator":"ci","timestamp":1}')).manifestDigest, DIGEST);
});

test('payloads containers/image refuses are refused', () => {
  const refused = [
    payload(CRITICAL.replace('cosign container image signature', 'atomic container signature')),
    payload(CRITICAL.replace(`"${DIGEST}"`, '"not-a-digest"')),
    payload(CRITICAL.replace('{"identity"', '{"extra":1,"identity"')),
    payload(CRITICAL, '[]'),
    Buffer.from(`{"critical":${CRITICAL}}`),
    Buffer.from(`{"critical":${CRITICAL},"optional":null,"more":1}`),
  ];
  for (const bytes of refused) assert.throws(() => readSignedClaim(bytes), bytes.toString());
});

test('a key twice in one object, at any depth, is ambiguous; the same key in two objects is not', () => {
  assert.match(ambiguityOf('{"a":1,"a":2}') ?? '', /appears twice/);
  assert.match(ambiguityOf('{"x":[{"b":{"a":1,"\\u0061":2}}]}') ?? '', /appears twice/);
  assert.equal(ambiguityOf('{"a":{"a":1},"b":[{"a":1},{"a":2}]}'), undefined);
  assert.equal(ambiguityOf(`${'['.repeat(50_000)}${']'.repeat(50_000)}`), undefined);
});

test('the signed reference names the repository exactly, after the host', () => {
  assert.ok(namesRepository('registry.example.com/prod/app', 'prod/app'));
  assert.ok(namesRepository('127.0.0.1:5043/prod/app:v1', 'prod/app'));
  assert.ok(namesRepository(`localhost/prod/app@${DIGEST}`, 'prod/app'));
  assert.ok(!namesRepository('registry.example.com/prod/app-evil', 'prod/app'));
  assert.ok(!namesRepository('registry.example.com/other/prod/app', 'prod/app'));
  assert.ok(!namesRepository('prod/app', 'prod/app'), 'without a host, the first component is part of the name');
  assert.ok(!namesRepository('registry.example.com/prod', 'prod/app'));
});

test('a signature tag too large to read is "not signed"; a registry that does not answer fails the request', async () => {
  const failing = (error: RegistryError): SignatureReader => ({
    readManifest: () => Promise.reject(error),
    readBlob: () => Promise.resolve(undefined),
    listTags: () => Promise.resolve(undefined),
    manifestDigest: () => Promise.resolve(undefined),
    listReferrers: () => Promise.resolve([]),
  });
  const key = generateKeyPairSync('ed25519').publicKey;
  const tooLarge = await cosignSignature(failing(new RegistryError('MANIFEST_TOO_LARGE')), 'prod/app', DIGEST, [key]);
  assert.deepEqual(tooLarge, { signed: false, why: 'the signature manifest is too large' });
  await assert.rejects(cosignSignature(failing(new RegistryError('UPSTREAM_ERROR')), 'prod/app', DIGEST, [key]), {
    code: 'UPSTREAM_ERROR',
  });
});
