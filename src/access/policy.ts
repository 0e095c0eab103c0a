/**
 * The access policy: grant-only rules, compiled once. A request is allowed when any rule that
 * matches the caller and the repository grants its action. `explain` returns every rule that
 * matched, which is what `registry-gate access explain` prints; the audit trail records the index
 * of the rule that granted.
 *
 * Protected tags: a rule with `protectedTags` grants a push that would move an existing tag
 * matching one of them to another manifest, or a delete of such a tag, only when it also grants
 * `overwrite`; pushing the same manifest again is not a move. Deleting a manifest by digest could
 * remove protected tags with it, so under such a rule it needs `overwrite` too. Whether the tag
 * would move is asked only when it matters (`tagMoves` is then consulted, at most once).
 */
import type { Identity } from '../auth/identity.js';
import type { AccessRuleConfig, Action, Grant } from '../config/schema.js';
import { compileRepositoryPattern, type RepositoryPattern } from './pattern.js';

export type { Action } from '../config/schema.js';

type SubjectMatcher = (identity: Identity) => boolean;
type TagMatcher = (tag: string) => boolean;

interface CompiledRule {
  readonly index: number;
  readonly repository: RepositoryPattern;
  readonly grants: ReadonlySet<Grant>;
  readonly subjects: readonly SubjectMatcher[];
  readonly subjectText: readonly string[];
  readonly protectedTag: TagMatcher | undefined;
}

/** What a push or delete touches, when it is a manifest: its tag, or its digest. */
export interface ManifestTarget {
  readonly tag?: string | undefined;
  readonly digest?: string | undefined;
}

export interface Decision {
  readonly allowed: boolean;
  /** Index (in config order) of the first rule that granted the action, or -1. */
  readonly ruleIndex: number;
}

export interface Explanation extends Decision {
  /** Rules whose subject and repository matched, with whether each grants the action. */
  readonly matched: ReadonlyArray<{ index: number; repository: string; subjects: readonly string[]; actions: readonly Grant[]; grants: boolean }>;
}

/** Without an `access` section: authenticated users may pull and push; nobody else anything. */
export const DEFAULT_RULES: readonly AccessRuleConfig[] = [{ repository: '**', actions: ['pull', 'push'], subjects: ['authenticated'] }];

const DENIED: Decision = Object.freeze({ allowed: false, ruleIndex: -1 });

function compileSubject(subject: string): SubjectMatcher {
  if (subject === '*') return () => true;
  if (subject === 'anonymous') return (identity) => identity.user === null;
  if (subject === 'authenticated') return (identity) => identity.user !== null;
  if (subject.startsWith('user:')) {
    const name = subject.slice('user:'.length);
    return (identity) => identity.user === name;
  }
  if (subject.startsWith('group:')) {
    const name = subject.slice('group:'.length);
    return (identity) => identity.user !== null && identity.groups.includes(name);
  }
  throw new Error(`unknown subject ${subject}`);
}

/** Tag globs: `*` any run of characters, `?` one character; everything else literal. */
function compileTagPatterns(patterns: readonly string[] | undefined): TagMatcher | undefined {
  if (!patterns || patterns.length === 0) return undefined;
  const alternatives = patterns.map((pattern) => pattern.replace(/[.+^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.'));
  const regex = new RegExp(`^(?:${alternatives.join('|')})$`);
  return (tag) => regex.test(tag);
}

export class AccessPolicy {
  readonly #rules: readonly CompiledRule[];

  constructor(rules: readonly AccessRuleConfig[] | undefined) {
    this.#rules = (rules ?? DEFAULT_RULES).map((rule, index) => ({
      index,
      repository: compileRepositoryPattern(rule.repository),
      grants: new Set(rule.actions),
      subjects: rule.subjects.map(compileSubject),
      subjectText: rule.subjects,
      protectedTag: compileTagPatterns(rule.protectedTags),
    }));
  }

  #appliesTo(rule: CompiledRule, identity: Identity, repository: string): boolean {
    return rule.subjects.some((subject) => subject(identity)) && rule.repository.matches(repository, identity.user, identity.groups);
  }

  /** Whether this rule would need to know if the target tag exists before granting. */
  #guards(rule: CompiledRule, action: Action, target: ManifestTarget | undefined): 'free' | 'tag' | 'always' {
    if (!rule.protectedTag || rule.grants.has('overwrite') || !target || action === 'pull') return 'free';
    if (target.tag !== undefined) return rule.protectedTag(target.tag) ? (action === 'delete' ? 'always' : 'tag') : 'free';
    return action === 'delete' && target.digest !== undefined ? 'always' : 'free';
  }

  /**
   * The decision for `action` on `repository`. For manifest pushes and deletes pass the target; when
   * a protected tag is involved `tagMoves` is called (at most once) to tell a create or a re-push
   * of the same manifest from a move.
   */
  async decideManifest(identity: Identity, repository: string, action: Action, target: ManifestTarget, tagMoves: () => Promise<boolean>): Promise<Decision> {
    let moves: boolean | undefined;
    for (const rule of this.#rules) {
      if (!rule.grants.has(action) || !this.#appliesTo(rule, identity, repository)) continue;
      const guard = this.#guards(rule, action, target);
      if (guard === 'always') continue;
      if (guard === 'tag') {
        moves ??= await tagMoves();
        if (moves) continue;
      }
      return { allowed: true, ruleIndex: rule.index };
    }
    return DENIED;
  }

  decide(identity: Identity, repository: string, action: Action): Decision {
    for (const rule of this.#rules) {
      if (rule.grants.has(action) && this.#appliesTo(rule, identity, repository)) return { allowed: true, ruleIndex: rule.index };
    }
    return DENIED;
  }

  /** True when some rule for this caller protects tags on this repository (so manifest writes need decideManifest). */
  hasProtectedTags(identity: Identity, repository: string): boolean {
    return this.#rules.some((rule) => rule.protectedTag !== undefined && this.#appliesTo(rule, identity, repository));
  }

  /** True when the caller may perform `action` on at least one repository (used by `GET /v2/` callers, catalogs). */
  mayEver(identity: Identity, action: Action): boolean {
    return this.#rules.some((rule) => rule.grants.has(action) && rule.subjects.some((subject) => subject(identity)));
  }

  explain(identity: Identity, repository: string, action: Action): Explanation {
    const matched = this.#rules
      .filter((rule) => this.#appliesTo(rule, identity, repository))
      .map((rule) => ({
        index: rule.index,
        repository: rule.repository.source,
        subjects: rule.subjectText,
        actions: [...rule.grants],
        grants: rule.grants.has(action),
      }));
    return { ...this.decide(identity, repository, action), matched };
  }
}
