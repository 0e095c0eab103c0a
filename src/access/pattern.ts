/**
 * Repository patterns, compiled once: `*` matches within one path component, `**` across
 * components, `${user}` and `${group}` stand for one component-part that must equal the caller's
 * user name or one of the caller's groups. Matching never compiles anything per request.
 */
export interface RepositoryPattern {
  readonly source: string;
  /** True when the pattern matches `repository` for a caller with this user and these groups. */
  matches(repository: string, user: string | null, groups: readonly string[]): boolean;
}

type Placeholder = 'user' | 'group';

const TOKEN = /\*\*|\*|\$\{(user|group)\}|[^*$]+|\$/g;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function compileRepositoryPattern(source: string): RepositoryPattern {
  const placeholders: Placeholder[] = [];
  let regex = '';
  for (const match of source.matchAll(TOKEN)) {
    const token = match[0];
    if (token === '**') regex += '.+';
    else if (token === '*') regex += '[^/]*';
    else if (match[1] !== undefined) {
      placeholders.push(match[1] as Placeholder);
      regex += '([^/]+)';
    } else regex += escapeRegExp(token);
  }
  const compiled = new RegExp(`^${regex}$`);
  if (placeholders.length === 0) {
    return { source, matches: (repository) => compiled.test(repository) };
  }
  return {
    source,
    matches(repository, user, groups) {
      const found = compiled.exec(repository);
      if (!found) return false;
      return placeholders.every((placeholder, index) => {
        const value = found[index + 1];
        return placeholder === 'user' ? user !== null && value === user : value !== undefined && groups.includes(value);
      });
    },
  };
}

/** Errors in a pattern, or undefined when it is usable. */
export function repositoryPatternProblem(source: string): string | undefined {
  const unknown = /\$\{(?!user\}|group\})[^}]*\}?/.exec(source);
  if (unknown) return `unknown placeholder ${unknown[0]} (use \${user} or \${group})`;
  if (/\*{3,}/.test(source)) return 'use * or **, not ***';
  if (/[A-Z]/.test(source)) return 'repository names are lower case';
  return undefined;
}
