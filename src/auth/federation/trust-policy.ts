/**
 * One trust policy of `auth.federation`, compiled once: its conditions as anchored patterns, its
 * user and group templates as pieces. Given the claims of a token whose signature, issuer and times
 * have been verified, it says whether the token is the policy's (audience, then every condition)
 * and who it stands for — or which check failed.
 *
 * Claims are compared as they are, byte for byte: no case folding, no Unicode normalisation, no
 * trimming, so `Octo-Org` or `оcto-org` (a Cyrillic о) never meets a condition written `octo-org`.
 * A claim a condition or template needs must be a string: an array or an object (which some
 * issuers send, and which a careless comparison would stringify) fails the check. A value put into
 * a name must be printable ASCII without spaces, so a name never carries a look-alike either.
 */
import type { JWTPayload } from 'jose';
import type { FederationPolicyConfig } from '../../config/schema/federation.js';
import { splitClaimTemplate, type TemplatePiece } from '../../config/schema/claim-template.js';
import type { Identity } from '../identity.js';

/** What may be put into a user or group name from a claim: printable ASCII, no space. */
const NAME_VALUE = /^[\x21-\x7e]{1,256}$/;
/** What a claim the rules use may be: no control characters, not too long (the rules' own grammar decides the rest). */
// eslint-disable-next-line no-control-regex -- control characters are what this refuses
const RULE_VALUE = /^[^\x00-\x1f\x7f]{1,256}$/u;
const MAX_NAME_LENGTH = 256;

/** A check that failed: `audience`, `condition:NAME`, `claim:NAME` (missing, or not a usable string). */
export type PolicyOutcome = { readonly identity: Identity } | { readonly failed: string };

function escapeRegExp(text: string): string {
  return text.replace(/[.+^${}()|[\]\\]/g, '\\$&');
}

/** A condition: the exact value, or a glob (`*` within a `/`-separated segment, `**` across, `?` one character). */
function compileCondition(value: string): (claim: string) => boolean {
  if (!/[*?]/.test(value)) return (claim) => claim === value;
  const source = value
    .split(/(\*\*|\*|\?)/)
    .map((part) => (part === '**' ? '[\\s\\S]*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : escapeRegExp(part)))
    .join('');
  const pattern = new RegExp(`^${source}$`, 'u');
  return (claim) => pattern.test(claim);
}

function audienceHolds(aud: JWTPayload['aud'], audience: string): boolean {
  return typeof aud === 'string' ? aud === audience : Array.isArray(aud) && aud.includes(audience);
}

export class TrustPolicy {
  readonly name: string;
  readonly issuer: string;
  readonly #audience: string;
  readonly #maxTokenLifetimeMs: number;
  readonly #conditions: ReadonlyArray<readonly [string, (claim: string) => boolean]>;
  readonly #user: readonly TemplatePiece[];
  readonly #groups: ReadonlyArray<readonly TemplatePiece[]>;
  /** The claims the access rules name, carried on the identity when the token has them. */
  readonly #ruleClaims: readonly string[];

  constructor(config: FederationPolicyConfig, ruleClaims: readonly string[]) {
    this.name = config.name;
    this.issuer = config.issuer;
    this.#audience = config.audience;
    this.#maxTokenLifetimeMs = config.maxTokenLifetime;
    this.#conditions = Object.entries(config.conditions).map(([claim, value]) => [claim, compileCondition(value)] as const);
    this.#user = splitClaimTemplate(config.user);
    this.#groups = config.groups.map(splitClaimTemplate);
    this.#ruleClaims = ruleClaims;
  }

  /** Whether the token is for this policy's audience. */
  accepts(payload: JWTPayload): boolean {
    return audienceHolds(payload.aud, this.#audience);
  }

  /** The identity a verified token of this policy's audience stands for, or the first check that fails. */
  apply(payload: JWTPayload): PolicyOutcome {
    for (const [claim, holds] of this.#conditions) {
      const value = payload[claim];
      if (typeof value !== 'string' || !holds(value)) return { failed: `condition:${claim}` };
    }
    const user = render(this.#user, payload);
    if ('failed' in user) return user;
    const groups: string[] = [];
    for (const template of this.#groups) {
      const group = render(template, payload);
      if ('failed' in group) return group;
      groups.push(group.name);
    }
    const claims = ruleClaims(this.#ruleClaims, payload);
    if ('failed' in claims) return claims;
    const identity: Identity = {
      user: user.name,
      groups: Object.freeze([...new Set(groups)]),
      via: 'federated',
      validUntil: (payload.exp as number) * 1000,
      claims: claims.values,
      federation: Object.freeze({
        policy: this.name,
        issuer: this.issuer,
        subject: payload.sub as string,
        maxTokenLifetimeMs: this.#maxTokenLifetimeMs,
      }),
    };
    return { identity: Object.freeze(identity) };
  }
}

function render(pieces: readonly TemplatePiece[], payload: JWTPayload): { name: string } | { failed: string } {
  let name = '';
  for (const piece of pieces) {
    if ('literal' in piece) {
      name += piece.literal;
      continue;
    }
    const value = payload[piece.claim];
    if (typeof value !== 'string' || !NAME_VALUE.test(value)) return { failed: `claim:${piece.claim}` };
    name += value;
  }
  return name.length <= MAX_NAME_LENGTH ? { name } : { failed: 'name-too-long' };
}

function ruleClaims(names: readonly string[], payload: JWTPayload): { values: Readonly<Record<string, string>> } | { failed: string } {
  const values: Record<string, string> = {};
  for (const name of names) {
    const value = payload[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || !RULE_VALUE.test(value)) return { failed: `claim:${name}` };
    values[name] = value;
  }
  return { values: Object.freeze(values) };
}
