/**
 * What a client does to a repository, in the words of the Docker token scopes
 * (`repository:team/app:pull,push`): the actions access rules grant, tokens carry and the audit
 * trail records. The config schema takes its `actions` from here; the decision, the token
 * service and the pipeline speak them.
 */

export const ACTIONS = ['pull', 'push', 'delete'] as const;
export type Action = (typeof ACTIONS)[number];

/** What a rule may grant: the request actions, and `overwrite` for its protected tags. */
export const GRANTS = [...ACTIONS, 'overwrite'] as const;
export type Grant = (typeof GRANTS)[number];
