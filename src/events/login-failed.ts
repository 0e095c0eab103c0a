/**
 * `login-failed` events from the audit trail's refused-login records: every front end (/v2/, the
 * token endpoint, the web UI) already writes one for each refused login, throttled ones included
 * (access/audit-records.ts), so the sink that writes them is wrapped, and none of them changes.
 */
import type { AuditRecord, AuditSink } from '../access/audit.js';
import type { EventSink } from './index.js';

/** `audit`, also offering each refused login to the webhooks that want it (dropped and counted when the queue is full). */
export function withLoginFailedEvents(audit: AuditSink, events: EventSink | undefined): AuditSink {
  if (!events) return audit;
  return {
    record(entry: AuditRecord) {
      audit.record(entry);
      if (entry.action !== 'login' || entry.decision !== 'deny' || !events.wants('login-failed', entry.repository)) return;
      events.offer({
        action: 'login-failed',
        repository: entry.repository,
        user: entry.user,
        client: entry.client,
        method: entry.method,
        reason: entry.reason,
        endpoint: entry.endpoint,
      });
    },
    reopen: () => audit.reopen(),
    close: () => audit.close(),
  };
}
