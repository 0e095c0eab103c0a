/**
 * The integration helpers against the real programs: Distribution 2.8 started from a generated
 * config, OCI layouts that skopeo accepts, and skopeo round trips over plain HTTP and verified TLS.
 *
 * `tlsVerify: false` appears only here, for the plain-HTTP Distribution; everything the gateway's
 * own tests do goes over TLS with `certDir`.
 */
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, sign, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { makeOciImage, readOciLayoutDigests, type OciImage } from '../helpers/oci-image.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import {
  assertSkopeoOk,
  dockerRef,
  skopeoCopy,
  skopeoDelete,
  skopeoInspect,
  skopeoListTags,
  type RegistryAccess,
} from '../helpers/skopeo.js';
import { makeSigningCert, makeTlsPair, trustingAgent } from '../helpers/tls.js';

const sha256 = (data: string | Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

describe('Distribution over plain HTTP with skopeo and a generated OCI image', () => {
  let work: string;
  let registry: RunningDistribution;
  let image: OciImage;
  const plainHttp: RegistryAccess = { tlsVerify: false };

  before(async () => {
    work = await makeTempDir();
    [registry, image] = await Promise.all([
      startDistribution(),
      makeOciImage(join(work, 'layout'), { layers: [1024, 300 * 1024 + 7, Buffer.from('hello layer\n')] }),
    ]);
  });
  after(async () => {
    await registry.stop();
    await removeDir(work);
  });

  test('Distribution answers /v2/ like a registry', async () => {
    const res = await request(`${registry.url}/v2/`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
    await res.body.dump();
  });

  test('layers are real tar files holding one file of the requested size', async () => {
    const hex = image.layerDigests[1]!.slice('sha256:'.length);
    const listing = execFileSync('tar', ['-tvf', join(work, 'layout', 'blobs', 'sha256', hex)], { encoding: 'utf8' });
    assert.match(listing, new RegExp(`\\b${300 * 1024 + 7}\\b.*layer-1\\.bin`));
    assert.deepEqual(await readOciLayoutDigests(join(work, 'layout'), 'latest'), {
      manifestDigest: image.manifestDigest,
      manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
      configDigest: image.configDigest,
      configMediaType: 'application/vnd.oci.image.config.v1+json',
      layerDigests: image.layerDigests,
      layerMediaTypes: Array(3).fill('application/vnd.oci.image.layer.v1.tar'),
    });
  });

  test('copy in with --preserve-digests, list tags, inspect, copy out: digests survive', async () => {
    const ref = dockerRef(registry.host, 'selftest/app', 'v1');
    assertSkopeoOk(await skopeoCopy({ from: image.ref, to: ref, dest: plainHttp, preserveDigests: true }));

    const tags = await skopeoListTags(`docker://${registry.host}/selftest/app`, plainHttp);
    assertSkopeoOk(tags);
    assert.deepEqual(tags.tags, ['v1']);

    const raw = assertSkopeoOk(await skopeoInspect(ref, { ...plainHttp, raw: true }));
    assert.equal(sha256(raw.stdout), image.manifestDigest);

    const out = join(work, 'out');
    assertSkopeoOk(await skopeoCopy({ from: ref, to: `oci:${out}:copied`, src: plainHttp, preserveDigests: true }));
    const copied = await readOciLayoutDigests(out, 'copied');
    assert.equal(copied.manifestDigest, image.manifestDigest);
    assert.equal(copied.configDigest, image.configDigest);
    assert.deepEqual(copied.layerDigests, image.layerDigests);
  });

  test('without --preserve-digests skopeo gzips uncompressed layers it has not seen before', async () => {
    // A fresh image: for layers it already pushed, skopeo's blob-info cache reuses the uncompressed
    // blob (cross-repository mount) instead of compressing again.
    const fresh = await makeOciImage(join(work, 'fresh'), { layers: [2048, 2048, 2048] });
    const ref = dockerRef(registry.host, 'selftest/gz', 'v1');
    assertSkopeoOk(await skopeoCopy({ from: fresh.ref, to: ref, dest: plainHttp }));
    const manifest = JSON.parse(assertSkopeoOk(await skopeoInspect(ref, { ...plainHttp, raw: true })).stdout) as {
      layers: Array<{ mediaType: string; digest: string }>;
    };
    assert.deepEqual(
      manifest.layers.map((l) => l.mediaType),
      Array(3).fill('application/vnd.oci.image.layer.v1.tar+gzip'),
    );
    assert.notDeepEqual(
      manifest.layers.map((l) => l.digest),
      fresh.layerDigests,
    );
  });

  test('--format v2s2 converts to Docker schema 2', async () => {
    const ref = dockerRef(registry.host, 'selftest/docker', 'v1');
    assertSkopeoOk(await skopeoCopy({ from: image.ref, to: ref, dest: plainHttp, format: 'v2s2' }));
    const manifest = JSON.parse(assertSkopeoOk(await skopeoInspect(ref, { ...plainHttp, raw: true })).stdout) as {
      mediaType: string;
      config: { mediaType: string; digest: string };
    };
    assert.equal(manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(manifest.config.mediaType, 'application/vnd.docker.container.image.v1+json');
    assert.equal(manifest.config.digest, image.configDigest);
  });

  test('delete by tag removes the manifest (storage.delete.enabled)', async () => {
    const ref = dockerRef(registry.host, 'selftest/doomed', 'v1');
    assertSkopeoOk(await skopeoCopy({ from: image.ref, to: ref, dest: plainHttp, preserveDigests: true }));
    assertSkopeoOk(await skopeoDelete(ref, plainHttp));
    const gone = await skopeoInspect(ref, plainHttp);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /manifest unknown/i);
  });
});

describe('Distribution over verified TLS with htpasswd, skopeo with certDir and creds', () => {
  const password = 'correct-horse-battery';
  let work: string;
  let registry: RunningDistribution;
  let image: OciImage;
  let caDir: string;

  before(async () => {
    work = await makeTempDir();
    const pair = await makeTlsPair(join(work, 'tls'));
    caDir = pair.caDir;
    const htpasswdFile = join(work, 'htpasswd');
    // Distribution 2.8 accepts only bcrypt entries.
    execFileSync('htpasswd', ['-Bbc', htpasswdFile, 'alice', password], { stdio: 'ignore' });
    [registry, image] = await Promise.all([
      startDistribution({
        dir: join(work, 'distribution'),
        tls: pair,
        auth: { htpasswd: { realm: 'selftest', path: htpasswdFile } },
      }),
      makeOciImage(join(work, 'layout'), { layers: [4096] }),
    ]);
  });
  after(async () => {
    await registry.stop();
    await removeDir(work);
  });

  test('the registry is https and asks for credentials', async () => {
    assert.match(registry.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const agent = trustingAgent(await readFile(join(work, 'tls', 'ca.crt'), 'utf8'));
    try {
      const res = await request(`${registry.url}/v2/`, { dispatcher: agent });
      assert.equal(res.statusCode, 401);
      assert.match(String(res.headers['www-authenticate']), /^Basic realm="selftest"/);
      await res.body.dump();
    } finally {
      await agent.close();
    }
  });

  test('push and inspect with the CA and the right password', async () => {
    const access: RegistryAccess = { certDir: caDir, creds: { user: 'alice', password } };
    const ref = dockerRef(registry.host, 'secure/app', 'v1');
    assertSkopeoOk(await skopeoCopy({ from: image.ref, to: ref, dest: access, preserveDigests: true }));
    const raw = assertSkopeoOk(await skopeoInspect(ref, { ...access, raw: true }));
    assert.equal(sha256(raw.stdout), image.manifestDigest);
  });

  test('without the CA, TLS verification fails (no silent fallback)', async () => {
    const result = await skopeoInspect(dockerRef(registry.host, 'secure/app', 'v1'), {
      creds: { user: 'alice', password },
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /x509|certificate/i);
  });

  test('a wrong password fails, and no password appears in what the helper returns or throws', async () => {
    const wrong = 'wrong-password-xyz';
    const result = await skopeoInspect(dockerRef(registry.host, 'secure/app', 'v1'), {
      certDir: caDir,
      creds: { user: 'alice', password: wrong },
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /unauthorized|authentication required/i);
    const everything = JSON.stringify(result);
    assert.ok(!everything.includes(wrong), everything);
    assert.match(result.command, /--creds \[REDACTED\]/);
    assert.throws(
      () => assertSkopeoOk(result),
      (err: Error) => !err.message.includes(wrong),
    );
  });

  test('a cert dir with a stray .key file is an error in containers/image', async () => {
    const badDir = join(work, 'tls');
    const result = await skopeoInspect(dockerRef(registry.host, 'secure/app', 'v1'), {
      certDir: badDir,
      creds: { user: 'alice', password },
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /missing client certificate/i);
  });
});

describe('Distribution with token auth (rootcertbundle)', () => {
  let work: string;
  let registry: RunningDistribution;
  let signer: Awaited<ReturnType<typeof makeSigningCert>>;

  before(async () => {
    work = await makeTempDir();
    signer = await makeSigningCert(work);
    registry = await startDistribution({
      auth: { token: { realm: 'https://gate.test/token', service: 'selftest', issuer: 'gate', rootcertbundle: signer.certFile } },
    });
  });
  after(async () => {
    await registry.stop();
    await removeDir(work);
  });

  test('challenges with Bearer realm/service and accepts an ES256 token carrying x5c', async () => {
    const challenge = await request(`${registry.url}/v2/`);
    assert.equal(challenge.statusCode, 401);
    assert.equal(challenge.headers['www-authenticate'], 'Bearer realm="https://gate.test/token",service="selftest"');
    await challenge.body.dump();

    const now = Math.floor(Date.now() / 1000);
    const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${b64({ alg: 'ES256', typ: 'JWT', x5c: [new X509Certificate(signer.certPem).raw.toString('base64')] })}.${b64({
      iss: 'gate',
      sub: 'alice',
      aud: 'selftest',
      iat: now,
      nbf: now - 5,
      exp: now + 60,
      jti: 'selftest-1',
      access: [],
    })}`;
    const signature = sign('sha256', Buffer.from(input), { key: createPrivateKey(signer.keyPem), dsaEncoding: 'ieee-p1363' });
    const ok = await request(`${registry.url}/v2/`, {
      headers: { authorization: `Bearer ${input}.${signature.toString('base64url')}` },
    });
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
  });

  test('jwks is refused with a clear message (Distribution 3.x only)', async () => {
    await assert.rejects(
      startDistribution({ auth: { token: { realm: 'r', service: 's', issuer: 'i', jwks: '/nonexistent' } } }),
      /jwks needs Distribution 3/,
    );
  });
});
