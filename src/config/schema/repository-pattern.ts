/**
 * What a repository pattern in `access[].repository` (and a robot's scope) may be: `*` and `**`,
 * the `${user}` and `${group}` placeholders, lower case. Compiling and matching patterns is the
 * access stage's job (access/pattern.ts).
 */

/** Errors in a pattern, or undefined when it is usable. */
export function repositoryPatternProblem(source: string): string | undefined {
  const unknown = /\$\{(?!user\}|group\})[^}]*\}?/.exec(source);
  if (unknown) return `unknown placeholder ${unknown[0]} (use \${user} or \${group})`;
  if (/\*{3,}/.test(source)) return 'use * or **, not ***';
  if (/[A-Z]/.test(source)) return 'repository names are lower case';
  return undefined;
}
