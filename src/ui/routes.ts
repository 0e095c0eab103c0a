/**
 * The route table of the web UI: for each page that paths.ts parses, what a GET (and a HEAD) shows
 * and what a POST of its form does, with the action its audit lines name (a refused form's too).
 * The methods a page answers are the ones it has a handler for; any other is a 405 naming them.
 *
 * A new page is a path in paths.ts, an entry here, and its handler in a small file of its own
 * (markup in pages/). `/` and `/ui` redirect before any route is looked up; an asset that exists is
 * served before anyone is identified (static-assets.ts), so the `static` entry answers only the rest.
 */
import { logIn, logOut, showLogin } from './account.js';
import { notFound, showManifest, showRepositories, showRepository } from './browse.js';
import type { UiRequest } from './context.js';
import { deleteReference } from './delete.js';
import type { UiPage } from './paths.js';
import { createRobotAccount, revokeRobotAccount, showRobots } from './robots-admin.js';
import { createToken, revokeAllTokens, revokeToken, showTokens } from './personal-tokens.js';
import { finishOidcLogin, oidcLogOut, startOidcLogin } from './oidc.js';
import { showWebhooks } from './webhooks-admin.js';

/** Every page the table answers, by kind. */
type Pages = { readonly [P in UiPage as P['kind']]: P };
export type RoutedKind = Exclude<keyof Pages, 'root-redirect'>;
export type RoutedPage = Pages[RoutedKind];

export type PageHandler<P extends RoutedPage> = (request: UiRequest, page: P) => Promise<void> | void;

/** What a POST of a page's form does, once its CSRF token was checked; `action` names it in audit lines. */
export interface FormRoute<P extends RoutedPage> {
  readonly action: string;
  readonly handler: PageHandler<P>;
}

export interface UiRoute<P extends RoutedPage> {
  /** What a GET or a HEAD shows. */
  readonly show?: PageHandler<P>;
  readonly submit?: FormRoute<P>;
}

const ROUTES: { readonly [K in RoutedKind]: UiRoute<Pages[K]> } = {
  repositories: { show: showRepositories },
  repository: { show: (request, page) => showRepository(request, page.repository) },
  manifest: { show: (request, page) => showManifest(request, page.repository, page.reference) },
  static: {
    show: (request) => {
      notFound(request, 'file');
    },
  },
  login: { show: showLogin, submit: { action: 'login', handler: logIn } },
  // A session begun at the OpenID provider ends there too (RP-initiated logout).
  logout: { submit: { action: 'logout', handler: (request) => (request.session?.via === 'oidc' ? oidcLogOut(request) : logOut(request)) } },
  delete: { submit: { action: 'delete', handler: (request, page) => deleteReference(request, page.repository) } },
  robots: { show: showRobots, submit: { action: 'robot-create', handler: createRobotAccount } },
  'robot-revoke': { submit: { action: 'robot-revoke', handler: revokeRobotAccount } },
  webhooks: { show: showWebhooks },
  tokens: { show: showTokens, submit: { action: 'token-create', handler: createToken } },
  'token-revoke': { submit: { action: 'token-revoke', handler: revokeToken } },
  'token-revoke-all': { submit: { action: 'token-revoke', handler: revokeAllTokens } },
  'oidc-login': { show: startOidcLogin },
  'oidc-callback': { show: finishOidcLogin },
};

/** The route of a page; its handlers take that page (the table is keyed by the page's own kind). */
export function routeOf<K extends RoutedKind>(page: Pages[K] & { readonly kind: K }): UiRoute<Pages[K]> {
  return ROUTES[page.kind];
}

/** The methods a route answers, for a 405's `Allow`. */
export function allowedMethods(route: UiRoute<RoutedPage>): string[] {
  return [...(route.show ? ['GET', 'HEAD'] : []), ...(route.submit ? ['POST'] : [])];
}
