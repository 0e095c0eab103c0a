/**
 * One webhook's delivery loop: the queue's records in order, one at a time, each tried until the
 * receiver takes it (2xx) or `maxAttempts` tries have failed, then kept as a dead letter; only then
 * the next. So a webhook gets a repository's events in the order they happened, and a slow or dead
 * receiver holds back its own loop and nothing else (each webhook has its loop, its connection and
 * its deadline; requests never wait on a delivery). Between tries it waits `retryDelay`, doubled
 * each time up to `maxRetryDelay`, with full jitter (a random part of it), so receivers coming back
 * are not hit by every gateway at the same instant.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { EventAction, RegistryEvent } from './event.js';
import type { EventQueue } from './event-queue.js';
import { payloadOf, type WebhookFormat } from './payloads.js';
import type { QueuedRecord } from './segment-log.js';
import { appendDeadLetter, writeCursor, type EventPaths } from './webhook-files.js';
import type { TryOutcome, WebhookClient } from './webhook-request.js';

export interface WebhookSettings {
  readonly name: string;
  readonly format: WebhookFormat;
  readonly actions: ReadonlySet<EventAction>;
  /** Whether the webhook is told of events in `repository` ('' for a refused login outside /v2/). */
  readonly coversRepository: (repository: string) => boolean;
}

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
  readonly maxDeadLetters: number;
  readonly source: string;
}

/** What the metrics and the UI hear of deliveries (labelled by webhook name only). */
export interface DeliveryObserver {
  tried(webhook: string, event: RegistryEvent, outcome: TryOutcome, attempt: number): void;
  deadLettered(webhook: string, event: RegistryEvent, dropped: number): void;
}

export function wants(settings: WebhookSettings, event: RegistryEvent): boolean {
  return settings.actions.has(event.action) && (event.repository === '' || settings.coversRepository(event.repository));
}

/** How long to wait before try `attempt + 1`: exponential, capped, with full jitter. */
export function retryDelay(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.maxRetryDelayMs, policy.retryDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** How long the cursor may lag behind the deliveries (a crash re-delivers at most that much). */
const CURSOR_SAVE_DELAY_MS = 200;

export class Deliverer {
  readonly #settings: WebhookSettings;
  readonly #client: WebhookClient;
  readonly #queue: EventQueue;
  readonly #paths: EventPaths;
  readonly #policy: RetryPolicy;
  readonly #observer: DeliveryObserver;
  readonly #logger: Logger;
  readonly #stop = new AbortController();
  #cursor: number;
  #savedCursor: number;
  #deadLetters: number;
  #running: Promise<void> | undefined;

  constructor(
    parts: { settings: WebhookSettings; client: WebhookClient; queue: EventQueue; paths: EventPaths; policy: RetryPolicy },
    state: { cursor: number; deadLetters: number },
    observer: DeliveryObserver,
    logger: Logger,
  ) {
    this.#settings = parts.settings;
    this.#client = parts.client;
    this.#queue = parts.queue;
    this.#paths = parts.paths;
    this.#policy = parts.policy;
    this.#cursor = state.cursor;
    this.#savedCursor = state.cursor;
    this.#deadLetters = state.deadLetters;
    this.#observer = observer;
    this.#logger = logger;
  }

  get name(): string {
    return this.#settings.name;
  }

  /** Every record up to this seq is done (delivered, dead-lettered, or not for this webhook). */
  get cursor(): number {
    return this.#cursor;
  }

  get deadLetters(): number {
    return this.#deadLetters;
  }

  set deadLetters(count: number) {
    this.#deadLetters = count;
  }

  start(): void {
    this.#running ??= this.#loop().catch((error: unknown) => {
      this.#logger.error({ err: error, webhook: this.name }, 'the webhook delivery loop stopped');
    });
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#running;
    await this.#saveCursor();
    await this.#client.close();
  }

  async #loop(): Promise<void> {
    const signal = this.#stop.signal;
    let lastSave = Date.now();
    while (!signal.aborted) {
      const record = this.#queue.after(this.#cursor);
      if (!record) {
        await this.#saveCursor();
        await this.#queue.waitForMore(this.#cursor, signal);
        continue;
      }
      if (this.#isFor(record)) {
        const done = await this.#deliver(record.event, signal);
        if (!done) return;
      }
      this.#cursor = record.seq;
      if (Date.now() - lastSave >= CURSOR_SAVE_DELAY_MS) {
        await this.#saveCursor();
        lastSave = Date.now();
      }
    }
  }

  #isFor(record: QueuedRecord): boolean {
    return record.only === undefined ? wants(this.#settings, record.event) : record.only === this.name;
  }

  /** Tries until delivered or dead-lettered: true; false when stopped first (the record stays for the next start). */
  async #deliver(event: RegistryEvent, signal: AbortSignal): Promise<boolean> {
    const payload = payloadOf(event, this.#settings.format, this.#policy.source);
    for (let attempt = 1; ; attempt += 1) {
      const outcome = await this.#client.send(event.id, payload, signal);
      if (signal.aborted) return false;
      this.#observer.tried(this.name, event, outcome, attempt);
      if (outcome.ok) return true;
      if (attempt >= this.#policy.maxAttempts) {
        await this.#deadLetter(event, outcome.error);
        return true;
      }
      this.#logger.debug({ webhook: this.name, event: event.id, attempt, error: outcome.error }, 'webhook delivery failed; will retry');
      try {
        await sleep(retryDelay(this.#policy, attempt), undefined, { signal });
      } catch {
        return false;
      }
    }
  }

  async #deadLetter(event: RegistryEvent, error: string): Promise<void> {
    const attempts = this.#policy.maxAttempts;
    const letter = { event, webhook: this.name, attempts, error, failedAt: new Date().toISOString() };
    const dropped = await appendDeadLetter(this.#paths, letter, this.#policy.maxDeadLetters, this.#deadLetters);
    this.#deadLetters = Math.min(this.#policy.maxDeadLetters, this.#deadLetters + 1);
    this.#observer.deadLettered(this.name, event, dropped);
    this.#logger.warn({ webhook: this.name, event: event.id, attempts, error }, 'webhook delivery gave up: kept as a dead letter');
  }

  async #saveCursor(): Promise<void> {
    if (this.#cursor === this.#savedCursor) return;
    const cursor = this.#cursor;
    await writeCursor(this.#paths, this.name, cursor);
    this.#savedCursor = cursor;
  }
}
