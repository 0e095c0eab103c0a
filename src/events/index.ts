/**
 * Events: webhooks told what happened, from a durable queue (docs/events.md). Opened by the
 * composition root only when `events.webhooks` names one: without webhooks there is no queue, no
 * file and no cost on any request.
 *
 *   the pipeline ── reserve/record ──▶ EventQueue (segments under dataDir/events, fsync grouped)
 *                                          │
 *                   one Deliverer per webhook (its cursor, its retries, its dead letters)
 *
 * The service also trims the queue (every record every webhook has passed) and takes the replay
 * requests `registry-gate events replay` leaves, once a second.
 */
import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { EventsConfig, WebhookConfig } from '../config/schema/events.js';
import { compileRepositoryPattern } from '../access/pattern.js';
import { newEvent, type EventAction, type EventFacts } from './event.js';
import { EventQueue, type Reservation } from './event-queue.js';
import { Deliverer, wants, type DeliveryObserver, type RetryPolicy, type WebhookSettings } from './deliverer.js';
import { SegmentLog } from './segment-log.js';
import {
  eventPaths,
  readCursor,
  readDeadLetters,
  takeDeadLetters,
  takeReplayRequests,
  writeCursor,
  type EventPaths,
} from './webhook-files.js';
import { WebhookClient, readSecret } from './webhook-request.js';
import { InternalError } from '../lib/internal-errors.js';
import { RecentDeliveries, type WebhookStatus } from './recent-deliveries.js';

export type { Reservation } from './event-queue.js';
export type { EventAction, EventFacts } from './event.js';
export type { WebhookStatus } from './recent-deliveries.js';
export { wants } from './deliverer.js';

/** What the request pipeline asks of the events (src/gateway/events-hook.ts). */
export interface EventSink {
  /** Whether some webhook is told of `action` in `repository`: else nothing is made. */
  wants(action: EventAction, repository: string): boolean;
  /** A place in the queue for a change about to happen; undefined when full (refuse the request). */
  reserve(): Reservation | undefined;
  /** Stores the event durably: resolves once it is on disk. */
  record(facts: EventFacts, reservation?: Reservation): Promise<void>;
  /** Stores the event unless the queue is full (then it is dropped and counted); nobody waits. */
  offer(facts: EventFacts): void;
}

export interface EventsObserver extends DeliveryObserver {
  dropped(action: EventAction): void;
  depth(count: number): void;
}

export interface OpenEventsOptions {
  readonly config: EventsConfig;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly observer: EventsObserver;
}

const HOUSEKEEPING_MS = 1_000;

/**
 * Where a webhook's deliveries resume: its saved cursor, or for a webhook new to this queue what
 * happens from now on — written at once, so a crash before its first delivery resumes there too.
 */
async function startingCursor(paths: EventPaths, webhook: string, lastSeq: number): Promise<number> {
  const saved = await readCursor(paths, webhook);
  if (saved !== undefined) return saved;
  await writeCursor(paths, webhook, lastSeq);
  return lastSeq;
}

/** What a webhook is told, compiled from its config (also for `registry-gate events`). */
export function webhookSettings(hook: WebhookConfig): WebhookSettings {
  const patterns = hook.repositories.map((source) => compileRepositoryPattern(source));
  return {
    name: hook.name,
    format: hook.format,
    actions: new Set(hook.actions),
    coversRepository: (repository) => patterns.some((pattern) => pattern.matches(repository, null, [])),
  };
}

export class EventService implements EventSink {
  readonly #queue: EventQueue;
  readonly #deliverers: Deliverer[];
  readonly #settings: WebhookSettings[];
  readonly #paths: EventPaths;
  readonly #observer: EventsObserver;
  readonly #logger: Logger;
  readonly #recent: RecentDeliveries;
  readonly #timer: NodeJS.Timeout;
  #trimmedThrough = 0;
  #housekeeping: Promise<void> | undefined;

  private constructor(parts: {
    queue: EventQueue;
    deliverers: Deliverer[];
    settings: WebhookSettings[];
    paths: EventPaths;
    observer: EventsObserver;
    logger: Logger;
    recent: RecentDeliveries;
  }) {
    this.#queue = parts.queue;
    this.#deliverers = parts.deliverers;
    this.#settings = parts.settings;
    this.#paths = parts.paths;
    this.#observer = parts.observer;
    this.#logger = parts.logger;
    this.#recent = parts.recent;
    this.#timer = setInterval(() => {
      this.#housekeeping ??= this.#keepHouse().finally(() => (this.#housekeeping = undefined));
    }, HOUSEKEEPING_MS);
    this.#timer.unref();
  }

  static async open(options: OpenEventsOptions): Promise<EventService> {
    const { config, logger } = options;
    const paths = eventPaths(options.dataDir);
    const opened = await SegmentLog.open(paths.queue);
    if (opened.torn)
      logger.warn('the event queue ended in a torn record (a crash during an append); it was never acknowledged and is ignored');
    if (opened.damaged > 0) logger.error({ records: opened.damaged }, 'damaged records in the event queue were skipped');
    const queue = new EventQueue(opened.log, opened.records, config.queue.maxEvents);
    queue.onDepth = (depth) => options.observer.depth(depth);
    const recent = new RecentDeliveries();
    const observer: EventsObserver = {
      ...options.observer,
      tried: (webhook, event, outcome, attempt) => {
        recent.tried(webhook, event, outcome, attempt);
        options.observer.tried(webhook, event, outcome, attempt);
      },
      deadLettered: (webhook, event, dropped) => {
        const deliverer = deliverers.find((candidate) => candidate.name === webhook);
        recent.deadLetters(webhook, deliverer?.deadLetters ?? 0);
        options.observer.deadLettered(webhook, event, dropped);
      },
    };
    const policy: RetryPolicy = {
      maxAttempts: config.maxAttempts,
      retryDelayMs: config.retryDelay,
      maxRetryDelayMs: config.maxRetryDelay,
      maxDeadLetters: config.maxDeadLetters,
      source: config.source ?? `registry-gate://${hostname()}`,
    };
    const settings: WebhookSettings[] = [];
    const deliverers: Deliverer[] = [];
    for (const hook of config.webhooks) {
      const setting = webhookSettings(hook);
      // A secret that cannot be read would fail every try: better said at start, naming the file (never its content).
      await readSecret(hook.secretFile).catch((error: unknown) => {
        throw new InternalError(
          'RG_ERR_FILE_UNREADABLE',
          `events.webhooks ${hook.name}: the secret file ${hook.secretFile} cannot be read or is empty`,
          {
            cause: error,
          },
        );
      });
      const caPem = hook.ca === undefined ? undefined : await readFile(hook.ca, 'utf8');
      const client = new WebhookClient(
        { name: hook.name, url: hook.url, secretFile: hook.secretFile, timeoutMs: hook.timeout, ca: hook.ca },
        caPem,
      );
      const cursor = await startingCursor(paths, hook.name, queue.lastSeq);
      const deadLetters = (await readDeadLetters(paths, hook.name)).length;
      settings.push(setting);
      deliverers.push(new Deliverer({ settings: setting, client, queue, paths, policy }, { cursor, deadLetters }, observer, logger));
      recent.deadLetters(hook.name, deadLetters);
    }
    // What every webhook had before the restart is not held again.
    await queue.dropThrough(Math.min(...deliverers.map((deliverer) => deliverer.cursor)));
    const service = new EventService({ queue, deliverers, settings, paths, observer, logger, recent });
    for (const deliverer of deliverers) deliverer.start();
    options.observer.depth(queue.depth);
    return service;
  }

  wants(action: EventAction, repository: string): boolean {
    const event = { action, repository } as Parameters<typeof wants>[1];
    return this.#settings.some((setting) => wants(setting, event));
  }

  reserve(): Reservation | undefined {
    return this.#queue.reserve();
  }

  record(facts: EventFacts, reservation?: Reservation): Promise<void> {
    return this.#queue.append(newEvent(facts), { reservation });
  }

  offer(facts: EventFacts): void {
    const stored = this.#queue.offer(newEvent(facts), (error) => this.#logger.error({ err: error }, 'an event could not be stored'));
    if (!stored) this.#observer.dropped(facts.action);
  }

  /** Each webhook's recent tries and dead letters, for the UI. */
  status(): WebhookStatus[] {
    return this.#recent.status(this.#deliverers.map((deliverer) => deliverer.name));
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#housekeeping;
    await Promise.all(this.#deliverers.map((deliverer) => deliverer.close()));
    await this.#queue.close();
  }

  async #keepHouse(): Promise<void> {
    try {
      await this.#replayRequested();
      const through = Math.min(...this.#deliverers.map((deliverer) => deliverer.cursor));
      if (through > this.#trimmedThrough) {
        await this.#queue.dropThrough(through);
        this.#trimmedThrough = through;
      }
    } catch (error) {
      this.#logger.error({ err: error }, 'event queue housekeeping failed');
    }
  }

  /** Dead letters named by `registry-gate events replay`, queued again for their webhook alone. */
  async #replayRequested(): Promise<void> {
    for (const request of await takeReplayRequests(this.#paths)) {
      for (const deliverer of this.#deliverers) {
        if (request.webhook !== undefined && request.webhook !== deliverer.name) continue;
        const taken = await takeDeadLetters(
          this.#paths,
          deliverer.name,
          (letter) => request.all === true || letter.event.id === request.id,
        );
        for (const letter of taken) await this.#queue.append(letter.event, { only: deliverer.name });
        deliverer.deadLetters = Math.max(0, deliverer.deadLetters - taken.length);
        this.#recent.deadLetters(deliverer.name, deliverer.deadLetters);
        if (taken.length > 0) this.#logger.info({ webhook: deliverer.name, events: taken.length }, 'dead letters queued again');
      }
    }
  }
}
