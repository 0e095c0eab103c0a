/**
 * What the audit trail's syslog output counts (`audit.syslog`): records sent, records dropped and
 * why, whether the collector is connected, and the bytes queued for it. With workers, each holds its
 * own connection and queue: the scrape adds them up.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** buffer_full: the queue was full; lost: a broken connection lost it; closed: still queued at close. */
export type SyslogDropReason = 'buffer_full' | 'lost' | 'closed';

const DROP_REASONS: readonly SyslogDropReason[] = ['buffer_full', 'lost', 'closed'];

export class SyslogMetrics {
  readonly #sent: Counter;
  readonly #dropped: Counter<'reason'>;
  readonly #connected: Gauge;
  readonly #queued: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#sent = new Counter({
      name: 'registry_gate_audit_syslog_sent_total',
      help: 'Audit records handed to the syslog collector (written to the TCP or TLS connection, or sent as a datagram).',
      registers,
    });
    this.#dropped = new Counter({
      name: 'registry_gate_audit_syslog_dropped_total',
      help: 'Audit records not sent to the syslog collector, by reason: buffer_full (audit.syslog.bufferSize reached while it was away or slow), lost (the connection broke with it unsent), closed (still queued at shutdown or reload).',
      labelNames: ['reason'] as const,
      registers,
    });
    this.#connected = new Gauge({
      name: 'registry_gate_audit_syslog_connected',
      help: 'Connections to the syslog collector that are up now (with workers: one per worker).',
      registers,
    });
    this.#queued = new Gauge({
      name: 'registry_gate_audit_syslog_queued_bytes',
      help: 'Bytes of audit records waiting for the syslog collector.',
      registers,
    });
    for (const reason of DROP_REASONS) this.#dropped.inc({ reason }, 0);
  }

  sent(): void {
    this.#sent.inc();
  }

  dropped(reason: SyslogDropReason): void {
    this.#dropped.inc({ reason });
  }

  connected(change: 1 | -1): void {
    this.#connected.inc(change);
  }

  queued(changeBytes: number): void {
    this.#queued.inc(changeBytes);
  }
}
