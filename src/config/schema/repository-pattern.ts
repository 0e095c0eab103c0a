/**
 * What a repository pattern in `access[].repository` (and a robot's scope) may be: `*` and `**`,
 * the `${user}` and `${group}` placeholders, lower case; an access rule may also use
 * `${claims.NAME}` (a claim of a federated token, config/schema/claim-template.ts), a robot's
 * scope may not (a robot has no claims). Compiling and matching patterns is the access stage's
 * job (access/pattern.ts).
 */
import { placeholderProblem } from './claim-template.js';

/** Errors in a pattern, or undefined when it is usable; `claims`: `${claims.NAME}` is accepted (access rules). */
export function repositoryPatternProblem(source: string, options: { readonly claims?: boolean } = {}): string | undefined {
  const placeholder = placeholderProblem(source, { allowed: ['user', 'group'], claims: options.claims === true });
  if (placeholder) return placeholder;
  if (/\*{3,}/.test(source)) return 'use * or **, not ***';
  if (/[A-Z]/.test(source.replace(/\$\{claims\.[^}]*\}/g, ''))) return 'repository names are lower case';
  return undefined;
}
