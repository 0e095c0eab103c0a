/**
 * The web UI's paths, parsed as strictly as /v2/ paths (src/oci/route.ts): no %-encoding, no
 * dot or empty segments, repository names and references by the distribution grammar. Anything
 * else is not a UI page. A repository's pages sit under `/ui/r/<name>/-/…`: `-` can never be a
 * name component, so a name and a page never run together.
 */
import { isContentDigest, isTag, isValidRepositoryName } from '../oci/names.js';
import { splitRequestTarget } from '../oci/request-target.js';

export const UI_ROOT = '/ui/';

export type UiPage =
  | { readonly kind: 'root-redirect' }
  | { readonly kind: 'repositories' }
  | { readonly kind: 'login' }
  | { readonly kind: 'logout' }
  | { readonly kind: 'robots' }
  | { readonly kind: 'robot-revoke' }
  | { readonly kind: 'webhooks' }
  | { readonly kind: 'tokens' }
  | { readonly kind: 'token-revoke' }
  | { readonly kind: 'token-revoke-all' }
  | { readonly kind: 'oidc-login' }
  | { readonly kind: 'oidc-callback' }
  | { readonly kind: 'static'; readonly name: string }
  | { readonly kind: 'repository'; readonly repository: string }
  | { readonly kind: 'manifest'; readonly repository: string; readonly reference: string }
  | { readonly kind: 'delete'; readonly repository: string };

const FIXED: Record<string, UiPage> = {
  '/': { kind: 'root-redirect' },
  '/ui': { kind: 'root-redirect' },
  '/ui/': { kind: 'repositories' },
  '/ui/login': { kind: 'login' },
  '/ui/logout': { kind: 'logout' },
  '/ui/robots': { kind: 'robots' },
  '/ui/robots/revoke': { kind: 'robot-revoke' },
  '/ui/webhooks': { kind: 'webhooks' },
  '/ui/tokens': { kind: 'tokens' },
  '/ui/tokens/revoke': { kind: 'token-revoke' },
  '/ui/tokens/revoke-all': { kind: 'token-revoke-all' },
  '/ui/oidc/login': { kind: 'oidc-login' },
  '/ui/oidc/callback': { kind: 'oidc-callback' },
};

/** True for every path the UI answers, pages or not (so that a bad UI path gets the UI's 404). */
export function isUiPath(url: string): boolean {
  const { path } = splitRequestTarget(url);
  return path === '/' || path === '/ui' || path.startsWith(UI_ROOT);
}

/** The page a request path names, or undefined (404). `path` excludes the query. */
export function uiPageFromPath(path: string): UiPage | undefined {
  if (path.length > 2048 || path.includes('%') || path.includes('\\')) return undefined;
  const fixed = FIXED[path];
  if (fixed) return fixed;
  const staticName = /^\/ui\/static\/([a-z0-9-]+\.(?:css|js|svg))$/.exec(path)?.[1];
  if (staticName) return { kind: 'static', name: staticName };
  if (!path.startsWith('/ui/r/')) return undefined;
  const rest = path.slice('/ui/r/'.length);
  const split = rest.indexOf('/-/');
  const repository = split === -1 ? rest : rest.slice(0, split);
  if (!isValidRepositoryName(repository)) return undefined;
  if (split === -1) return { kind: 'repository', repository };
  const page = rest.slice(split + '/-/'.length).split('/');
  if (page.length === 1 && page[0] === 'delete') return { kind: 'delete', repository };
  if (page.length === 2 && page[0] === 'manifest' && (isTag(page[1] as string) || isContentDigest(page[1] as string))) {
    return { kind: 'manifest', repository, reference: page[1] as string };
  }
  return undefined;
}

export function repositoryPath(repository: string): string {
  return `/ui/r/${repository}`;
}

export function manifestPath(repository: string, reference: string): string {
  return `/ui/r/${repository}/-/manifest/${reference}`;
}

export function deletePath(repository: string): string {
  return `/ui/r/${repository}/-/delete`;
}
