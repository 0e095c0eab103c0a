/**
 * Personal access tokens: a signed-in user's own (list with last use, create with the secret shown
 * once, revoke), and for members of ui.adminGroup every user's, with "revoke all of this user's".
 */
import type { TokenListing } from '../../auth/personal-tokens/provider.js';
import { html, type Html } from '../html.js';
import { copyButton, csrfField, layout, notice, table, time, type Frame } from './layout.js';

export const TOKENS_PATH = '/ui/tokens';

/** An expiry offered in the form: its form value, label and length. */
export interface ExpiryChoice {
  readonly value: string;
  readonly label: string;
  readonly ms: number;
}

export interface TokensView {
  readonly tokens: readonly TokenListing[];
  /** Every user's tokens, for an admin. */
  readonly allTokens?: readonly TokenListing[] | undefined;
  readonly message?: Html | undefined;
  /** Why this user cannot make tokens, when they cannot (the form is not shown). */
  readonly cannotCreate?: string | undefined;
  readonly expiries: readonly ExpiryChoice[];
  /** Just created: shown on this response only. */
  readonly created?: { readonly name: string; readonly secret: string } | undefined;
  /** The form's values after a refused create. */
  readonly form?:
    { readonly name: string; readonly repositories: string; readonly actions: readonly string[]; readonly catalog: boolean } | undefined;
}

const ACTIONS = ['pull', 'push', 'delete'] as const;

function lastUsed(token: TokenListing): Html {
  if (!token.lastUsed) return html`never`;
  return html`${time(new Date(token.lastUsed.at))} <span class="muted">from ${token.lastUsed.client}</span>`;
}

function scopes(token: TokenListing): Html {
  return html`${token.scopes.map((scope) => html`<code>${scope}</code> `)}`;
}

function createdNotice(frame: Frame, created: { name: string; secret: string }): Html {
  const user = frame.identity.user ?? 'USER';
  const login = `docker login ${frame.registryHost} -u '${user}' --password-stdin`;
  return html`<section class="secret" aria-labelledby="secret-title">
<h2 id="secret-title">Created ${created.name}</h2>
<p>The token is shown this once; registry-gate keeps only a hash of it. Store it now.</p>
<p class="secret-line"><code id="token-secret">${created.secret}</code>${copyButton(created.secret, `Copy the token ${created.name}`)}</p>
<p>Log in with <code>${login}</code> and the token on standard input; the user name must be <code>${user}</code>.</p>
</section>`;
}

function ownTable(frame: Frame, tokens: readonly TokenListing[]): Html {
  if (tokens.length === 0) return notice('info', 'You have no access tokens.');
  const rows = tokens.map(
    (token) => html`<tr><th scope="row">${token.name}</th>
<td data-label="Scopes">${scopes(token)}</td>
<td data-label="Created">${time(new Date(token.created))}</td>
<td data-label="Expires">${time(new Date(token.endsAt))}</td>
<td data-label="Last used">${lastUsed(token)}</td>
<td data-label="Actions" class="actions"><form method="post" action="/ui/tokens/revoke" class="inline" data-confirm="${`Revoke ${token.name}? Whatever uses it stops working.`}">
${csrfField(frame)}<input type="hidden" name="id" value="${token.id}"><button type="submit" class="danger" aria-label="${`Revoke ${token.name}`}">Revoke</button></form></td></tr>`,
  );
  return table('Your access tokens', ['Name', 'Scopes', 'Created', 'Expires', 'Last used', 'Actions'], rows, 'tokens');
}

function adminSection(frame: Frame, tokens: readonly TokenListing[]): Html {
  const owners = [...new Set(tokens.map((token) => token.owner))].sort();
  const rows = tokens.map(
    (token) => html`<tr><th scope="row">${token.owner}</th><td data-label="Name">${token.name}</td>
<td data-label="Scopes">${scopes(token)}</td><td data-label="Expires">${time(new Date(token.endsAt))}</td><td data-label="Last used">${lastUsed(token)}</td></tr>`,
  );
  const revokeAll = owners.map(
    (
      owner,
    ) => html`<li><form method="post" action="/ui/tokens/revoke-all" class="inline" data-confirm="${`Revoke every token of ${owner}?`}">
${csrfField(frame)}<input type="hidden" name="user" value="${owner}"><button type="submit" class="danger" aria-label="${`Revoke every token of ${owner}`}">Revoke all of ${owner}'s</button></form></li>`,
  );
  return html`<section aria-labelledby="all-tokens"><h2 id="all-tokens">Every user's tokens</h2>
${rows.length ? table("Every user's access tokens", ['Owner', 'Name', 'Scopes', 'Expires', 'Last used'], rows, 'tokens') : notice('info', 'Nobody has an access token.')}
${revokeAll.length ? html`<ul class="plain">${revokeAll}</ul>` : ''}
</section>`;
}

function createForm(frame: Frame, view: TokensView): Html {
  const form = view.form;
  const checked = (action: string) => (form ? form.actions.includes(action) : action === 'pull');
  return html`<section aria-labelledby="create"><h2 id="create">Create an access token</h2>
<form method="post" action="/ui/tokens" class="stack">
${csrfField(frame)}
<label for="token-name">Name</label>
<input id="token-name" name="name" required maxlength="64" value="${form?.name ?? ''}" aria-describedby="token-name-help" spellcheck="false">
<p id="token-name-help" class="muted">What it is for, e.g. <code>laptop</code> or <code>build server</code>.</p>
<label for="token-repositories">Repositories, one pattern per line</label>
<textarea id="token-repositories" name="repositories" rows="3" aria-describedby="token-repositories-help" spellcheck="false">${form?.repositories ?? ''}</textarea>
<p id="token-repositories-help" class="muted">For example <code>team-a/*</code> (within one level) or <code>team-a/**</code> (all below). The token never does more than you may do yourself.</p>
<fieldset><legend>Actions</legend>
${ACTIONS.map((action) => html`<label class="check"><input type="checkbox" name="actions" value="${action}"${checked(action) ? html` checked` : ''}> ${action}</label>`)}
<label class="check"><input type="checkbox" name="catalog" value="yes"${form?.catalog ? html` checked` : ''}> list the repositories (catalog)</label>
</fieldset>
<label for="token-expires">Expires after</label>
<select id="token-expires" name="expires">${view.expiries.map(
    (choice, index) =>
      html`<option value="${choice.value}"${index === Math.min(2, view.expiries.length - 1) ? html` selected` : ''}>${choice.label}</option>`,
  )}</select>
<button type="submit">Create</button>
</form></section>`;
}

export function tokensPage(frame: Frame, view: TokensView): Html {
  const body = html`<h1>Access tokens</h1>
<p class="lead muted">For <code>docker login</code> and other registry clients: your user name and a token instead of your password. A token acts as you, limited to its repositories and actions, and stops when you can no longer sign in.</p>
${view.message ?? ''}
${view.created ? createdNotice(frame, view.created) : ''}
${ownTable(frame, view.tokens)}
${view.cannotCreate ? notice('info', view.cannotCreate) : createForm(frame, view)}
${view.allTokens ? adminSection(frame, view.allTokens) : ''}`;
  return layout(frame, 'Access tokens', [{ label: 'Repositories', href: '/ui/' }, { label: 'Access tokens' }], body);
}
