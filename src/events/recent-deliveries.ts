/**
 * What an administrator sees of each webhook in the UI: its last tries (kept in memory, the last
 * RECENT_TRIES), how many failed since the start, and its dead letters.
 */
import type { RegistryEvent } from './event.js';
import type { TryOutcome } from './webhook-request.js';

const RECENT_TRIES = 20;

export interface RecentTry {
  readonly time: string;
  readonly eventId: string;
  readonly action: string;
  readonly repository: string;
  readonly attempt: number;
  readonly ok: boolean;
  /** `HTTP 204`, or why the try failed. */
  readonly result: string;
}

export interface WebhookStatus {
  readonly name: string;
  readonly delivered: number;
  readonly failed: number;
  readonly deadLetters: number;
  /** Newest first. */
  readonly recent: readonly RecentTry[];
}

interface Tally {
  delivered: number;
  failed: number;
  deadLetters: number;
  recent: RecentTry[];
}

export class RecentDeliveries {
  readonly #tallies = new Map<string, Tally>();

  #tally(webhook: string): Tally {
    let tally = this.#tallies.get(webhook);
    if (!tally) {
      tally = { delivered: 0, failed: 0, deadLetters: 0, recent: [] };
      this.#tallies.set(webhook, tally);
    }
    return tally;
  }

  tried(webhook: string, event: RegistryEvent, outcome: TryOutcome, attempt: number): void {
    const tally = this.#tally(webhook);
    if (outcome.ok) tally.delivered += 1;
    else tally.failed += 1;
    const result = outcome.ok ? `HTTP ${outcome.status}` : outcome.error;
    tally.recent.unshift({
      time: new Date().toISOString(),
      eventId: event.id,
      action: event.action,
      repository: event.repository,
      attempt,
      ok: outcome.ok,
      result,
    });
    tally.recent.length = Math.min(tally.recent.length, RECENT_TRIES);
  }

  deadLetters(webhook: string, count: number): void {
    this.#tally(webhook).deadLetters = count;
  }

  status(names: readonly string[]): WebhookStatus[] {
    return names.map((name) => {
      const tally = this.#tally(name);
      return { name, delivered: tally.delivered, failed: tally.failed, deadLetters: tally.deadLetters, recent: [...tally.recent] };
    });
  }
}
