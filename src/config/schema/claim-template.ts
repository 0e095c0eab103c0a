/**
 * `${claims.NAME}`: a placeholder for one claim of a verified federated token, in a trust policy's
 * `user` and `groups` (auth/federation/) and in an access rule's repository pattern and subjects
 * (access/pattern.ts, access/policy.ts). The one grammar of claim names and placeholders, so that
 * the config check, the identity stage and the decision read a template alike.
 */

/** A claim name: top-level only (no path into objects: a claim that is an object never fills a placeholder). */
export const CLAIM_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/** `${claims.NAME}`, and anything else that looks like a placeholder (reported as unknown). */
const PLACEHOLDER = /\$\{([^}]*)\}?/g;
const CLAIM_PREFIX = 'claims.';

/** One piece of a template: literal text, or the claim a placeholder names. */
export type TemplatePiece = { readonly literal: string } | { readonly claim: string };

/** The claims a template names, in order, each once. */
export function claimPlaceholders(text: string): string[] {
  const names = new Set<string>();
  for (const match of text.matchAll(PLACEHOLDER)) {
    const inner = match[1] ?? '';
    if (inner.startsWith(CLAIM_PREFIX) && CLAIM_NAME.test(inner.slice(CLAIM_PREFIX.length))) names.add(inner.slice(CLAIM_PREFIX.length));
  }
  return [...names];
}

/**
 * What is wrong with the placeholders of `text`, or undefined. `allowed` are the other placeholders
 * the place accepts (`user`, `group` in a repository pattern); `${claims.NAME}` is accepted
 * wherever `claims` is true.
 */
export function placeholderProblem(
  text: string,
  options: { readonly allowed?: readonly string[]; readonly claims: boolean },
): string | undefined {
  for (const match of text.matchAll(PLACEHOLDER)) {
    const inner = match[1] ?? '';
    if (!match[0].endsWith('}')) return `unterminated placeholder ${match[0]}`;
    if (options.allowed?.includes(inner)) continue;
    if (inner.startsWith(CLAIM_PREFIX)) {
      if (!options.claims) return `${match[0]} is not accepted here`;
      if (!CLAIM_NAME.test(inner.slice(CLAIM_PREFIX.length))) return `${match[0]}: not a claim name (letters, digits, _ . -)`;
      continue;
    }
    const known = [...(options.allowed ?? []).map((name) => `\${${name}}`), ...(options.claims ? ['${claims.NAME}'] : [])];
    return `unknown placeholder ${match[0]}${known.length > 0 ? ` (use ${known.join(' or ')})` : ''}`;
  }
  return undefined;
}

/** A template (checked by placeholderProblem with only claims allowed) as literal and claim pieces. */
export function splitClaimTemplate(text: string): TemplatePiece[] {
  const pieces: TemplatePiece[] = [];
  let at = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    if (match.index > at) pieces.push({ literal: text.slice(at, match.index) });
    pieces.push({ claim: (match[1] ?? '').slice(CLAIM_PREFIX.length) });
    at = match.index + match[0].length;
  }
  if (at < text.length) pieces.push({ literal: text.slice(at) });
  return pieces;
}
