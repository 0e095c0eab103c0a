/**
 * Resource scopes (docs/spec/auth/scope.md in distribution/distribution):
 *
 *   scope         := resourcescope [ ' ' resourcescope ]*
 *   resourcescope := resourcetype ":" resourcename ":" action [ ',' action ]*
 *   resourcetype  := /[a-z0-9]+/ [ '(' /[a-z0-9]+/ ')' ]
 *   resourcename  := [ hostname '/' ] component [ '/' component ]*     hostname may end in ":port"
 *   action        := /[a-z*]*\/
 *
 * The name may hold one `:` (a registry port), so the type ends at the first colon and the actions
 * start after the last one: `repository:localhost:5000/foo/bar:pull` names `localhost:5000/foo/bar`.
 * A scope that does not parse is dropped, never an error: the token server grants what it can.
 * The name is checked here only for shape (no spaces, control characters or quotes); whether it is
 * a repository anyone may be granted is decided when access is granted.
 */
import { MAX_TOKEN_SCOPES } from '../../lib/work-budget.js';
import { RegistryError } from '../../oci/errors.js';
import type { ResourceScope, TokenAccess } from './types.js';

export const REPOSITORY = 'repository';
export const CATALOG: TokenAccess = Object.freeze({ type: 'registry', name: 'catalog', actions: Object.freeze(['*']) });

/** A request with more scopes than this is refused (each costs a policy decision per action). */
export const MAX_SCOPES = MAX_TOKEN_SCOPES;
const MAX_NAME_LENGTH = 512;

const RESOURCE_TYPE = /^(?<type>[a-z0-9]+)(?:\((?<resourceClass>[a-z0-9]+)\))?$/;
const ACTION = /^[a-z*]+$/;
// Printable ASCII other than space, `"` and `\` (a name is echoed into quoted challenge strings).
const NAME = /^[!#-[\]-~]+$/;

/** One `type:name:actions` scope, or undefined when it does not parse. */
export function parseScope(text: string): ResourceScope | undefined {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = RESOURCE_TYPE.exec(text.slice(0, first));
  const name = text.slice(first + 1, last);
  if (!type || name.length === 0 || name.length > MAX_NAME_LENGTH || !NAME.test(name)) return undefined;
  const actions = [
    ...new Set(
      text
        .slice(last + 1)
        .split(',')
        .filter((action) => action !== ''),
    ),
  ];
  if (actions.length === 0 || !actions.every((action) => ACTION.test(action))) return undefined;
  const { type: resourceType = '', resourceClass } = type.groups ?? {};
  const scope: ResourceScope = { type: resourceType, name, actions };
  return resourceClass === undefined ? scope : { ...scope, resourceClass };
}

/**
 * Every scope in the `scope` parameters of a request: GET repeats the parameter, POST (and the
 * challenge) separates scopes with spaces; both are accepted. Invalid scopes are skipped; a request
 * naming more than MAX_SCOPES (valid or not) is refused with 400, rather than granted in part
 * without saying so.
 */
export function parseScopeList(values: readonly string[]): ResourceScope[] {
  const texts = values.flatMap((value) => value.split(' ')).filter((text) => text !== '');
  if (texts.length > MAX_SCOPES) {
    throw new RegistryError('REQUEST_INVALID', `a token request may name at most ${MAX_SCOPES} scopes`, {
      detail: { scopes: texts.length, max: MAX_SCOPES },
    });
  }
  return texts.map(parseScope).filter((scope): scope is ResourceScope => scope !== undefined);
}

/** `type:name:a,b`, the wire form of one access entry. */
export function formatScope(access: TokenAccess | ResourceScope): string {
  return `${access.type}:${access.name}:${access.actions.join(',')}`;
}

/** The space-separated scope list for a set of access entries (the OAuth2 `scope` response field). */
export function formatScopeList(access: readonly TokenAccess[]): string {
  return access.map(formatScope).join(' ');
}
