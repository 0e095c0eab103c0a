/**
 * The access policy: grant-only rules, compiled once. A request is allowed when any rule that
 * matches the caller and the repository grants its action. `explain` returns every rule that
 * matched, which is what `registry-gate access explain` prints; the audit trail records the index
 * of the rule that granted.
 *
 * Protected tags: a rule with `protectedTags` grants a push that would move an existing tag
 * matching one of them to another manifest, or a delete of such a tag, only when it also grants
 * `overwrite`; pushing the same manifest again is not a move. Deleting a manifest by digest could
 * remove protected tags with it, so under such a rule it needs `overwrite` too; so does deleting a
 * blob that a protected tag's manifest uses (a release is broken as surely by removing its layers).
 * Whether the tag would move, or the blob is in use by a protected tag, is asked only when it matters
 * (the probe is then consulted, at most once).
 */
import type { Identity } from '../auth/identity.js';
import type { AccessRuleConfig } from '../config/schema.js';
import type { Action, Grant } from '../oci/actions.js';
import { compileRepositoryPattern, exampleNames, type RepositoryPattern } from './pattern.js';
import { InternalError } from '../lib/internal-errors.js';

type SubjectMatcher = (identity: Identity) => boolean;
type TagMatcher = (tag: string) => boolean;

interface CompiledRule {
  readonly index: number;
  readonly repository: RepositoryPattern;
  readonly grants: ReadonlySet<Grant>;
  readonly subjects: readonly SubjectMatcher[];
  readonly subjectText: readonly string[];
  readonly protectedTag: TagMatcher | undefined;
  readonly protectedTagText: readonly string[];
}

/** What a push or delete touches: a manifest by tag or by digest, or a blob. */
export interface ManifestTarget {
  readonly tag?: string | undefined;
  readonly digest?: string | undefined;
  /** A blob delete: the blob's digest. */
  readonly blob?: string | undefined;
}

/**
 * Questions about the repository's content that only some decisions need.
 * `tagMoves`: would this push move the target tag to another manifest?
 * `blobProtected(isProtected)`: does a tag matching `isProtected` reference the target blob?
 */
export interface ContentProbe {
  tagMoves(): Promise<boolean>;
  blobProtected(isProtected: (tag: string) => boolean): Promise<boolean>;
}

export interface Decision {
  readonly allowed: boolean;
  /** Index (in config order) of the first rule that granted the action, or -1. */
  readonly ruleIndex: number;
  /** Granted by a rule that protects the pushed tag: only as long as the tag does not move. */
  readonly tagMustNotMove?: boolean;
  /** Refused although a rule grants the action, because of its protected tags. */
  readonly reason?: 'protected-tag';
}

export interface RuleMatch {
  readonly index: number;
  readonly repository: string;
  readonly subjects: readonly string[];
  readonly actions: readonly Grant[];
  /** The rule's protectedTags patterns, if any. */
  readonly protectedTags: readonly string[];
  /** Whether this rule grants what was asked. */
  readonly grants: boolean;
  /** It would grant the action, but not on a protected tag (or content one uses) without overwrite. */
  readonly heldByProtectedTag: boolean;
}

export interface Explanation extends Decision {
  /** Rules whose subject and repository matched, with whether each grants what was asked. */
  readonly matched: readonly RuleMatch[];
}

/** What `access explain` asks: an action, or `overwrite` (moving a tag to another manifest). */
export type ExplainedRequest = Action | 'overwrite';

/** Without an `access` section: authenticated users may pull and push; nobody else anything. */
export const DEFAULT_RULES: readonly AccessRuleConfig[] = [{ repository: '**', actions: ['pull', 'push'], subjects: ['authenticated'] }];

const DENIED: Decision = Object.freeze({ allowed: false, ruleIndex: -1 });
const PROTECTED: Decision = Object.freeze({ allowed: false, ruleIndex: -1, reason: 'protected-tag' });

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
  throw new InternalError('RG_ERR_CONFIG_INVALID', `unknown subject ${subject}`);
}

/** Tag globs: `*` any run of characters, `?` one character; everything else literal. */
function compileTagPatterns(patterns: readonly string[] | undefined): TagMatcher | undefined {
  if (!patterns || patterns.length === 0) return undefined;
  const alternatives = patterns.map((pattern) =>
    pattern
      .replace(/[.+^${}()|[\]\\-]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.'),
  );
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
      protectedTagText: rule.protectedTags ?? [],
    }));
  }

  #appliesTo(rule: CompiledRule, identity: Identity, repository: string): boolean {
    return (
      rule.subjects.some((subject) => subject(identity)) &&
      rule.repository.matches(repository, identity.user, identity.groups, identity.claims)
    );
  }

  /** Whether this rule would need to know if the target tag exists before granting. */
  #guards(rule: CompiledRule, action: Action, target: ManifestTarget | undefined): 'free' | 'tag' | 'blob' | 'always' {
    if (!rule.protectedTag || rule.grants.has('overwrite') || !target || action === 'pull') return 'free';
    if (target.blob !== undefined) return action === 'delete' ? 'blob' : 'free';
    if (target.tag !== undefined) return rule.protectedTag(target.tag) ? (action === 'delete' ? 'always' : 'tag') : 'free';
    return action === 'delete' && target.digest !== undefined ? 'always' : 'free';
  }

  /**
   * The decision for `action` on `repository`. For manifest pushes and deletes, and blob deletes,
   * pass the target; when a protected tag is involved the probe is asked (each question at most
   * once) whether a push moves the tag or a deleted blob belongs to a protected tag.
   */
  async decideContent(
    identity: Identity,
    repository: string,
    action: Action,
    target: ManifestTarget,
    probe: ContentProbe,
  ): Promise<Decision> {
    let moves: boolean | undefined;
    let guarded = false;
    for (const rule of this.#rules) {
      if (!rule.grants.has(action) || !this.#appliesTo(rule, identity, repository)) continue;
      const guard = this.#guards(rule, action, target);
      guarded ||= guard !== 'free';
      if (guard === 'always') continue;
      if (guard === 'tag') {
        moves ??= await probe.tagMoves();
        if (moves) continue;
      }
      if (guard === 'blob' && rule.protectedTag && (await probe.blobProtected(rule.protectedTag))) continue;
      return guard === 'tag' ? { allowed: true, ruleIndex: rule.index, tagMustNotMove: true } : { allowed: true, ruleIndex: rule.index };
    }
    return guarded ? PROTECTED : DENIED;
  }

  decide(identity: Identity, repository: string, action: Action): Decision {
    for (const rule of this.#rules) {
      if (rule.grants.has(action) && this.#appliesTo(rule, identity, repository)) return { allowed: true, ruleIndex: rule.index };
    }
    return DENIED;
  }

  /** True when some rule for this caller protects tags on this repository: the pipeline then pushes a tag under the tag lock. */
  hasProtectedTags(identity: Identity, repository: string): boolean {
    return this.#rules.some((rule) => rule.protectedTag !== undefined && this.#appliesTo(rule, identity, repository));
  }

  /**
   * Whether some rule grants the caller `action` on a repository `pattern` covers, as far as
   * examples tell: names drawn from the pattern and from each granting rule's own pattern (its
   * placeholders filled with the caller's values), each asked of the decision. A `false` means no
   * rule grants it on any such example — `token create` warns that the robot's scope is useless.
   */
  mayWithin(identity: Identity, pattern: string, action: Action): boolean {
    const scope = compileRepositoryPattern(pattern);
    const candidates = [
      ...exampleNames(pattern, null, []),
      ...this.#rules
        .filter((rule) => rule.grants.has(action) && rule.subjects.some((subject) => subject(identity)))
        .flatMap((rule) => exampleNames(rule.repository.source, identity.user, identity.groups)),
    ];
    return candidates.some((name) => scope.matches(name, null, []) && this.decide(identity, name, action).allowed);
  }

  /** True when the caller may perform `action` on at least one repository (used by `GET /v2/` callers, catalogs). */
  mayEver(identity: Identity, action: Action): boolean {
    return this.#rules.some((rule) => rule.grants.has(action) && rule.subjects.some((subject) => subject(identity)));
  }

  /**
   * False when no rule could grant the caller `action` on any repository whose name starts with
   * `prefix` (no granting rule's pattern can match such a name): a catalog walk skips them unread.
   */
  mayUnder(identity: Identity, prefix: string, action: Action): boolean {
    return this.#rules.some(
      (rule) =>
        rule.grants.has(action) &&
        rule.subjects.some((subject) => subject(identity)) &&
        rule.repository.mayMatchUnder(prefix, identity.user, identity.groups, identity.claims),
    );
  }

  #matched(identity: Identity, repository: string, grants: (rule: CompiledRule) => { grants: boolean; held: boolean }): RuleMatch[] {
    return this.#rules
      .filter((rule) => this.#appliesTo(rule, identity, repository))
      .map((rule) => {
        const verdict = grants(rule);
        return {
          index: rule.index,
          repository: rule.repository.source,
          subjects: rule.subjectText,
          actions: [...rule.grants],
          protectedTags: rule.protectedTagText,
          grants: verdict.grants,
          heldByProtectedTag: verdict.held,
        };
      });
  }

  /**
   * Every rule that matched, and the decision. `overwrite` without a tag asks whether the caller may
   * move any tag of the repository to another manifest: a rule grants it when it grants push and
   * either protects no tags or grants overwrite.
   */
  explain(identity: Identity, repository: string, request: ExplainedRequest): Explanation {
    if (request !== 'overwrite') {
      const matched = this.#matched(identity, repository, (rule) => ({ grants: rule.grants.has(request), held: false }));
      return { ...this.decide(identity, repository, request), matched };
    }
    const matched = this.#matched(identity, repository, (rule) => {
      const pushes = rule.grants.has('push');
      const free = !rule.protectedTag || rule.grants.has('overwrite');
      return { grants: pushes && free, held: pushes && !free };
    });
    const granting = matched.find((rule) => rule.grants);
    return granting
      ? { allowed: true, ruleIndex: granting.index, matched }
      : { ...(matched.some((rule) => rule.heldByProtectedTag) ? PROTECTED : DENIED), matched };
  }

  /**
   * The server's decision for a request naming `tag`: a push that creates the tag or pushes the same
   * manifest again (`push`), one that moves it to another manifest (`overwrite`), its delete, or a pull.
   */
  async explainTag(identity: Identity, repository: string, request: ExplainedRequest, tag: string): Promise<Explanation> {
    const action: Action = request === 'overwrite' ? 'push' : request;
    const moves = request === 'overwrite';
    const target: ManifestTarget = { tag };
    const decision = await this.decideContent(identity, repository, action, target, {
      tagMoves: () => Promise.resolve(moves),
      blobProtected: () => Promise.resolve(true),
    });
    const matched = this.#matched(identity, repository, (rule) => {
      if (!rule.grants.has(action)) return { grants: false, held: false };
      const guard = this.#guards(rule, action, target);
      const held = guard === 'always' || (guard === 'tag' && moves);
      return { grants: !held, held };
    });
    return { ...decision, matched };
  }
}

/**
 * What a client is told when protected tags refused its push or delete, and what `access explain`
 * prints. `undecided`: the walk over the protected tags' content stopped at its limits.
 */
export function protectedTagRefusal(target: ManifestTarget, action: Action, undecided = false): string {
  if (target.blob !== undefined && undecided)
    return 'the protected tags of this repository hold more content than one request may check for this blob; deleting it needs overwrite';
  if (target.blob !== undefined) return 'this blob is used by a protected tag; deleting it needs overwrite';
  if (target.tag === undefined) return 'this repository has protected tags; deleting a manifest by digest needs overwrite';
  return action === 'push'
    ? `the tag ${target.tag} is protected and already names another manifest; moving it needs overwrite`
    : `the tag ${target.tag} is protected; deleting it needs overwrite`;
}
