/**
 * One event: what happened, built field by field from what the pipeline decided and the backend
 * answered (never from raw headers beyond the few named here), so no password or token can reach a
 * receiver. Its `id` is a random UUID made once, when it happens: every delivery of it, retries and
 * replays included, carries the same id, for the receiver to drop duplicates.
 */
import { randomUUID } from 'node:crypto';
import type { EventAction } from '../config/schema/events.js';

export type { EventAction } from '../config/schema/events.js';

export interface RegistryEvent {
  readonly id: string;
  /** When it happened, ISO 8601 (UTC). */
  readonly time: string;
  readonly action: EventAction;
  /** Empty for a refused login outside /v2/ (the token endpoint, the UI). */
  readonly repository: string;
  readonly tag?: string | undefined;
  readonly digest?: string | undefined;
  readonly mediaType?: string | undefined;
  readonly size?: number | undefined;
  /** The caller; for `login-failed`, the name that was tried (null when none). */
  readonly user: string | null;
  readonly client: string;
  readonly method: string;
  readonly host?: string | undefined;
  readonly userAgent?: string | undefined;
  /** `login-failed`: why (`invalid-credentials`, `throttled`…) and where outside /v2/ (`/auth/token`). */
  readonly reason?: string | undefined;
  readonly endpoint?: string | undefined;
}

export type EventFacts = Omit<RegistryEvent, 'id' | 'time'>;

/** Header values a client chose: kept short, as the audit trail keeps names. */
const MAX_CLIENT_TEXT = 256;

export function clientText(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value.slice(0, MAX_CLIENT_TEXT) : undefined;
}

export function newEvent(facts: EventFacts, now = new Date()): RegistryEvent {
  return { ...facts, id: randomUUID(), time: now.toISOString() };
}
