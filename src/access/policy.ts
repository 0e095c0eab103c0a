/**
 * The access policy: grant-only rules, compiled once. A request is allowed when any rule that
 * matches the caller and the repository grants its action. `explain` returns every rule that
 * matched, which is what `registry-gate access explain` prints and what the audit trail records.
 */
import type { Identity } from '../auth/identity.js';
import type { AccessRuleConfig, Action } from '../config/schema.js';
import { compileRepositoryPattern, type RepositoryPattern } from './pattern.js';

export type { Action } from '../config/schema.js';

type SubjectMatcher = (identity: Identity) => boolean;

interface CompiledRule {
  readonly index: number;
  readonly repository: RepositoryPattern;
  readonly actions: ReadonlySet<Action>;
  readonly subjects: readonly SubjectMatcher[];
  readonly subjectText: readonly string[];
}

export interface Decision {
  readonly allowed: boolean;
  /** Index (in config order) of the first rule that granted the action, or -1. */
  readonly ruleIndex: number;
}

export interface Explanation extends Decision {
  /** Rules whose subject and repository matched, with whether each grants the action. */
  readonly matched: ReadonlyArray<{ index: number; repository: string; subjects: readonly string[]; actions: readonly Action[]; grants: boolean }>;
}

/** Without an `access` section: authenticated users may pull and push; nobody else anything. */
export const DEFAULT_RULES: readonly AccessRuleConfig[] = [{ repository: '**', actions: ['pull', 'push'], subjects: ['authenticated'] }];

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

export class AccessPolicy {
  readonly #rules: readonly CompiledRule[];

  constructor(rules: readonly AccessRuleConfig[] | undefined) {
    this.#rules = (rules ?? DEFAULT_RULES).map((rule, index) => ({
      index,
      repository: compileRepositoryPattern(rule.repository),
      actions: new Set(rule.actions),
      subjects: rule.subjects.map(compileSubject),
      subjectText: rule.subjects,
    }));
  }

  #appliesTo(rule: CompiledRule, identity: Identity, repository: string): boolean {
    return rule.subjects.some((subject) => subject(identity)) && rule.repository.matches(repository, identity.user, identity.groups);
  }

  decide(identity: Identity, repository: string, action: Action): Decision {
    for (const rule of this.#rules) {
      if (rule.actions.has(action) && this.#appliesTo(rule, identity, repository)) return { allowed: true, ruleIndex: rule.index };
    }
    return { allowed: false, ruleIndex: -1 };
  }

  /** True when the caller may perform `action` on at least one repository (used by `GET /v2/` callers, catalogs). */
  mayEver(identity: Identity, action: Action): boolean {
    return this.#rules.some((rule) => rule.actions.has(action) && rule.subjects.some((subject) => subject(identity)));
  }

  explain(identity: Identity, repository: string, action: Action): Explanation {
    const matched = this.#rules
      .filter((rule) => this.#appliesTo(rule, identity, repository))
      .map((rule) => ({
        index: rule.index,
        repository: rule.repository.source,
        subjects: rule.subjectText,
        actions: [...rule.actions],
        grants: rule.actions.has(action),
      }));
    return { ...this.decide(identity, repository, action), matched };
  }
}
