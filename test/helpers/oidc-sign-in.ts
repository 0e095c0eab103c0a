/**
 * Signing in to the gateway through the test OpenID Provider without a browser, as a browser
 * would: the gateway's login redirect (its cookies kept by a UiClient), the provider's pages (its
 * cookies kept here), the login form filled in, the redirects followed until the one back to the
 * gateway's callback. Each step is a function of its own so that tests can stop before the
 * callback and tamper with it (replay it, swap the code, drop the cookie).
 */
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { TestOp } from './oidc-provider.js';
import type { UiClient, UiReply } from './ui-client.js';

const MAX_HOPS = 12;

/** A browser's cookies for the provider's origin (by name; the provider's cookie names differ by path). */
export class ProviderCookies {
  readonly jar = new Map<string, string>();

  header(): Record<string, string> {
    return this.jar.size ? { cookie: [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ') } : {};
  }

  remember(raw: string | string[] | undefined): void {
    for (const line of raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || /max-age=0\b/i.test(line)) this.jar.delete(name);
      else this.jar.set(name, pair.slice(eq + 1).trim());
    }
  }
}

/** The gateway's answer to /ui/oidc/login: where it sends the browser (the provider's authorization URL). */
export async function startSignIn(ui: UiClient, returnTo?: string): Promise<string> {
  const reply = await ui.get(`/ui/oidc/login${returnTo === undefined ? '' : `?return=${encodeURIComponent(returnTo)}`}`);
  assert.equal(reply.status, 302, `the login redirects to the provider: ${reply.status} ${reply.body.slice(0, 500)}`);
  return reply.headers.location as string;
}

/**
 * Through the provider's pages with `username` and `password`, until it sends the browser back to
 * `gateUrl`: that callback URL (not requested).
 */
export async function passProvider(
  op: TestOp,
  authorizeUrl: string,
  credentials: { username: string; password: string },
  gateUrl: string,
  cookies = new ProviderCookies(),
): Promise<URL> {
  let url = authorizeUrl;
  let form: string | undefined;
  for (let hop = 0; hop < MAX_HOPS; hop += 1) {
    const response = await request(url, {
      method: form === undefined ? 'GET' : 'POST',
      headers: { ...cookies.header(), ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
      ...(form === undefined ? {} : { body: form }),
      dispatcher: op.dispatcher,
    });
    cookies.remember(response.headers['set-cookie']);
    const body = await response.body.text();
    form = undefined;
    const location = response.headers.location as string | undefined;
    if (response.statusCode >= 300 && response.statusCode < 400 && location) {
      const next = new URL(location, url);
      if (next.href.startsWith(gateUrl)) return next;
      url = next.href;
      continue;
    }
    const action = /<form method="post" action="(\/interaction\/[^"]+\/login)">/.exec(body)?.[1];
    assert.ok(response.statusCode === 200 && action, `a provider page without a way on (${response.statusCode}): ${body.slice(0, 500)}`);
    url = new URL(action, url).href;
    form = new URLSearchParams(credentials).toString();
  }
  throw new Error(`the provider did not send the browser back within ${MAX_HOPS} steps`);
}

/** Requests the callback with the gateway's cookies of `ui`. */
export function finishSignIn(ui: UiClient, callback: URL): Promise<UiReply> {
  return ui.get(callback.pathname + callback.search);
}

/** The whole sign-in; asserts the callback's 200 "Signed in". */
export async function signInThroughProvider(
  ui: UiClient,
  op: TestOp,
  credentials: { username: string; password: string },
  returnTo?: string,
): Promise<UiReply> {
  const callback = await passProvider(op, await startSignIn(ui, returnTo), credentials, ui.baseUrl);
  const reply = await finishSignIn(ui, callback);
  assert.equal(reply.status, 200, `the callback signs in: ${reply.status} ${reply.body.slice(0, 1500)}`);
  return reply;
}
