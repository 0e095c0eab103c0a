/**
 * An OpenID Provider that lies: the attacker-controlled side of the ID token checks. It is a real
 * TLS server (its own test CA) with discovery, a JWKS holding one honest key, an authorization
 * endpoint that sends the browser straight back with a code, and a token endpoint whose ID token is
 * whatever `next` says: valid, or signed by a key it does not publish, expired, for another
 * audience or issuer, unsigned (`alg: none`), or an HMAC keyed with the client secret. No real
 * provider can be made to issue these, which is why this one exists; the code flow around them is
 * the gateway's real one.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import type { Dispatcher } from 'undici';
import { makeTlsPair, trustingAgent, type TlsPair } from './tls.js';

export const ID_TOKEN_SCENARIOS = [
  'valid',
  'forged',
  'forged-unknown-kid',
  'expired',
  'wrong-audience',
  'wrong-issuer',
  'alg-none',
  'hmac-with-client-secret',
] as const;
export type IdTokenScenario = (typeof ID_TOKEN_SCENARIOS)[number];

export interface HostileIdp {
  readonly issuer: string;
  readonly tls: TlsPair;
  readonly clientId: string;
  readonly clientSecretFile: string;
  readonly dispatcher: Dispatcher;
  /** What the token endpoint's next ID token is. */
  next: IdTokenScenario;
  /** Every ID token it handed out (for the test that no log holds one). */
  readonly issued: string[];
  stop(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

interface IdpKeys {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly honest: CryptoKey;
  readonly rogue: CryptoKey;
}

/** The ID token of `scenario`, for the sign-in that sent `nonce`. */
async function idToken(keys: IdpKeys, scenario: IdTokenScenario, nonce: string | undefined): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: JWTPayload = {
    iss: scenario === 'wrong-issuer' ? 'https://evil.example' : keys.issuer,
    aud: scenario === 'wrong-audience' ? 'another-client' : keys.clientId,
    sub: 'mallory-sub',
    preferred_username: 'mallory',
    iat: scenario === 'expired' ? now - 900 : now,
    exp: scenario === 'expired' ? now - 600 : now + 300,
    ...(nonce !== undefined ? { nonce } : {}),
  };
  if (scenario === 'alg-none') {
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
  }
  if (scenario === 'hmac-with-client-secret')
    return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'honest' }).sign(new TextEncoder().encode(keys.clientSecret));
  const forged = scenario === 'forged' || scenario === 'forged-unknown-kid';
  const kid = scenario === 'forged-unknown-kid' ? 'rogue' : 'honest';
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(forged ? keys.rogue : keys.honest);
}

function discovery(issuer: string): Record<string, unknown> {
  return {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256', 'HS256', 'none'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic'],
  };
}

export async function startHostileIdp(dir: string): Promise<HostileIdp> {
  const tls = await makeTlsPair(join(dir, 'hostile-tls'));
  const clientSecret = randomBytes(24).toString('base64url');
  const clientSecretFile = join(dir, 'hostile-client-secret');
  await writeFile(clientSecretFile, clientSecret, { mode: 0o600 });
  const honest = await generateKeyPair('RS256', { extractable: true });
  const rogue = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = { ...(await exportJWK(honest.publicKey)), kid: 'honest', alg: 'RS256', use: 'sig' };
  const nonces = new Map<string, string>();
  const server: Server = createServer({ cert: tls.certPem, key: tls.keyPem });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const keys: IdpKeys = { issuer, clientId: 'registry-gate', clientSecret, honest: honest.privateKey, rogue: rogue.privateKey };
  const idp: HostileIdp = {
    issuer,
    tls,
    clientId: keys.clientId,
    clientSecretFile,
    dispatcher: trustingAgent(tls.caPem),
    next: 'valid',
    issued: [],
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname === '/.well-known/openid-configuration') {
      send(res, 200, discovery(issuer));
      return;
    }
    if (url.pathname === '/jwks') {
      send(res, 200, { keys: [publicJwk] });
      return;
    }
    if (url.pathname === '/authorize') {
      const code = randomBytes(12).toString('base64url');
      nonces.set(code, url.searchParams.get('nonce') ?? '');
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: back.href }).end();
      return;
    }
    if (url.pathname !== '/token' || req.method !== 'POST') {
      send(res, 404, { error: 'not_found' });
      return;
    }
    let body = '';
    for await (const chunk of req as AsyncIterable<Buffer>) body += chunk.toString('utf8');
    const token = await idToken(keys, idp.next, nonces.get(new URLSearchParams(body).get('code') ?? ''));
    idp.issued.push(token);
    send(res, 200, { access_token: randomBytes(16).toString('base64url'), token_type: 'Bearer', expires_in: 300, id_token: token });
  }
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    answer(req, res).catch(() => send(res, 500, { error: 'server_error' }));
  });
  return idp;
}
