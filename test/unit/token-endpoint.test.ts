/**
 * The token endpoint over a real HTTP server on 127.0.0.1: GET with and without Basic credentials
 * (docs/spec/auth/token.md), the OAuth2 password and refresh grants by POST (oauth.md), partial
 * grants, a wrong service, malformed and oversized bodies, and the JWKS. A failed login is one
 * generic 401 whatever went wrong; a revoked robot's refresh token stops working.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { request } from 'undici';
import { decide } from '../../src/access/decide.js';
import { AccessPolicy } from '../../src/access/policy.js';
import { createAuthenticator } from '../../src/auth/authenticate.js';
import { ProviderChain } from '../../src/auth/chain.js';
import type { AuthOutcome, AuthProvider, Credentials, Identity } from '../../src/auth/identity.js';
import {
  createBearerAuthenticator,
  createRefreshIdentity,
  createRobot,
  MAX_SCOPES,
  revokeRobot,
  RobotProvider,
  SigningKeys,
  TokenService,
} from '../../src/auth/token/index.js';
import { createTokenEndpoint, isTokenPath, JWKS_PATH, realmFromRequest, TOKEN_PATH } from '../../src/gateway/token-endpoint.js';

const users: AuthProvider = {
  name: 'test',
  verify({ user, password }: Credentials): Promise<Identity | null> {
    if (user === 'alice' && password === 'alice-pw') return Promise.resolve({ user, groups: ['pushers'], via: 'htpasswd' });
    if (user === 'bob' && password === 'bob-pw') return Promise.resolve({ user, groups: [], via: 'htpasswd' });
    return Promise.resolve(null);
  },
  lookup(user: string): Promise<AuthOutcome> {
    if (user === 'alice') return Promise.resolve({ result: 'accepted', identity: { user, groups: ['pushers'], via: 'htpasswd' } });
    if (user === 'bob') return Promise.resolve({ result: 'accepted', identity: { user, groups: [], via: 'htpasswd' } });
    return Promise.resolve({ result: 'unknown' });
  },
};

const policy = new AccessPolicy([
  { repository: 'public/**', actions: ['pull'], subjects: ['*'] },
  { repository: '**', actions: ['pull'], subjects: ['authenticated'] },
  { repository: '**', actions: ['pull', 'push'], subjects: ['group:pushers'] },
  { repository: '**', actions: ['pull', 'push'], subjects: ['user:robot$ci'] },
]);

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

interface TokenBody {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  scope: string;
  refresh_token?: string;
}

describe('token endpoint', () => {
  let dir: string;
  let keys: SigningKeys;
  let tokens: TokenService;
  let robots: RobotProvider;
  let robotSecret: string;
  let server: Server;
  let base: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rg-token-endpoint-'));
    keys = await SigningKeys.open({ dir: join(dir, 'keys'), algorithm: 'ES256', watch: false });
    tokens = new TokenService({ issuer: 'gate-issuer', service: 'gate.test', keys });
    const robotsFile = join(dir, 'robots.json');
    robotSecret = (await createRobot(robotsFile, { name: 'ci', scopes: ['repository:team/*:pull,push'], expires: null })).secret;
    robots = await RobotProvider.open({ file: robotsFile });
    const chain = new ProviderChain([robots, users]);
    const authenticate = createAuthenticator(chain, []);
    const endpoint = createTokenEndpoint({
      tokens,
      policy,
      authenticate,
      verifyPassword: (credentials) => chain.verify(credentials),
      realm: 'Registry realm',
      refreshIdentity: createRefreshIdentity((user) => chain.lookup(user), []),
      maxBodyBytes: 4096,
      bodyTimeoutMs: 10_000,
    });
    server = createServer((req, res) => void endpoint(req, res, { clientIp: req.socket.remoteAddress ?? '' }));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    server.close();
    await robots.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function get(query: string, authorization?: string) {
    const res = await request(`${base}${TOKEN_PATH}?${query}`, { headers: authorization ? { authorization } : {} });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      body: JSON.parse(text) as TokenBody & { errors?: Array<{ code: string; message: string }> },
    };
  }

  async function post(form: Record<string, string> | string, contentType = 'application/x-www-form-urlencoded') {
    const body = typeof form === 'string' ? form : new URLSearchParams(form).toString();
    const res = await request(`${base}${TOKEN_PATH}`, { method: 'POST', headers: { 'content-type': contentType }, body });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      body: JSON.parse(text) as TokenBody & { errors?: Array<{ code: string; message: string }> },
    };
  }

  it('knows its paths', () => {
    assert.equal(isTokenPath('/auth/token'), true);
    assert.equal(isTokenPath('/auth/jwks'), true);
    assert.equal(isTokenPath('/auth/token?service=x'), true);
    assert.equal(isTokenPath('/auth/tokens'), false);
    assert.equal(isTokenPath('/v2/'), false);
    assert.equal(realmFromRequest('https', 'gate.example:5043'), 'https://gate.example:5043/auth/token');
    assert.equal(realmFromRequest('http', '[::1]:5043'), 'http://[::1]:5043/auth/token');
    assert.equal(realmFromRequest('https', 'evil"host'), undefined);
    assert.equal(realmFromRequest('https', undefined), undefined);
  });

  it('GET without credentials: an anonymous token with what anonymous callers may do', async () => {
    const { status, headers, body } = await get('service=gate.test&scope=repository:public/base:pull,push&scope=repository:team/app:pull');
    assert.equal(status, 200);
    assert.match(String(headers['content-type']), /^application\/json/);
    assert.equal(headers['cache-control'], 'no-store');
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, 300);
    assert.ok(Math.abs(Date.parse(body.issued_at) - Date.now()) < 5000);
    assert.equal(body.refresh_token, undefined);
    assert.equal(body.scope, 'repository:public/base:pull');
    const claims = decodeJwt(body.token);
    assert.equal(claims.sub, '');
    assert.equal(claims.aud, 'gate.test');
    assert.equal(claims.iss, 'gate-issuer');
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'public/base', actions: ['pull'] }]);
  });

  it('GET with Basic credentials: the intersection, several scopes, and a refresh token with offline_token=true', async () => {
    const { status, body } = await get(
      'service=gate.test&scope=repository:team/app:pull,push&scope=repository:other/x:push%20registry:catalog:*&offline_token=true&account=alice&client_id=docker',
      basic('alice', 'alice-pw'),
    );
    assert.equal(status, 200);
    assert.deepEqual(decodeJwt(body.token).access, [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'other/x', actions: ['push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    assert.ok(body.refresh_token);
    assert.equal((await tokens.verifyRefreshToken(body.refresh_token)).sub, 'alice');

    const bob = await get('service=gate.test&scope=repository:team/app:pull,push', basic('bob', 'bob-pw'));
    assert.equal(bob.status, 200, 'a partial grant is not an error');
    assert.equal(bob.body.scope, 'repository:team/app:pull');
  });

  it('GET with wrong credentials: 401 UNAUTHORIZED with a Basic challenge, whatever was wrong', async () => {
    for (const authorization of [basic('alice', 'nope'), basic('ghost', 'alice-pw'), 'Basic !!!', 'Bearer abc']) {
      const { status, headers, body } = await get('service=gate.test&scope=repository:team/app:pull', authorization);
      assert.equal(status, 401, authorization);
      assert.equal(headers['www-authenticate'], 'Basic realm="Registry realm"');
      assert.deepEqual(body, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
    }
    const account = await get('service=gate.test&account=bob', basic('alice', 'alice-pw'));
    assert.equal(account.status, 401, 'account must be the user who logged in');
  });

  it('refuses a request for another service, or an ambiguous one, with 400', async () => {
    for (const query of [
      'service=other&scope=repository:a:pull',
      'service=gate.test&service=gate.test',
      'service=gate.test&client_id=%01',
    ]) {
      const { status, body } = await get(query);
      assert.equal(status, 400, query);
      assert.equal(body.errors?.[0]?.code, 'UNSUPPORTED');
    }
    assert.equal((await get('scope=repository:public/a:pull')).status, 200, 'GET without service means this one');
  });

  // The attack: one token request naming thousands of scopes makes the gateway decide each one;
  // clients send a handful. More than MAX_SCOPES is a clear 400, before any password is checked.
  it('refuses a request naming more than MAX_SCOPES scopes with 400, by GET and by POST', async () => {
    const scopes = Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `repository:team/r${i}:pull`);
    const query = (list: string[]) => `service=gate.test&${list.map((scope) => `scope=${scope}`).join('&')}`;
    const form = { grant_type: 'password', username: 'alice', password: 'wrong', service: 'gate.test', scope: scopes.join(' ') };
    // The POST's password is wrong: the scopes are refused before it is checked.
    for (const reply of [await get(query(scopes), basic('alice', 'alice-pw')), await post(form)]) {
      assert.equal(reply.status, 400);
      assert.deepEqual(reply.body.errors?.[0], {
        code: 'UNSUPPORTED',
        message: `a token request may name at most ${MAX_SCOPES} scopes`,
        detail: { scopes: MAX_SCOPES + 1, max: MAX_SCOPES },
      });
    }
    assert.equal((await get(query(scopes.slice(1)), basic('alice', 'alice-pw'))).status, 200, 'MAX_SCOPES scopes are taken');
  });

  it('POST password grant: a token, and a refresh token for access_type=offline', async () => {
    const { status, headers, body } = await post({
      grant_type: 'password',
      username: 'alice',
      password: 'alice-pw',
      service: 'gate.test',
      client_id: 'registry-gate-tests',
      access_type: 'offline',
      scope: 'repository:team/app:pull,push repository:team/lib:pull',
    });
    assert.equal(status, 200);
    assert.equal(headers['cache-control'], 'no-store');
    assert.equal(body.scope, 'repository:team/app:pull,push repository:team/lib:pull');
    assert.ok(body.refresh_token);
    const online = await post({ grant_type: 'password', username: 'bob', password: 'bob-pw', service: 'gate.test', client_id: 'x' });
    assert.equal(online.status, 200);
    assert.equal(online.body.refresh_token, undefined);
    assert.equal(online.body.scope, '', 'no scope asked, none granted');
  });

  it('POST password grant with wrong credentials: 401 UNAUTHORIZED', async () => {
    for (const [username, password] of [
      ['alice', 'wrong'],
      ['ghost', 'x'],
      ['', ''],
    ]) {
      const { status, body } = await post({
        grant_type: 'password',
        username: username as string,
        password: password as string,
        service: 'gate.test',
        client_id: 'x',
      });
      assert.equal(status, 401);
      assert.equal(body.errors?.[0]?.code, 'UNAUTHORIZED');
    }
  });

  it('POST refresh grant: new access tokens for the same subject, the same refresh token back', async () => {
    const login = await post({
      grant_type: 'password',
      username: 'alice',
      password: 'alice-pw',
      service: 'gate.test',
      client_id: 'x',
      access_type: 'offline',
    });
    const refreshToken = login.body.refresh_token as string;
    const refreshed = await post({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      service: 'gate.test',
      client_id: 'x',
      scope: 'repository:team/new:push',
      access_type: 'offline',
    });
    assert.equal(refreshed.status, 200);
    assert.equal(decodeJwt(refreshed.body.token).sub, 'alice');
    assert.equal(refreshed.body.scope, 'repository:team/new:push', 'groups were kept: pushers may push');
    assert.equal(refreshed.body.refresh_token, refreshToken);
    const noOffline = await post({ grant_type: 'refresh_token', refresh_token: refreshToken, service: 'gate.test', client_id: 'x' });
    assert.equal(noOffline.body.refresh_token, undefined);

    const [h, p, s] = refreshToken.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...decodeJwt(refreshToken), sub: 'bob' })).toString('base64url')}.${s}`;
    assert.ok(p);
    for (const bad of [tampered, login.body.token, 'garbage']) {
      const { status } = await post({ grant_type: 'refresh_token', refresh_token: bad, service: 'gate.test', client_id: 'x' });
      assert.equal(status, 401);
    }
  });

  it("a robot's refresh token stops working once the robot is revoked", async () => {
    const login = await post({
      grant_type: 'password',
      username: 'robot$ci',
      password: robotSecret,
      service: 'gate.test',
      client_id: 'ci',
      access_type: 'offline',
      scope: 'repository:team/app:pull,push repository:other/app:pull',
    });
    assert.equal(login.status, 200);
    assert.equal(login.body.scope, 'repository:team/app:pull,push', 'limited to its scopes');
    const refreshToken = login.body.refresh_token as string;
    const ok = await post({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      service: 'gate.test',
      client_id: 'ci',
      scope: 'repository:team/app:pull repository:other/app:pull',
    });
    assert.equal(ok.body.scope, 'repository:team/app:pull', 'a refresh keeps the robot limits');
    await revokeRobot(robots.path, 'ci');
    await robots.reload();
    const gone = await post({ grant_type: 'refresh_token', refresh_token: refreshToken, service: 'gate.test', client_id: 'ci' });
    assert.equal(gone.status, 401);
  });

  it('refuses malformed POSTs with 400, 415 or 413', async () => {
    const cases: Array<[Record<string, string> | string, number, string?]> = [
      [{ grant_type: 'password', username: 'alice', password: 'alice-pw', client_id: 'x' }, 400],
      [{ grant_type: 'password', username: 'alice', password: 'alice-pw', service: 'other', client_id: 'x' }, 400],
      [{ grant_type: 'authorization_code', code: 'x', service: 'gate.test', client_id: 'x' }, 400],
      [{ service: 'gate.test', client_id: 'x' }, 400],
      [{ grant_type: 'password', username: 'alice', service: 'gate.test' }, 400],
      ['grant_type=password&grant_type=refresh_token&service=gate.test', 400],
      [{ grant_type: 'password', username: 'alice', password: 'alice-pw', service: 'gate.test' }, 415, 'application/json'],
    ];
    for (const [form, expected, contentType] of cases) {
      const { status, body } = await post(form, contentType);
      assert.equal(status, expected, JSON.stringify(form));
      assert.ok(body.errors?.[0]?.message);
    }
  });

  it('refuses an oversized body, declared or streamed', async () => {
    const big = `grant_type=password&service=gate.test&username=alice&password=${'x'.repeat(10_000)}`;
    const declared = await post(big);
    assert.equal(declared.status, 413);
    function* chunks() {
      for (let i = 0; i < 10; i++) yield Buffer.from('x'.repeat(1000));
    }
    const res = await request(`${base}${TOKEN_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: Readable.from(chunks()),
    });
    await res.body.dump();
    assert.equal(res.statusCode, 413);
    assert.equal(res.headers.connection, 'close');
  });

  it('serves the JWKS, and refuses other methods and paths', async () => {
    const res = await request(`${base}${JWKS_PATH}`);
    assert.equal(res.statusCode, 200);
    const jwks = (await res.body.json()) as { keys: Array<{ kid: string; kty: string }> };
    assert.equal(jwks.keys[0]?.kid, keys.current.kid);
    const put = await request(`${base}${TOKEN_PATH}`, { method: 'PUT', body: '' });
    await put.body.dump();
    assert.equal(put.statusCode, 405);
    assert.equal(put.headers.allow, 'GET, POST');
    const other = await request(`${base}/auth/other`);
    await other.body.dump();
    assert.equal(other.statusCode, 404);
  });

  it('its tokens authenticate at a bearer-mode gateway, limited to what they grant', async () => {
    const { body } = await get('service=gate.test&scope=repository:team/app:pull', basic('alice', 'alice-pw'));
    assert.equal(decodeProtectedHeader(body.token).kid, keys.current.kid);
    const basicMode = createAuthenticator(users, []);
    const bearerMode = createBearerAuthenticator({ tokens, basic: basicMode });
    const authenticate = (authorization: string | undefined) => bearerMode({ authorization, clientIp: '127.0.0.1' });
    const identity = (await authenticate(`Bearer ${body.token}`)) as Identity;
    assert.equal(identity.user, 'alice');
    assert.equal(identity.via, 'token');
    assert.equal(decide(policy, identity, { kind: 'repository', repository: 'team/app', action: 'pull' }).allowed, true);
    assert.deepEqual(
      decide(policy, identity, { kind: 'repository', repository: 'team/app', action: 'push' }),
      { allowed: false, ruleIndex: -1, reason: 'scope' },
      'not in the token',
    );
    assert.equal(await authenticate(`Bearer ${body.token}x`), 'invalid');
    assert.equal(await authenticate(`Bearer ${body.refresh_token ?? 'none'}`), 'invalid');
    assert.equal(((await authenticate(basic('bob', 'bob-pw'))) as Identity).user, 'bob');
    assert.equal(((await authenticate(undefined)) as Identity).user, null);
  });
});
