/**
 * Personal access tokens in the UI: any user signed in with a provider that can vouch for them
 * later (htpasswd, LDAP, or the OpenID provider with a refresh token) makes tokens for
 * themself — a name, repository patterns and actions, an expiry no later than auth.tokens.maxLifetime
 * — sees the secret once, lists them with their last use, and revokes them; members of
 * ui.adminGroup also see every user's and revoke all of one user's. Robots and a trusted SSO
 * proxy's users get none: nothing could tell later that they are still there. Every create and
 * revoke, and every refused admin action, is audited with `"source":"ui"`.
 */
import type { TokenOwnerProvider } from '../auth/personal-tokens/records.js';
import { TOKEN_OWNER_PROVIDERS } from '../auth/personal-tokens/records.js';
import type { UiRequest } from './context.js';
import { html } from './html.js';
import { notice } from './pages/layout.js';
import { messagePage } from './pages/message.js';
import { tokensPage, TOKENS_PATH, type ExpiryChoice, type TokensView } from './pages/tokens.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const OFFERED_DAYS = [1, 7, 30, 60, 90, 180, 365];
const MAX_PATTERN_LINES = 16;

/** The expiries offered: the usual ones up to auth.tokens.maxLifetime, and that maximum itself. */
export function expiryChoices(maxLifetimeMs: number): ExpiryChoice[] {
  const choices: ExpiryChoice[] = OFFERED_DAYS.filter((days) => days * DAY_MS <= maxLifetimeMs).map((days) => ({
    value: `${days}d`,
    label: days === 1 ? '1 day' : `${days} days`,
    ms: days * DAY_MS,
  }));
  if (!choices.some((choice) => choice.ms === maxLifetimeMs)) {
    const label = maxLifetimeMs % DAY_MS === 0 ? `${maxLifetimeMs / DAY_MS} days` : `${Math.floor(maxLifetimeMs / HOUR_MS)} hours`;
    choices.push({ value: 'max', label: `${label} (the longest allowed)`, ms: maxLifetimeMs });
  }
  return choices;
}

/** Why the caller cannot make tokens, or undefined when they can. */
function cannotCreate(request: UiRequest): string | undefined {
  const { identity, services } = request;
  const tokens = services.options.personalTokens;
  if (!tokens.enabled) return 'Access tokens are turned off on this registry.';
  if (!(TOKEN_OWNER_PROVIDERS as readonly string[]).includes(identity.via))
    return 'Tokens are for people who sign in with a password or the single sign-on button; this sign-in cannot be checked again later.';
  if (identity.via === 'oidc' && identity.user !== null && !services.options.oidc?.accounts.canRecheck(identity.user))
    return 'Your identity provider did not allow offline access (a refresh token), so a token could not be checked against it later. Ask an administrator.';
  return undefined;
}

async function view(request: UiRequest, extra: Partial<TokensView> = {}): Promise<TokensView> {
  const { services, identity } = request;
  const tokens = services.options.personalTokens;
  const admin = services.decisions.isAdmin(identity);
  return {
    tokens: await tokens.list(identity.user ?? ''),
    allTokens: admin ? await tokens.list() : undefined,
    cannotCreate: cannotCreate(request),
    expiries: expiryChoices(tokens.maxLifetimeMs),
    ...extra,
  };
}

/** False (after answering) for a caller who is not signed in. */
function signedIn(request: UiRequest): boolean {
  if (request.identity.user !== null) return true;
  request.redirect(`/ui/login?return=${encodeURIComponent(TOKENS_PATH)}`);
  return false;
}

export async function showTokens(request: UiRequest): Promise<void> {
  if (!signedIn(request)) return;
  const revoked = request.query.get('revoked');
  const message = revoked ? notice('ok', html`Revoked ${revoked}.`) : undefined;
  request.page(200, tokensPage(request.frame, await view(request, { message })));
}

function requestedScopes(form: URLSearchParams): { scopes: string[]; problem?: string } {
  const patterns = (form.get('repositories') ?? '')
    .slice(0, 4096)
    .split(/[\r\n]+/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (patterns.length > MAX_PATTERN_LINES) return { scopes: [], problem: `at most ${MAX_PATTERN_LINES} repository patterns` };
  const actions = form.getAll('actions').filter((action) => ['pull', 'push', 'delete'].includes(action));
  const scopes = actions.length > 0 ? patterns.map((pattern) => `repository:${pattern}:${[...new Set(actions)].join(',')}`) : [];
  if (form.get('catalog') === 'yes') scopes.push('registry:catalog:*');
  if (patterns.length > 0 && actions.length === 0) return { scopes, problem: 'choose at least one action for the repositories' };
  return { scopes };
}

export async function createToken(request: UiRequest): Promise<void> {
  if (!signedIn(request)) return;
  const { form, identity, services } = request;
  const tokens = services.options.personalTokens;
  const name = (form.get('name') ?? '').slice(0, 256);
  const formValues = {
    name,
    repositories: (form.get('repositories') ?? '').slice(0, 4096),
    actions: form.getAll('actions'),
    catalog: form.get('catalog') === 'yes',
  };
  const refuse = async (status: number, problem: string) =>
    request.page(status, tokensPage(request.frame, await view(request, { message: notice('error', problem), form: formValues })));
  const reason = cannotCreate(request);
  if (reason) return refuse(403, reason);
  const expiry = expiryChoices(tokens.maxLifetimeMs).find((choice) => choice.value === form.get('expires'));
  if (!expiry) return refuse(400, 'Choose one of the offered expiries.');
  const { scopes, problem } = requestedScopes(form);
  if (problem) return refuse(400, problem);
  let created;
  try {
    created = await tokens.create({
      owner: identity.user as string,
      via: identity.via as TokenOwnerProvider,
      ownerId: identity.subjectId,
      // The session's subject was re-checked for this request: this is the owner's credential now.
      credentialStamp: identity.credentialStamp,
      name,
      scopes,
      expires: new Date(Date.now() + expiry.ms),
    });
  } catch (error) {
    // The store's messages name the problem with the input (never a secret).
    return refuse(400, error instanceof Error ? error.message : 'the token could not be made');
  }
  request.audit({
    method: 'POST',
    action: 'token-create',
    repository: '',
    decision: 'allow',
    rule: -1,
    status: 201,
    tokenId: created.token.id,
  });
  request.page(201, tokensPage(request.frame, await view(request, { created: { name: created.token.name, secret: created.secret } })));
}

export async function revokeToken(request: UiRequest): Promise<void> {
  if (!signedIn(request)) return;
  const owner = request.identity.user as string;
  const id = request.form.get('id') ?? '';
  const removed = await request.services.options.personalTokens.revoke((token) => token.id === id && token.owner === owner);
  const token = removed[0];
  if (!token) {
    request.page(404, tokensPage(request.frame, await view(request, { message: notice('error', 'You have no such token.') })));
    return;
  }
  request.audit({ method: 'POST', action: 'token-revoke', repository: '', decision: 'allow', rule: -1, status: 200, tokenId: token.id });
  request.redirect(`${TOKENS_PATH}?revoked=${encodeURIComponent(token.name)}`);
}

/** An admin revokes every token of one user. */
export async function revokeAllTokens(request: UiRequest): Promise<void> {
  const { services, identity } = request;
  const owner = (request.form.get('user') ?? '').slice(0, 256);
  if (!services.decisions.isAdmin(identity)) {
    request.audit({
      method: 'POST',
      action: 'token-revoke',
      repository: '',
      decision: 'deny',
      rule: -1,
      status: 404,
      reason: 'not-admin',
      owner,
    });
    request.page(404, messagePage(request.frame, 'Not found', 'No such page, or you may not see it.'));
    return;
  }
  const removed = await services.options.personalTokens.revoke((token) => token.owner === owner);
  for (const token of removed)
    request.audit({
      method: 'POST',
      action: 'token-revoke',
      repository: '',
      decision: 'allow',
      rule: -1,
      status: 200,
      tokenId: token.id,
      owner,
    });
  request.redirect(`${TOKENS_PATH}?revoked=${encodeURIComponent(`${removed.length} token${removed.length === 1 ? '' : 's'} of ${owner}`)}`);
}
