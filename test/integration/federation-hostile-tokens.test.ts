/**
 * Hostile federated tokens. Each is what an attacker who holds some token, or can mint one with a
 * key of their own, would try in place of a CI job's ID token: one minted for another service
 * (audience), by an issuer nobody trusts, signed with another issuer's key, expired, not yet valid,
 * issued in the future, `alg: none`, HS256 "signed" with the issuer's public key (the classic
 * algorithm confusion), a stream of made-up `kid`s meant to make the gateway fetch the issuer's
 * keys in a loop, claims that meet a condition only after case folding or with a Unicode
 * look-alike, claims that are arrays or objects where strings are expected, and tokens far larger
 * than any real one. Each is refused with the generic 401 (never a 5xx) at every door — Basic
 * credentials, the password grant, the token exchange — and leaves an audit line naming the check
 * that failed, never the token. An issuer that is slow or down makes the request 503, in bounded time.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SignJWT, exportSPKI, importJWK, type KeyObject } from 'jose';
import { request } from 'undici';
import type { TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir, freePort } from '../helpers/process.js';
import { parseAuditLines, readAuditText, type AuditLine } from '../helpers/access-http.js';
import { waitFor } from '../helpers/wait.js';
import { AUDIENCE, startFederatedGate, startIssuers, trustPolicies, type Issuers } from '../helpers/federation.js';
import { startIssuer, type TestIssuer } from '../helpers/oidc-issuer.js';
import { MIN_FETCH_INTERVAL_MS } from '../../src/auth/federation/issuer-keys.js';

const SERVICE = 'registry.test';
const basicOf = (token: string) => `Basic ${Buffer.from(`ci:${token}`).toString('base64')}`;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

interface Answer {
  status: number;
  body: string;
}

async function call(gate: TestGate, path: string, init: { authorization?: string; form?: Record<string, string> } = {}): Promise<Answer> {
  const answer = await request(`${gate.url}${path}`, {
    method: init.form ? 'POST' : 'GET',
    dispatcher: gate.dispatcher,
    headers: {
      ...(init.authorization ? { authorization: init.authorization } : {}),
      ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
  });
  return { status: answer.statusCode, body: await answer.body.text() };
}

describe('hostile federated tokens', () => {
  let dir: string;
  let tls: TlsPair;
  let issuers: Issuers;
  let gate: TestGate;
  let auditFile: string;
  let seen = 0;

  /** The audit lines written since the last call, but the grants of tokens (a good token's own line). */
  async function newAuditLines(): Promise<AuditLine[]> {
    const sinceSeen = (all: AuditLine[]) => all.slice(seen).filter((line) => line.action !== 'token-grant');
    const lines = await waitFor('a new audit line', async () => {
      const all = parseAuditLines(await readAuditText(auditFile));
      return sinceSeen(all).length > 0 ? all : undefined;
    });
    const fresh = sinceSeen(lines);
    seen = lines.length;
    return fresh;
  }

  /** Offers `token` at the three doors; each must be the generic 401 with an audit line naming `check`. */
  async function assertRefusedEverywhere(token: string, check: string, what: string, withBasic = true): Promise<void> {
    const doors: Array<[string, () => Promise<Answer>]> = [
      ['Basic at /auth/token', () => call(gate, `/auth/token?service=${SERVICE}`, { authorization: basicOf(token) })],
      [
        'password grant',
        () => call(gate, '/auth/token', { form: { grant_type: 'password', username: 'ci', password: token, service: SERVICE } }),
      ],
      [
        'token exchange',
        () =>
          call(gate, '/auth/token', {
            form: {
              grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
              subject_token: token,
              subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
              service: SERVICE,
            },
          }),
      ],
    ];
    for (const [door, send] of withBasic ? doors : doors.slice(1)) {
      const answer = await send();
      assert.equal(answer.status, 401, `${what} (${door}): ${answer.body}`);
      assert.ok(!answer.body.includes(check), `${what} (${door}): the client is not told which check failed`);
      const lines = await newAuditLines();
      assert.equal(lines.length, 1, `${what} (${door}): one audit line`);
      const line = lines[0] as AuditLine;
      assert.equal(line.reason, 'invalid-federated-token', `${what} (${door})`);
      assert.equal(line.check, check, `${what} (${door})`);
      assert.ok(!JSON.stringify(line).includes(token.slice(-20)), `${what} (${door}): the token is not in the trail`);
    }
  }

  before(async () => {
    dir = await makeTempDir('rg-federation-hostile-');
    tls = await makeTlsPair(join(dir, 'tls'));
    issuers = await startIssuers(join(dir, 'issuers'));
    gate = await startFederatedGate(join(dir, 'gate'), tls, issuers, {
      auth: { scheme: 'bearer', token: { service: SERVICE, keyDir: join(dir, 'keys') } },
    });
    auditFile = join(dir, 'gate', 'audit.log');
    // The keys are at hand before the hostile tokens arrive (the gateway fetches them at start).
    await waitFor('the first JWKS fetch', () => (issuers.github.requests.get('/jwks') ?? 0) > 0);
  });

  after(async () => {
    await gate.stop();
    await issuers.stop();
    await removeDir(dir);
  });

  test('a good token passes every door (so each refusal below is the check it names)', async () => {
    const token = await issuers.github.github('octo-org/app', AUDIENCE);
    assert.equal((await call(gate, `/auth/token?service=${SERVICE}`, { authorization: basicOf(token) })).status, 200);
    const exchanged = await call(gate, '/auth/token', {
      form: {
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: token,
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        service: SERVICE,
        scope: 'repository:ci/octo-org/app/web:pull,push',
      },
    });
    assert.equal(exchanged.status, 200, exchanged.body);
    const body = JSON.parse(exchanged.body) as Record<string, unknown>;
    assert.equal(body.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
    assert.equal(body.scope, 'repository:ci/octo-org/app/web:pull,push');
    assert.notEqual(body.access_token, token);
    seen = parseAuditLines(await readAuditText(auditFile)).length;
  });

  test("wrong audience, wrong issuer, another issuer's key", async () => {
    await assertRefusedEverywhere(await issuers.github.github('octo-org/app', 'https://other.example'), 'audience', 'wrong audience');
    const foreign = await issuers.github.github('octo-org/app', AUDIENCE, {}, { issuer: 'https://issuer.invalid' });
    await assertRefusedEverywhere(foreign, 'issuer', 'an issuer nobody trusts');
    const stolenKey = await issuers.github.github('octo-org/app', AUDIENCE, {}, { key: issuers.kubernetes.signingKey() });
    await assertRefusedEverywhere(stolenKey, 'signature', "signed with another issuer's key");
  });

  test('expired, not yet valid, issued in the future (beyond the 60 s skew)', async () => {
    await assertRefusedEverywhere(
      await issuers.github.github('octo-org/app', AUDIENCE, {}, { expiresIn: -120, issuedAt: -600 }),
      'expired',
      'expired',
    );
    await assertRefusedEverywhere(
      await issuers.github.github('octo-org/app', AUDIENCE, {}, { notBefore: 300 }),
      'not-yet-valid',
      'nbf ahead',
    );
    const future = await issuers.github.github('octo-org/app', AUDIENCE, {}, { issuedAt: 300, notBefore: -5, expiresIn: 900 });
    await assertRefusedEverywhere(future, 'issued-in-the-future', 'iat ahead');
  });

  test('alg none, and HS256 with the public key as the secret', async () => {
    const now = Math.floor(Date.now() / 1000);
    const payload = { iss: issuers.github.url, sub: 'repo:octo-org/app:ref:refs/heads/main', aud: AUDIENCE, iat: now, exp: now + 300 };
    const claims = { ...payload, repository: 'octo-org/app', repository_owner: 'octo-org', ref: 'refs/heads/main' };
    await assertRefusedEverywhere(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`, 'algorithm', 'alg none');
    const jwk = issuers.github.publicJwk();
    const pem = await exportSPKI((await importJWK(jwk, 'RS256', { extractable: true })) as KeyObject);
    for (const secret of [pem, JSON.stringify(jwk)]) {
      const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: jwk.kid ?? '' }).sign(new TextEncoder().encode(secret));
      await assertRefusedEverywhere(hs, 'algorithm', 'HS256 keyed with the public key');
    }
  });

  test('made-up kids never make the gateway fetch the keys more than once per interval', async () => {
    const fetchesBefore = issuers.github.requests.get('/jwks') ?? 0;
    const started = performance.now();
    for (let index = 0; index < 30; index += 1) {
      const token = await issuers.github.github('octo-org/app', AUDIENCE, {}, { kid: `made-up-${index}` });
      const answer = await call(gate, `/auth/token?service=${SERVICE}`, { authorization: basicOf(token) });
      assert.equal(answer.status, 401);
    }
    const lines = await waitFor('30 audit lines', async () => {
      const all = parseAuditLines(await readAuditText(auditFile));
      return all.length >= seen + 30 ? all : undefined;
    });
    assert.deepEqual(new Set(lines.slice(seen).map((line) => line.check)), new Set(['unknown-key']));
    seen = lines.length;
    const elapsedIntervals = Math.ceil((performance.now() - started) / MIN_FETCH_INTERVAL_MS);
    const fetched = (issuers.github.requests.get('/jwks') ?? 0) - fetchesBefore;
    assert.ok(fetched <= elapsedIntervals, `${fetched} JWKS fetches in ${elapsedIntervals} interval(s) for 30 tokens`);
  });

  test('conditions are byte for byte: case folding and Unicode look-alikes never meet them', async () => {
    for (const owner of ['Octo-Org', 'OCTO-ORG', '\u043ecto-org', 'octo-org\u200b', 'ｏcto-org']) {
      const token = await issuers.github.github(`${owner}/app`, AUDIENCE);
      await assertRefusedEverywhere(token, 'condition:repository_owner', `owner ${JSON.stringify(owner)}`);
    }
  });

  test('arrays and objects where strings are expected are refused', async () => {
    const arrayOwner = await issuers.github.github('octo-org/app', AUDIENCE, { repository_owner: ['octo-org'] });
    await assertRefusedEverywhere(arrayOwner, 'condition:repository_owner', 'repository_owner as an array');
    const objectRepository = await issuers.github.github('octo-org/app', AUDIENCE, { repository: { toString: 'octo-org/app' } });
    await assertRefusedEverywhere(objectRepository, 'claim:repository', 'repository as an object');
    const arrayRepository = await issuers.github.github('octo-org/app', AUDIENCE, { repository: ['octo-org/app', 'octo-org/other'] });
    await assertRefusedEverywhere(arrayRepository, 'claim:repository', 'repository as an array');
  });

  test('a claim that is not a valid repository name matches no rule: a token, with nothing in it', async () => {
    const token = await issuers.github.github('octo-org/App', AUDIENCE);
    const answer = await call(gate, `/auth/token?service=${SERVICE}&scope=repository:ci/octo-org/app/web:pull,push`, {
      authorization: basicOf(token),
    });
    assert.equal(answer.status, 200, answer.body);
    assert.equal((JSON.parse(answer.body) as { scope: string }).scope, '');
  });

  test('oversized tokens are refused before anything decodes them, never with a 5xx', async () => {
    const real = await issuers.github.github('octo-org/app', AUDIENCE);
    const [head, , signature] = real.split('.');
    const padded = `${head}.${b64({ iss: issuers.github.url, pad: 'x'.repeat(7000) })}.${signature}`;
    // In a Basic header it exceeds the header cap (8 KB): refused as a malformed header before it is decoded.
    const basic = await call(gate, `/auth/token?service=${SERVICE}`, { authorization: basicOf(padded) });
    assert.equal(basic.status, 401);
    assert.equal((await newAuditLines())[0]?.reason, 'invalid-credentials');
    await assertRefusedEverywhere(padded, 'too-large', 'a 10 KB token in a form', false);
    const huge = `${head}.${'A'.repeat(1024 * 1024)}.${signature}`;
    const viaHeader = await call(gate, `/auth/token?service=${SERVICE}`, { authorization: basicOf(huge) });
    assert.ok(viaHeader.status >= 400 && viaHeader.status < 500, `1 MB in a header: ${viaHeader.status}`);
    const viaForm = await call(gate, '/auth/token', { form: { grant_type: 'password', username: 'ci', password: huge, service: SERVICE } });
    assert.equal(viaForm.status, 413, '1 MB in a form');
  });
});

describe('an issuer that is slow or down', () => {
  let dir: string;
  let tls: TlsPair;
  let issuers: Issuers;
  let slow: TestIssuer;
  let gate: TestGate;
  let down: string;

  before(async () => {
    dir = await makeTempDir('rg-federation-unavailable-');
    tls = await makeTlsPair(join(dir, 'tls'));
    issuers = await startIssuers(join(dir, 'issuers'));
    slow = await startIssuer(join(dir, 'slow'));
    slow.delayMs = 30_000;
    down = `https://127.0.0.1:${await freePort()}`;
    const policies = [
      ...trustPolicies(issuers),
      { name: 'slow', issuer: slow.url, audience: AUDIENCE, ca: slow.tls.caFile, user: 'slow:${claims.sub}' },
      { name: 'down', issuer: down, audience: AUDIENCE, user: 'down:${claims.sub}' },
    ];
    gate = await startFederatedGate(join(dir, 'gate'), tls, issuers, { auth: { federation: policies } });
  });

  after(async () => {
    await gate.stop();
    await slow.stop();
    await issuers.stop();
    await removeDir(dir);
  });

  test('503 with Retry-After in bounded time, never a hang and never a "wrong password"', async () => {
    const slowToken = await slow.mint({ sub: 'job', aud: AUDIENCE });
    const downToken = await slow.mint({ sub: 'job', aud: AUDIENCE }, { issuer: down });
    for (const [what, token] of [
      ['slow', slowToken],
      ['down', downToken],
    ] as const) {
      const started = performance.now();
      const answer = await request(`${gate.url}/v2/`, { dispatcher: gate.dispatcher, headers: { authorization: basicOf(token) } });
      await answer.body.dump();
      assert.equal(answer.statusCode, 503, what);
      assert.ok(answer.headers['retry-after'], `${what}: Retry-After`);
      assert.ok(performance.now() - started < 5000, `${what}: answered within the fetch deadline`);
    }
  });
});
