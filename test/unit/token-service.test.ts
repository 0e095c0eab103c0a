/**
 * Signing keys and tokens. Keys are made once and kept (0600), their `kid` is the RFC 7638
 * thumbprint Distribution 3 looks keys up by, and each has a certificate (in token-cert.pem and in
 * every token's x5c) for Distribution 2.8. Verification refuses every forgery a registry token
 * service has been caught accepting somewhere: `alg: none`, HS256 keyed with the public key (the
 * "algorithm confusion" attack), a changed payload, a signature by another key, the wrong audience
 * or issuer, expired or not-yet-valid tokens, and a refresh token used as an access token. A key
 * rotation keeps tokens signed before it valid for their lifetime, and no longer.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import {
  CERT_BUNDLE_FILE,
  identityFromToken,
  InvalidTokenError,
  JWKS_FILE,
  KEY_FILE,
  rotateSigningKey,
  SigningKeys,
  TokenService,
} from '../../src/auth/token/index.js';
import type { Identity } from '../../src/auth/identity.js';
import { waitFor } from '../helpers/wait.js';

const alice: Identity = { user: 'alice', groups: ['pushers'], via: 'htpasswd' };
const ACCESS = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** RFC 7638 §3, computed by hand: SHA-256 of the required members in lexical order, no spaces. */
function rfc7638(publicKeyPem: string | Buffer): string {
  const jwk = createPublicKey(publicKeyPem).export({ format: 'jwk' }) as Record<string, string>;
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

async function refused(promise: Promise<unknown>, why: string): Promise<void> {
  await assert.rejects(
    promise,
    (error: unknown) => error instanceof InvalidTokenError && error.code === 'RG_ERR_TOKEN_INVALID' && error.message === 'invalid token',
    why,
  );
}

describe('token signing keys', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rg-token-keys-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes a key once, private file 0600, and finds the same key again', async () => {
    const keyDir = join(dir, 'once');
    const first = await SigningKeys.open({ dir: keyDir, algorithm: 'ES256', watch: false });
    const again = await SigningKeys.open({ dir: keyDir, algorithm: 'ES256', watch: false });
    assert.equal(again.current.kid, first.current.kid);
    assert.equal((await stat(join(keyDir, KEY_FILE))).mode & 0o777, 0o600);
    assert.equal((await stat(keyDir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(keyDir, CERT_BUNDLE_FILE))).mode & 0o777, 0o644);
    const stored = JSON.parse(await readFile(join(keyDir, KEY_FILE), 'utf8')) as { current: { privateKey: string } };
    assert.match(stored.current.privateKey, /^-----BEGIN PRIVATE KEY-----/);
  });

  it('two processes starting at once end up with one key', async () => {
    const keyDir = join(dir, 'race');
    const opened = await Promise.all([1, 2, 3, 4].map(() => SigningKeys.open({ dir: keyDir, algorithm: 'ES256', watch: false })));
    assert.equal(new Set(opened.map((keys) => keys.current.kid)).size, 1);
  });

  it('kid is the RFC 7638 thumbprint; the certificate holds the key and is the x5c and the bundle', async () => {
    const keys = await SigningKeys.open({ dir: join(dir, 'kid'), algorithm: 'ES256', watch: false });
    const bundle = await readFile(keys.certBundleFile, 'utf8');
    const certificate = new X509Certificate(bundle);
    assert.equal(keys.current.kid, rfc7638(certificate.publicKey.export({ type: 'spki', format: 'pem' })));
    assert.equal(certificate.raw.toString('base64'), keys.current.certificateDer);
    assert.ok(certificate.verify(certificate.publicKey), 'self-signed');
    assert.ok(Date.parse(certificate.validFrom) < Date.now() && Date.parse(certificate.validTo) > Date.now() + 5 * 365 * 86_400_000);
    const jwks = JSON.parse(await readFile(keys.jwksFile, 'utf8')) as { keys: Array<Record<string, unknown>> };
    assert.deepEqual(jwks, keys.jwks());
    assert.equal(jwks.keys[0]?.kid, keys.current.kid);
    assert.equal(jwks.keys[0].alg, 'ES256');
    assert.equal(jwks.keys[0].d, undefined, 'no private part');
    assert.equal(JWKS_FILE, 'token-jwks.json');
  });

  it('refuses to start on a key of another algorithm than configured', async () => {
    const keyDir = join(dir, 'switch');
    await SigningKeys.open({ dir: keyDir, algorithm: 'ES256', watch: false });
    await assert.rejects(
      SigningKeys.open({ dir: keyDir, algorithm: 'RS256', watch: false }),
      // The code says what is wrong; the message, what to run.
      { code: 'RG_ERR_KEY_ALGORITHM_MISMATCH', message: /holds an ES256 key but RS256 is configured.*rotate-key --algorithm RS256/ },
    );
    await rotateSigningKey(keyDir, 'RS256');
    const keys = await SigningKeys.open({ dir: keyDir, algorithm: 'RS256', watch: false });
    assert.equal(keys.current.algorithm, 'RS256');
    assert.equal(keys.previous?.algorithm, 'ES256');
  });

  it('names the problem with a damaged key file', async () => {
    const keyDir = join(dir, 'damaged');
    await SigningKeys.open({ dir: keyDir, algorithm: 'ES256', watch: false });
    await writeFile(join(keyDir, KEY_FILE), '{"version":1}');
    await assert.rejects(SigningKeys.open({ dir: keyDir, algorithm: 'ES256', watch: false }), {
      code: 'RG_ERR_FILE_INVALID',
      message: /is not a registry-gate key file/,
    });
  });
});

describe('access and refresh tokens', () => {
  let dir: string;
  let keys: SigningKeys;
  let clock: number;
  let service: TokenService;
  const options = () => ({ issuer: 'registry-gate-test', service: 'registry.test', keys, now: () => clock });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rg-token-service-'));
    keys = await SigningKeys.open({ dir: join(dir, 'keys'), algorithm: 'ES256', watch: false });
    clock = Date.now();
    service = new TokenService(options());
  });
  after(async () => {
    await keys.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('issues the claims of jwt.md with kid, x5c and a 300 s default lifetime', async () => {
    const issued = await service.issueAccessToken(alice, ACCESS);
    const header = decodeProtectedHeader(issued.token);
    assert.deepEqual(header, { alg: 'ES256', typ: 'JWT', kid: keys.current.kid, x5c: [keys.current.certificateDer] });
    const claims = decodeJwt(issued.token);
    assert.equal(claims.iss, 'registry-gate-test');
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.aud, 'registry.test');
    assert.equal(claims.exp, (claims.iat as number) + 300);
    assert.equal(claims.nbf, claims.iat);
    assert.match(claims.jti as string, /^[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(claims.access, ACCESS);
    assert.equal(issued.expiresIn, 300);
    assert.equal(issued.issuedAt.getTime(), (claims.iat as number) * 1000);
    assert.notEqual(decodeJwt((await service.issueAccessToken(alice, ACCESS)).token).jti, claims.jti);
  });

  it('never issues a token shorter-lived than 60 s, and gives anonymous callers sub ""', async () => {
    const short = new TokenService({ ...options(), expiresInMs: 5_000 });
    const issued = await short.issueAccessToken({ user: null, groups: [], via: 'anonymous' }, []);
    assert.equal(issued.expiresIn, 60);
    assert.equal(decodeJwt(issued.token).sub, '');
    assert.deepEqual(decodeJwt(issued.token).access, []);
  });

  it('verifies its own tokens and gives back the identity', async () => {
    const claims = await service.verifyAccessToken((await service.issueAccessToken(alice, ACCESS)).token);
    assert.deepEqual(claims.access, ACCESS);
    assert.deepEqual(identityFromToken(claims), {
      user: 'alice',
      groups: ['pushers'],
      via: 'token',
      tokenAccess: ACCESS,
      validUntil: claims.exp * 1000,
    });
    const anonymous = await service.verifyAccessToken(
      (await service.issueAccessToken({ user: null, groups: [], via: 'anonymous' }, [])).token,
    );
    assert.equal(identityFromToken(anonymous).user, null);
  });

  it('refuses an expired token, and one not valid yet, beyond the leeway', async () => {
    const { token } = await service.issueAccessToken(alice, ACCESS);
    const later = new TokenService({ ...options(), now: () => clock + 300_000 + 25_000 });
    await later.verifyAccessToken(token); // within the 30 s leeway
    await refused(new TokenService({ ...options(), now: () => clock + 300_000 + 31_000 }).verifyAccessToken(token), 'expired');
    const future = await new TokenService({ ...options(), now: () => clock + 120_000 }).issueAccessToken(alice, ACCESS);
    await refused(service.verifyAccessToken(future.token), 'not before');
  });

  it('refuses a token whose payload was changed', async () => {
    const [header, , signature] = (await service.issueAccessToken(alice, ACCESS)).token.split('.');
    const claims = decodeJwt((await service.issueAccessToken(alice, ACCESS)).token);
    const widened = { ...claims, access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push', 'delete'] }] };
    await refused(service.verifyAccessToken(`${header}.${b64url(widened)}.${signature}`), 'tampered payload');
  });

  it('refuses a token signed by another key under our kid', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = await new SignJWT(decodeJwt((await service.issueAccessToken(alice, ACCESS)).token))
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: keys.current.kid, x5c: [keys.current.certificateDer] })
      .sign(privateKey);
    await refused(service.verifyAccessToken(forged), 'foreign signature');
  });

  it('refuses alg none, and HS256 keyed with the public key', async () => {
    const claims = decodeJwt((await service.issueAccessToken(alice, ACCESS)).token);
    const unsigned = `${b64url({ alg: 'none', typ: 'JWT', kid: keys.current.kid })}.${b64url(claims)}.`;
    await refused(service.verifyAccessToken(unsigned), 'alg none');
    const publicPem = keys.current.publicKey.export({ type: 'spki', format: 'pem' });
    const confused = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: keys.current.kid })
      .sign(new TextEncoder().encode(String(publicPem)));
    await refused(service.verifyAccessToken(confused), 'HS256 with the public key');
  });

  it('refuses a token for another audience or from another issuer', async () => {
    const { token } = await service.issueAccessToken(alice, ACCESS);
    await refused(new TokenService({ ...options(), service: 'other.registry' }).verifyAccessToken(token), 'wrong aud');
    await refused(new TokenService({ ...options(), issuer: 'someone-else' }).verifyAccessToken(token), 'wrong iss');
  });

  it('refuses junk without throwing anything else', async () => {
    for (const junk of ['', 'a.b.c', 'not-a-jwt', 'x'.repeat(10_000)]) await refused(service.verifyAccessToken(junk), junk.slice(0, 10));
  });

  it('issues refresh tokens that refresh, and that are never access tokens (nor the reverse)', async () => {
    const refresh = await service.issueRefreshToken(alice);
    assert.equal(decodeProtectedHeader(refresh).typ, 'rg-refresh+jwt');
    assert.notEqual(decodeJwt(refresh).aud, 'registry.test', 'a registry must not accept it either');
    const claims = await service.verifyRefreshToken(refresh);
    assert.equal(claims.sub, 'alice');
    assert.deepEqual(claims.groups, ['pushers']);
    assert.equal(claims.exp - claims.iat, 30 * 86_400);
    await refused(service.verifyAccessToken(refresh), 'refresh used as access');
    await refused(service.verifyRefreshToken((await service.issueAccessToken(alice, ACCESS)).token), 'access used as refresh');
    await refused(new TokenService({ ...options(), service: 'other.registry' }).verifyRefreshToken(refresh), 'refresh for another service');
    await assert.rejects(service.issueRefreshToken({ user: null, groups: [], via: 'anonymous' }), { code: 'RG_ERR_INVALID_ARGUMENT' });
  });

  it('keeps tokens signed before a rotation valid for their lifetime, and no longer', async () => {
    const keyDir = join(dir, 'rotation');
    const rotating = await SigningKeys.open({ dir: keyDir, algorithm: 'ES256', watch: false });
    const oldPrivate = rotating.current.privateKey;
    const oldKid = rotating.current.kid;
    const svc = new TokenService({ ...options(), keys: rotating });
    const before = await svc.issueAccessToken(alice, ACCESS);
    const refreshBefore = await svc.issueRefreshToken(alice);
    const newKid = await rotating.rotate();
    assert.notEqual(newKid, oldKid);
    assert.equal(rotating.previous?.kid, oldKid);
    assert.equal(decodeProtectedHeader((await svc.issueAccessToken(alice, ACCESS)).token).kid, newKid);
    await svc.verifyAccessToken(before.token);
    await svc.verifyRefreshToken(refreshBefore);
    const bundle = await readFile(join(keyDir, CERT_BUNDLE_FILE), 'utf8');
    assert.equal(bundle.match(/BEGIN CERTIFICATE/g)?.length, 2, 'both certificates in the bundle during the overlap');
    assert.equal(rotating.jwks().keys.length, 2);

    // A token the retired key signs after its retirement is refused even within its exp.
    const afterRetirement = await new SignJWT({
      ...decodeJwt(before.token),
      iat: Math.floor(Date.now() / 1000) + 120,
      nbf: Math.floor(Date.now() / 1000),
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: oldKid })
      .sign(oldPrivate);
    await refused(
      new TokenService({ ...options(), keys: rotating, now: () => Date.now() + 120_000 }).verifyAccessToken(afterRetirement),
      'signed after retirement',
    );

    // A second rotation forgets the first key entirely.
    await rotating.rotate();
    await refused(svc.verifyAccessToken(before.token), 'two rotations ago');
    await rotating.close();
  });

  it('signs and verifies with RS256 too', async () => {
    const rsa = await SigningKeys.open({ dir: join(dir, 'rsa'), algorithm: 'RS256', watch: false });
    const svc = new TokenService({ ...options(), keys: rsa });
    const { token } = await svc.issueAccessToken(alice, ACCESS);
    assert.equal(decodeProtectedHeader(token).alg, 'RS256');
    assert.equal(rsa.current.kid, rfc7638(rsa.current.certificatePem));
    await svc.verifyAccessToken(token);
    await refused(service.verifyAccessToken(token), 'an RS256 token of another key set');
  });

  it('a running server picks up a rotation made from the command line within 2 s', async () => {
    const keyDir = join(dir, 'watched');
    const watched = await SigningKeys.open({ dir: keyDir, algorithm: 'ES256', watch: { pollIntervalMs: 200 } });
    const before = watched.current.kid;
    const { kid } = await rotateSigningKey(keyDir, 'ES256');
    await waitFor('the rotation seen', () => watched.current.kid === kid, { timeoutMs: 2000 });
    assert.equal(watched.previous?.kid, before);
    await writeFile(join(keyDir, KEY_FILE), 'garbage');
    await watched.reload();
    assert.equal(watched.current.kid, kid, 'a damaged file keeps the last good keys');
    await watched.close();
  });
});
