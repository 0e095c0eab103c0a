/**
 * The web UI's answer to a failure, for the error boundary every front end shares
 * (oci/error-boundary.ts): the failure's status and headers, an HTML page that says what it may —
 * a refusal or an unavailable service in its own words, an internal error only as "logged".
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ANONYMOUS } from '../auth/identity.js';
import type { RegistryError } from '../oci/errors.js';
import type { Frame } from './pages/layout.js';
import { messagePage } from './pages/message.js';
import { sendHtml } from './respond.js';
import type { StaticAssets } from './static-assets.js';

export function sendFailurePage(assets: StaticAssets, req: IncomingMessage, res: ServerResponse, failure: RegistryError): void {
  // An unread request body would otherwise be parsed as the next request on this connection.
  if (!req.complete) res.setHeader('Connection', 'close');
  for (const [name, value] of Object.entries(failure.headers)) res.setHeader(name, value);
  // Who was asking may be what failed: the page is drawn for nobody in particular.
  const frame: Frame = { identity: ANONYMOUS, csrf: '', isAdmin: false, assets, registryHost: 'REGISTRY' };
  const title = failure.status === 503 ? 'Unavailable' : failure.status >= 500 ? 'Something went wrong' : 'Refused';
  const text = failure.status >= 500 && failure.code === 'INTERNAL_ERROR' ? 'An internal error; it has been logged.' : failure.message;
  sendHtml(res, req.method ?? 'GET', failure.status, messagePage(frame, title, text));
}
