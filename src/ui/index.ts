/**
 * The web UI, served by the gateway at /ui/ (and `/` redirects there). The pipeline hands it every
 * request whose path is a UI path, before any /v2/ handling, with what it resolved about the caller
 * (client address, a trusted SSO proxy's claim, https or not).
 *
 * One request, as an ordered list of named steps (`serveUiRequest` reads as it, as the /v2/
 * pipeline's `serveRegistryRequest` does):
 *
 *   route (paths.ts, strictly) → static asset → identify (identify.ts) → the page's route
 *   (routes.ts: 404, 405) → for a form, its body and CSRF token (csrf.ts) → the page or form handler
 *
 * Handlers ask UiDecisions (the /v2/ decision functions) before they read or change anything.
 * Answers are server-rendered HTML under a strict CSP; a failure is answered by the error boundary
 * every front end shares (oci/error-boundary.ts), as an HTML page (failure-page.ts).
 */
import { splitRequestTarget } from '../oci/request-target.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answerFailure, type FrontEnd } from '../oci/error-boundary.js';
import { notFound } from './browse.js';
import type { UiCaller, UiOptions, UiRequest, UiServices } from './context.js';
import { acceptForm, browserNonce } from './csrf.js';
import { UiDecisions } from './decide.js';
import { sendFailurePage } from './failure-page.js';
import { readForm } from './form.js';
import { identify } from './identify.js';
import { messagePage } from './pages/message.js';
import { isUiPath, uiPageFromPath, type UiPage } from './paths.js';
import { uiRequest, type UiExchange } from './request.js';
import { redirect } from './respond.js';
import { RevokedSessions } from './revoked-sessions.js';
import { allowedMethods, routeOf, type FormRoute, type RoutedPage, type UiRoute } from './routes.js';
import { SessionKeys } from './session.js';
import { StaticAssets } from './static-assets.js';

export type { UiCaller, UiOptions } from './context.js';

export interface WebUi {
  /** Whether the UI answers this request target. */
  matches(url: string): boolean;
  /** Answers the request (never throws); resolves to the user name, for the access log. */
  handle(req: IncomingMessage, res: ServerResponse, caller: UiCaller): Promise<string | null>;
  close(): Promise<void>;
}

export async function createWebUi(options: UiOptions): Promise<WebUi> {
  const keys = await SessionKeys.open(options.stateDir);
  const revoked = await RevokedSessions.open(options.stateDir, options.lock, options.logger);
  const services: UiServices = {
    options,
    decisions: new UiDecisions(options.policy, options.backend, options.adminGroup),
    keys,
    revoked,
    assets: await StaticAssets.load(),
  };
  const frontEnd: FrontEnd = {
    log: options.logger,
    failed: 'UI request failed',
    answer: (req, res, failure) => sendFailurePage(services.assets, req, res, failure),
  };
  return {
    matches: isUiPath,
    async handle(req, res, caller) {
      const answered = { user: null as string | null };
      await serveUiRequest(services, req, res, caller, answered).catch((error: unknown) => answerFailure(req, res, error, frontEnd));
      return answered.user;
    },
    async close() {
      await revoked.close();
    },
  };
}

/** The UI, step by step; `answered.user` is who asked, once known, for the access log. */
async function serveUiRequest(
  services: UiServices,
  req: IncomingMessage,
  res: ServerResponse,
  caller: UiCaller,
  answered: { user: string | null },
): Promise<void> {
  const { exchange, page } = routeUiRequest(services, req, res, caller);
  if (page?.kind === 'root-redirect') {
    redirect(res, '/ui/');
    return;
  }
  if (serveStaticAsset(exchange, page)) return;
  const visitor = await identify(services, req, res, caller, exchange.secure);
  answered.user = visitor.identity.user;
  const nonce = browserNonce(req, res, exchange.secure);
  const request = uiRequest(exchange, visitor, nonce);
  if (page === undefined) {
    notFound(request, 'page');
    return;
  }
  const route = routeOf(page);
  if (isShow(request.method) && route.show) await route.show(request, page);
  else if (request.method === 'POST' && route.submit) await submitForm(request, nonce, page, route.submit);
  else refuseMethod(request, route);
}

/** A POST: its form is read (capped, under its deadline), its CSRF token checked, then its handler runs. */
async function submitForm(request: UiRequest, nonce: string, page: RoutedPage, submit: FormRoute<RoutedPage>): Promise<void> {
  const form = await readForm(request.req, request.services.options.bodyTimeoutMs);
  const submitted: UiRequest = { ...request, form };
  if (acceptForm(submitted, nonce, page, submit.action)) await submit.handler(submitted, page);
}

/** The page the path names (undefined: none, a 404 once the caller is known), and the request's parts. */
function routeUiRequest(
  services: UiServices,
  req: IncomingMessage,
  res: ServerResponse,
  caller: UiCaller,
): { exchange: UiExchange; page: UiPage | undefined } {
  const target = splitRequestTarget(req.url ?? '/');
  const query = new URLSearchParams(target.query);
  const exchange: UiExchange = { services, req, res, caller, method: req.method ?? 'GET', query, secure: caller.proto === 'https' };
  return { exchange, page: uiPageFromPath(target.path) };
}

function isShow(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

/** The stylesheet, script and icon need no caller: served before anyone is identified. False when it is not one. */
function serveStaticAsset({ services, res, method, query }: UiExchange, page: UiPage | undefined): boolean {
  return page?.kind === 'static' && isShow(method) && services.assets.serve(res, method, page.name, query);
}

/** 405, naming the methods the page answers. */
function refuseMethod(request: UiRequest, route: UiRoute<RoutedPage>): void {
  request.res.setHeader('Allow', allowedMethods(route).join(', '));
  request.page(405, messagePage(request.frame, 'Not allowed', `${request.method} is not allowed here.`));
}
