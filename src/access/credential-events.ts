/**
 * Audit records of what happens to credentials outside a request: a user the OpenID provider no
 * longer vouches for, whose sessions and personal tokens end with the re-check that found it out.
 */
import type { AuditRecord } from './audit.js';

export interface CredentialsEndedEvent {
  readonly user: string;
  readonly via: string;
  /** A code (`provider-refused`, `subject-changed`, …). */
  readonly reason: string;
  /** What the provider said, safe to log. */
  readonly detail: string;
}

/** Action `credentials-ended`: every session and personal token of `user` stopped, and why. */
export function credentialsEndedRecord(event: CredentialsEndedEvent): AuditRecord {
  return {
    user: event.user,
    groups: [],
    via: event.via,
    client: '',
    method: '',
    action: 'credentials-ended',
    repository: '',
    decision: 'deny',
    rule: -1,
    status: 401,
    reason: event.reason,
    detail: event.detail,
  };
}
