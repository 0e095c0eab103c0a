/**
 * The UiRequest every page handler gets: who is asking, the frame its pages are drawn in (the
 * account, the form token, the registry's host for pull commands), and how to answer — a page with
 * the request's cookies, a redirect, an audit line with `"source":"ui"`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UiCaller, UiRequest, UiServices } from './context.js';
import type { Visitor } from './identify.js';
import type { Frame } from './pages/layout.js';
import { redirect, sendHtml } from './respond.js';

const HOST = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/** One UI request before its form (if any) is read: where it came from, and what was parsed of it. */
export interface UiExchange {
  readonly services: UiServices;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly caller: UiCaller;
  readonly method: string;
  readonly query: URLSearchParams;
  /** Cookies are Secure (and `__Host-`): the browser reached us over https. */
  readonly secure: boolean;
}

/** The request as page handlers see it; `nonce` is the browser's, which the form tokens of its pages are bound to. */
export function uiRequest(exchange: UiExchange, { identity, session }: Visitor, nonce: string): UiRequest {
  const { services, req, res, caller, method } = exchange;
  const host = req.headers.host !== undefined && HOST.test(req.headers.host) ? req.headers.host : 'REGISTRY';
  const frame: Frame = {
    identity,
    csrf: services.keys.csrfToken(nonce, session?.sid, identity.user),
    isAdmin: services.decisions.isAdmin(identity),
    hasWebhooks: services.options.webhooks !== undefined,
    assets: services.assets,
    registryHost: host,
  };
  return {
    ...exchange,
    identity,
    session,
    frame,
    form: new URLSearchParams(),
    page: (status, html) => {
      // An unread request body would otherwise be parsed as the next request on this connection.
      if (!req.complete) res.setHeader('Connection', 'close');
      sendHtml(res, method, status, html);
    },
    redirect: (location) => redirect(res, location, method === 'POST' ? 303 : 302),
    audit: (record) =>
      services.options.audit.record({
        ...record,
        user: identity.user,
        groups: identity.groups,
        via: identity.via,
        client: caller.clientIp,
        source: 'ui',
      }),
  };
}
