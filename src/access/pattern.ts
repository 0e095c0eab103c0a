/**
 * Repository patterns, compiled once: `*` matches within one path component, `**` across
 * components, `${user}` and `${group}` stand for the caller's user name or one of the caller's
 * groups, `${claims.NAME}` for a claim of a federated caller's token. A pattern with a placeholder
 * is matched with the caller's own values put in its place (so `home/${user}-*` matches
 * `home/alice-dev-x` for alice, whatever else the name contains); those compiled forms are cached,
 * so matching compiles nothing per request after the first. Which patterns are acceptable is
 * checked with the config (config/schema/repository-pattern.ts).
 *
 * A claim fills its placeholder only when its value is itself a valid repository name (one or more
 * components of the distribution grammar: `octo-org/app` may, `Octo-Org/App`, `../x` or `a b` may
 * not): a claim that is not matches nothing, so a token's claims never widen a rule.
 */
import { isValidRepositoryName } from '../oci/names.js';

export interface RepositoryPattern {
  readonly source: string;
  /** True when the pattern matches `repository` for a caller with this user, these groups and (a federated caller) these claims. */
  matches(repository: string, user: string | null, groups: readonly string[], claims?: Readonly<Record<string, string>>): boolean;
}

type Placeholder = 'user' | 'group' | `claims.${string}`;

const TOKEN = /\*\*|\*|\$\{(user|group|claims\.[A-Za-z0-9_.-]+)\}|[^*$]+|\$/g;
const MAX_CACHED = 4096;
const NO_CLAIMS: Readonly<Record<string, string>> = Object.freeze({});
const MAX_COMBINATIONS = 256;
/** A value put in for a placeholder is one path-component part: no slash, no control characters. */
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const PLACEHOLDER_VALUE = /^[^/\x00-\x1f\x7f]+$/;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

type Piece = { kind: 'regex'; text: string } | { kind: 'placeholder'; name: Placeholder };

function parse(source: string): Piece[] {
  const pieces: Piece[] = [];
  for (const match of source.matchAll(TOKEN)) {
    const token = match[0];
    if (token === '**') pieces.push({ kind: 'regex', text: '.+' });
    else if (token === '*') pieces.push({ kind: 'regex', text: '[^/]*' });
    else if (match[1] !== undefined) pieces.push({ kind: 'placeholder', name: match[1] as Placeholder });
    else pieces.push({ kind: 'regex', text: escapeRegExp(token) });
  }
  return pieces;
}

/** The caller's values for one placeholder: its user name, its groups, or the claim's value if that is a valid repository name. */
function valuesOf(name: Placeholder, user: string | null, groups: readonly string[], claims: Readonly<Record<string, string>>): string[] {
  if (name === 'user') return user === null || !PLACEHOLDER_VALUE.test(user) ? [] : [user];
  if (name === 'group') return groups.filter((group) => PLACEHOLDER_VALUE.test(group));
  const claim = Object.hasOwn(claims, name.slice('claims.'.length)) ? claims[name.slice('claims.'.length)] : undefined;
  return claim !== undefined && isValidRepositoryName(claim) ? [claim] : [];
}

/** Every assignment of the caller's values to the pattern's placeholders (bounded). */
function assignments(
  names: readonly Placeholder[],
  user: string | null,
  groups: readonly string[],
  claims: Readonly<Record<string, string>>,
): string[][] {
  const options = names.map((name) => valuesOf(name, user, groups, claims));
  let combos: string[][] = [[]];
  for (const values of options) {
    combos = combos.flatMap((combo) => values.map((value) => [...combo, value])).slice(0, MAX_COMBINATIONS);
  }
  return combos;
}

export function compileRepositoryPattern(source: string): RepositoryPattern {
  const pieces = parse(source);
  const names = pieces.flatMap((piece) => (piece.kind === 'placeholder' ? [piece.name] : []));
  if (names.length === 0) {
    const compiled = new RegExp(`^${pieces.map((piece) => (piece.kind === 'regex' ? piece.text : '')).join('')}$`);
    return { source, matches: (repository) => compiled.test(repository) };
  }
  const cache = new Map<string, RegExp>();
  const regexFor = (values: readonly string[]): RegExp => {
    const key = values.join('\0');
    let compiled = cache.get(key);
    if (!compiled) {
      let index = 0;
      const text = pieces.map((piece) => (piece.kind === 'regex' ? piece.text : escapeRegExp(values[index++] as string))).join('');
      compiled = new RegExp(`^${text}$`);
      if (cache.size >= MAX_CACHED) cache.clear();
      cache.set(key, compiled);
    }
    return compiled;
  };
  return {
    source,
    matches(repository, user, groups, claims = NO_CLAIMS) {
      return assignments(names, user, groups, claims).some((values) => regexFor(values).test(repository));
    },
  };
}
