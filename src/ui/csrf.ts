/**
 * Forms from other sites are refused. Each browser has a random nonce in a cookie; a form's token is
 * an HMAC of that nonce, the session id and the user (session.ts), so a page of this UI can put it
 * in its forms and another site cannot make it. A POST must carry a token made for this browser and
 * session, and, when the browser sends fetch metadata, come from this origin. A refusal is audited
 * under the form's action.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UiRequest } from './context.js';
import { cookieName, readCookie, setCookie } from './cookies.js';
import { messagePage } from './pages/message.js';
import type { RoutedPage } from './routes.js';
import { SessionKeys } from './session.js';

const NONCE = /^[A-Za-z0-9_-]{22}$/;

/** The browser's nonce from its cookie, or a new one set on this answer: what this page's form tokens are bound to. */
export function browserNonce(req: IncomingMessage, res: ServerResponse, secure: boolean): string {
  const nonce = readCookie(req.headers, cookieName('csrf', secure));
  if (nonce !== undefined && NONCE.test(nonce)) return nonce;
  const fresh = SessionKeys.newNonce();
  res.appendHeader('Set-Cookie', setCookie('csrf', fresh, secure));
  return fresh;
}

/** False (after the audited 403) for a form from another site: no same-origin fetch metadata, or no token made for this browser and session. */
export function acceptForm(request: UiRequest, nonce: string, page: RoutedPage, action: string): boolean {
  const { req, form, session, identity, services } = request;
  const site = req.headers['sec-fetch-site'];
  const fromThisSite = site === undefined || site === 'same-origin';
  if (fromThisSite && services.keys.csrfTokenMatches(form.get('csrf'), nonce, session?.sid, identity.user)) return true;
  request.audit({
    method: request.method,
    action,
    repository: 'repository' in page ? page.repository : '',
    decision: 'deny',
    rule: -1,
    status: 403,
    reason: 'csrf',
  });
  request.page(
    403,
    messagePage(request.frame, 'Form expired', 'This form has expired or did not come from this site. Reload the page and try again.'),
  );
  return false;
}
