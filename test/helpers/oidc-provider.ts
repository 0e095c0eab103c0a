/**
 * A real OpenID Provider for the tests: `oidc-provider` (panva's certified implementation) over
 * TLS with its own test CA, on a loopback port. It knows accounts with `preferred_username` and
 * `groups` (in the `groups` scope), issues refresh tokens for `offline_access` (and rotates them on
 * every use, so the gateway must keep the newest), and offers RP-initiated logout.
 *
 * What tests change mid-run, as an administrator of the provider would: `disable` an account (its
 * `findAccount` answers nothing, so a refresh-token grant fails with invalid_grant), change its
 * groups, `rotateKeys` (a new signing key; the old one is no longer published).
 *
 * The login and consent pages are this helper's own (oidc-provider leaves them to the host): a
 * plain form for user name and password, and consent granted at once for whatever the client
 * asked. A browser fills the form; `signInThroughProvider` does the same with HTTP requests and
 * cookies, following the redirects from the gateway's login to its callback.
 *
 * The provider's state (sessions, grants, codes, tokens) lives in one store per helper, kept when
 * the provider is made anew (a key rotation, a client registered): oidc-provider's own in-memory
 * adapter makes a new store per instance, which would lose every grant at a rotation.
 *
 * oidc-provider prints a warning on Node 20 (it wants 22) and runs.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { type Configuration } from 'oidc-provider';
import type { Dispatcher } from 'undici';
import { makeTlsPair, trustingAgent, type TlsPair } from './tls.js';

async function readBodyText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface OpAccount {
  readonly password: string;
  groups: string[];
  enabled: boolean;
  /** The `sub`; stays when the account is renamed. */
  readonly sub: string;
  username: string;
}

export interface TestOp {
  readonly issuer: string;
  readonly tls: TlsPair;
  readonly clientId: string;
  /** A file holding the client secret, for auth.oidc.clientSecretFile. */
  readonly clientSecretFile: string;
  readonly clientSecret: string;
  readonly accounts: Map<string, OpAccount>;
  /** Trusts the provider's CA. */
  readonly dispatcher: Dispatcher;
  /** Registers the gateway (its callback and where logout returns to); the provider is made anew. */
  registerClient(gateUrl: string): void;
  disable(username: string): void;
  setGroups(username: string, groups: string[]): void;
  rotateKeys(): Promise<void>;
  /** How many refresh-token grants the provider answered (granted or refused). */
  readonly refreshGrants: number;
  /** Every access, ID and refresh token the token endpoint handed out (for tests that no log holds one). */
  readonly issued: readonly string[];
  stop(): Promise<void>;
}

type Payload = Record<string, unknown> & { grantId?: string; uid?: string; userCode?: string; consumed?: number };

/** oidc-provider's adapter interface over one Map shared by every provider instance of a helper. */
function sharedAdapter(store: Map<string, Payload>) {
  return (model: string) => ({
    upsert(id: string, payload: Payload) {
      store.set(`${model}:${id}`, payload);
      return Promise.resolve();
    },
    find: (id: string) => Promise.resolve(store.get(`${model}:${id}`)),
    findByUid: (uid: string) =>
      Promise.resolve([...store.entries()].find(([key, value]) => key.startsWith(`${model}:`) && value.uid === uid)?.[1]),
    findByUserCode: (code: string) =>
      Promise.resolve([...store.entries()].find(([key, value]) => key.startsWith(`${model}:`) && value.userCode === code)?.[1]),
    consume(id: string) {
      const payload = store.get(`${model}:${id}`);
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      return Promise.resolve();
    },
    destroy(id: string) {
      store.delete(`${model}:${id}`);
      return Promise.resolve();
    },
    revokeByGrantId(grantId: string) {
      for (const [key, value] of store) if (value.grantId === grantId) store.delete(key);
      return Promise.resolve();
    },
  });
}

async function signingKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid: randomBytes(6).toString('hex'), alg: 'RS256', use: 'sig' };
}

function loginPage(uid: string, error = ''): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test IdP sign-in</title></head><body>
<h1>Test IdP</h1>${error ? `<p role="alert">${error}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<label for="username">Username</label><input id="username" name="username" autocomplete="username">
<label for="password">Password</label><input id="password" name="password" type="password">
<button type="submit">Sign in</button></form></body></html>`;
}

/** What the provider instances of one helper share (a new instance is made for a key rotation or a client). */
interface OpState {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly accounts: Map<string, OpAccount>;
  readonly cookieKeys: string[];
  readonly store: Map<string, Payload>;
  readonly issued: string[];
  keys: JWK[];
  gateUrl: string | undefined;
  refreshGrants: number;
}

function providerConfiguration(state: OpState): Configuration {
  const { gateUrl } = state;
  return {
    clients: gateUrl
      ? [
          {
            client_id: state.clientId,
            client_secret: state.clientSecret,
            redirect_uris: [`${gateUrl}/ui/oidc/callback`],
            post_logout_redirect_uris: [`${gateUrl}/ui/`],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: 'client_secret_basic',
          },
        ]
      : [],
    findAccount: (_ctx, sub) => {
      const account = [...state.accounts.values()].find((known) => known.sub === sub);
      if (!account?.enabled) return undefined;
      return { accountId: sub, claims: () => ({ sub, preferred_username: account.username, groups: [...account.groups] }) };
    },
    claims: { openid: ['sub'], profile: ['preferred_username'], groups: ['groups'] },
    scopes: ['openid', 'offline_access', 'profile', 'groups'],
    features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    jwks: { keys: state.keys },
    adapter: sharedAdapter(state.store),
    cookies: { keys: state.cookieKeys },
    rotateRefreshToken: true,
    ttl: { Interaction: 600, Session: 3600, Grant: 86_400, AccessToken: 600, RefreshToken: 86_400, IdToken: 600 },
    pkce: { required: () => true },
  };
}

function makeProvider(state: OpState): Provider {
  const made = new Provider(state.issuer, providerConfiguration(state));
  type GrantContext = { body?: unknown; oidc?: { params?: Record<string, unknown> } };
  const count = (ctx: GrantContext) => {
    if (ctx.oidc?.params?.grant_type === 'refresh_token') state.refreshGrants += 1;
  };
  made.on('grant.success', (ctx: GrantContext) => {
    count(ctx);
    const body = (ctx.body ?? {}) as Record<string, unknown>;
    for (const name of ['access_token', 'id_token', 'refresh_token']) if (typeof body[name] === 'string') state.issued.push(body[name]);
  });
  made.on('grant.error', count);
  return made;
}

/** The login form, the login, and consent to whatever the client asked for. */
async function interaction(state: OpState, provider: Provider, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'POST' && req.url?.endsWith('/login')) {
    const form = new URLSearchParams(await readBodyText(req));
    const account = state.accounts.get(form.get('username') ?? '');
    if (!account || !account.enabled || account.password !== form.get('password')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(loginPage(details.uid, 'Wrong user name or password.'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
    return;
  }
  if (details.prompt.name === 'login') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(loginPage(details.uid));
    return;
  }
  const accountId = details.session?.accountId as string;
  const grant = details.grantId
    ? ((await provider.Grant.find(details.grantId)) as InstanceType<Provider['Grant']>)
    : new provider.Grant({ accountId, clientId: details.params.client_id as string });
  const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

export async function startTestOp(dir: string, accounts: Record<string, { password: string; groups: string[] }>): Promise<TestOp> {
  const tls = await makeTlsPair(join(dir, 'op-tls'));
  const clientSecret = randomBytes(24).toString('base64url');
  const clientSecretFile = join(dir, 'op-client-secret');
  await writeFile(clientSecretFile, `${clientSecret}\n`, { mode: 0o600 });
  const server: Server = createServer({ cert: tls.certPem, key: tls.keyPem });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const state: OpState = {
    issuer: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    clientId: 'registry-gate',
    clientSecret,
    accounts: new Map(
      Object.entries(accounts).map(([username, account]) => [
        username,
        { ...account, groups: [...account.groups], enabled: true, sub: `sub-${randomBytes(4).toString('hex')}`, username },
      ]),
    ),
    cookieKeys: [randomBytes(32).toString('hex')],
    store: new Map(),
    issued: [],
    keys: [await signingKey()],
    gateUrl: undefined,
    refreshGrants: 0,
  };
  let provider = makeProvider(state);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!(req.url ?? '/').startsWith('/interaction/')) {
      void provider.callback()(req, res);
      return;
    }
    interaction(state, provider, req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(error instanceof Error ? error.message : String(error));
    });
  });
  const account = (username: string) => state.accounts.get(username) ?? assert.fail(`no account ${username}`);
  return {
    issuer: state.issuer,
    tls,
    clientId: state.clientId,
    clientSecret,
    clientSecretFile,
    accounts: state.accounts,
    dispatcher: trustingAgent(tls.caPem),
    registerClient(url) {
      state.gateUrl = url;
      provider = makeProvider(state);
    },
    disable(username) {
      account(username).enabled = false;
    },
    setGroups(username, groups) {
      account(username).groups = [...groups];
    },
    async rotateKeys() {
      state.keys = [await signingKey()];
      provider = makeProvider(state);
    },
    get refreshGrants() {
      return state.refreshGrants;
    },
    issued: state.issued,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
