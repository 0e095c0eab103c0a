/**
 * Repository patterns, compiled once: `*` matches within one path component, `**` across
 * components, `${user}` and `${group}` stand for the caller's user name or one of the caller's
 * groups, `${claims.NAME}` for a claim of a federated caller's token. A pattern with a placeholder
 * is matched with the caller's own values put in its place (so `home/${user}-*` matches
 * `home/alice-dev-x` for alice, whatever else the name contains). Matching never backtracks
 * (`matchPieces`): its work is bounded by the pattern's and the name's lengths, whoever wrote the
 * pattern. Which patterns are acceptable is checked with the config
 * (config/schema/repository-pattern.ts).
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
  /**
   * False when no name starting with `prefix` can match (for this caller): a catalog walk then skips
   * the names under it unread. True may be too generous (the pattern is not checked against the name
   * grammar), never too strict.
   */
  mayMatchUnder(prefix: string, user: string | null, groups: readonly string[], claims?: Readonly<Record<string, string>>): boolean;
}

type Placeholder = 'user' | 'group' | `claims.${string}`;

const TOKEN = /\*\*|\*|\$\{(user|group|claims\.[A-Za-z0-9_.-]+)\}|[^*$]+|\$/g;
const NO_CLAIMS: Readonly<Record<string, string>> = Object.freeze({});
const MAX_COMBINATIONS = 256;
/** A value put in for a placeholder is one path-component part: no slash, no control characters. */
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const PLACEHOLDER_VALUE = /^[^/\x00-\x1f\x7f]+$/;

/** `*` (within a component: no slash, maybe empty), `**` (across components: one character or more), text, a placeholder. */
type Piece = { kind: 'star' } | { kind: 'stars' } | { kind: 'text'; text: string } | { kind: 'placeholder'; name: Placeholder };
type Matchable = Exclude<Piece, { kind: 'placeholder' }>;

function parse(source: string): Piece[] {
  const pieces: Piece[] = [];
  for (const match of source.matchAll(TOKEN)) {
    const token = match[0];
    if (token === '**') pieces.push({ kind: 'stars' });
    else if (token === '*') pieces.push({ kind: 'star' });
    else if (match[1] !== undefined) pieces.push({ kind: 'placeholder', name: match[1] as Placeholder });
    else pieces.push({ kind: 'text', text: token });
  }
  return pieces;
}

/**
 * Whether `pieces` match all of `name`, in one pass over the name per piece: the set of positions
 * the pattern so far can end at, carried forward. Never backtracks (a regular expression of many
 * stars can take exponential time on a name that nearly matches, and patterns of personal tokens
 * are anyone's to choose), so the work is at most the pattern's length times the name's.
 */
function matchPieces(pieces: readonly Matchable[], name: string): boolean {
  return reachEnd(pieces, name, false);
}

/** Whether `pieces` match some name that starts with `prefix`: the same pass, with a way out at the prefix's end. */
function matchPiecesUnder(pieces: readonly Matchable[], prefix: string): boolean {
  return reachEnd(pieces, prefix, true);
}

/** True when one of the pattern's positions may start past the end of `name` (the name is a prefix). */
function runsPastEnd(piece: Matchable, reach: Uint8Array, name: string): boolean {
  const lastSlash = name.lastIndexOf('/');
  for (let at = 0; at < name.length; at += 1) {
    if (reach[at] !== 1) continue;
    if (piece.kind === 'stars') return true;
    if (piece.kind === 'star' && at > lastSlash) return true;
    if (piece.kind === 'text' && piece.text.length > name.length - at && piece.text.startsWith(name.slice(at))) return true;
  }
  return false;
}

/**
 * The pass of `matchPieces`. With `open`, `name` is only a prefix: true as soon as the pattern so far
 * reaches its end, or a piece reached within it could go on past its end (the rest of the pattern
 * then matches some continuation).
 */
function reachEnd(pieces: readonly Matchable[], name: string, open: boolean): boolean {
  let reach = new Uint8Array(name.length + 1);
  reach[0] = 1;
  for (const piece of pieces) {
    if (open && (reach[name.length] === 1 || runsPastEnd(piece, reach, name))) return true;
    const next = new Uint8Array(name.length + 1);
    let carry = false;
    for (let at = 0; at <= name.length; at += 1) {
      if (piece.kind === 'text') {
        if (reach[at] === 1 && name.startsWith(piece.text, at)) next[at + piece.text.length] = 1;
      } else if (piece.kind === 'star') {
        carry ||= reach[at] === 1; // from any reached position, up to the next slash
        if (carry) next[at] = 1;
        if (name.charCodeAt(at) === 0x2f) carry = false;
      } else {
        if (carry) next[at] = 1; // one character or more after a reached position
        carry ||= reach[at] === 1;
      }
    }
    reach = next;
  }
  return reach[name.length] === 1;
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
  claims: Readonly<Record<string, string>> = NO_CLAIMS,
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
    const plain = pieces as Matchable[];
    return {
      source,
      matches: (repository) => matchPieces(plain, repository),
      mayMatchUnder: (prefix) => matchPiecesUnder(plain, prefix),
    };
  }
  const withValues = (values: readonly string[]): Matchable[] => {
    let index = 0;
    return pieces.map((piece) => (piece.kind === 'placeholder' ? { kind: 'text', text: values[index++] as string } : piece));
  };
  return {
    source,
    matches(repository, user, groups, claims = NO_CLAIMS) {
      return assignments(names, user, groups, claims).some((values) => matchPieces(withValues(values), repository));
    },
    mayMatchUnder(prefix, user, groups, claims = NO_CLAIMS) {
      return assignments(names, user, groups, claims).some((values) => matchPiecesUnder(withValues(values), prefix));
    },
  };
}

/**
 * Repository names a pattern covers, one per assignment of the caller's values to its placeholders
 * (bounded), with every wildcard standing for one component `x`: examples to ask the decision about
 * ("does any rule grant anything within this robot's scope?"), not the whole set.
 */
export function exampleNames(source: string, user: string | null, groups: readonly string[]): string[] {
  const pieces = parse(source);
  const names = pieces.flatMap((piece) => (piece.kind === 'placeholder' ? [piece.name] : []));
  return assignments(names, user, groups).map((values) => {
    let index = 0;
    return source.replace(TOKEN, (token) => {
      if (token === '**' || token === '*') return 'x';
      if (token.startsWith('${')) return values[index++] as string;
      return token;
    });
  });
}
