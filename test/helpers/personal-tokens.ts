/**
 * Personal access tokens made as a user makes them: through the web UI's form (`/ui/tokens`), with
 * a signed-in UiClient. The secret is read from the one page that shows it.
 */
import assert from 'node:assert/strict';
import type { UiClient, UiReply } from './ui-client.js';

export interface TokenRequest {
  name: string;
  /** Repository patterns, one per line in the form. */
  repositories: string[];
  actions: Array<'pull' | 'push' | 'delete'>;
  /** An offered expiry (`7d`, `30d`, …, or `max`); default `30d`. */
  expires?: string;
  catalog?: boolean;
}

/** Posts the form; the reply as it came. */
export function postTokenForm(ui: UiClient, token: TokenRequest): Promise<UiReply> {
  const form = new URLSearchParams({ name: token.name, repositories: token.repositories.join('\n'), expires: token.expires ?? '30d' });
  for (const action of token.actions) form.append('actions', action);
  if (token.catalog) form.set('catalog', 'yes');
  return ui.csrfToken('/ui/tokens').then((csrf) => {
    form.set('csrf', csrf);
    return ui.call('POST', '/ui/tokens', { body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  });
}

/** The secret a create page shows, if it shows one. */
export function shownSecret(body: string): string | undefined {
  return /<code id="token-secret">(rgpat_[0-9A-Za-z]+)<\/code>/.exec(body)?.[1];
}

/** Makes a token through the form and returns its secret (asserts the 201). */
export async function makePersonalToken(ui: UiClient, token: TokenRequest): Promise<string> {
  const reply = await postTokenForm(ui, token);
  assert.equal(reply.status, 201, `create token ${token.name}: ${reply.status} ${reply.body.slice(0, 2000)}`);
  const secret = shownSecret(reply.body);
  assert.ok(secret, 'the create page shows the secret');
  return secret;
}

/** The public id of the token named `name` on the tokens page (from its revoke form). */
export async function tokenIdByName(ui: UiClient, name: string): Promise<string> {
  const page = await ui.get('/ui/tokens');
  const rows = page.body.split('<tr>');
  const row = rows.find((text) => text.includes(`<th scope="row">${name}</th>`));
  const id = row && /name="id" value="([0-9a-f]{16})"/.exec(row)?.[1];
  assert.ok(id, `token ${name} is listed`);
  return id;
}
