/**
 * What the webhooks count (src/events/): tries by webhook and result, retries, dead letters, events
 * dropped because the queue was full (by action), and the queue's depth. Labels are the webhook's
 * configured name and the event action, never a repository, user or client.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export class EventsMetrics {
  readonly #deliveries: Counter<'webhook' | 'result'>;
  readonly #retries: Counter<'webhook'>;
  readonly #deadLetters: Counter<'webhook'>;
  readonly #dropped: Counter<'action'>;
  readonly #depth: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#deliveries = new Counter({
      name: 'registry_gate_webhook_deliveries_total',
      help: 'Webhook delivery tries, by webhook and result (delivered: a 2xx answer; failed: anything else).',
      labelNames: ['webhook', 'result'] as const,
      registers,
    });
    this.#retries = new Counter({
      name: 'registry_gate_webhook_retries_total',
      help: 'Webhook delivery tries that were retries of an event already tried, by webhook.',
      labelNames: ['webhook'] as const,
      registers,
    });
    this.#deadLetters = new Counter({
      name: 'registry_gate_webhook_dead_letters_total',
      help: 'Events a webhook gave up on after events.maxAttempts tries (kept as dead letters), by webhook.',
      labelNames: ['webhook'] as const,
      registers,
    });
    this.#dropped = new Counter({
      name: 'registry_gate_events_dropped_total',
      help: 'Pull and login-failed events not stored because the queue was full (events.queue.maxEvents), by action.',
      labelNames: ['action'] as const,
      registers,
    });
    this.#depth = new Gauge({
      name: 'registry_gate_events_queue_depth',
      help: 'Events in the queue that some webhook has not yet been given.',
      registers,
    });
  }

  tried(webhook: string, ok: boolean, attempt: number): void {
    this.#deliveries.inc({ webhook, result: ok ? 'delivered' : 'failed' });
    if (attempt > 1) this.#retries.inc({ webhook });
  }

  deadLettered(webhook: string): void {
    this.#deadLetters.inc({ webhook });
  }

  dropped(action: string): void {
    this.#dropped.inc({ action });
  }

  depth(count: number): void {
    this.#depth.set(count);
  }
}
