/**
 * The audit trail: one JSON line per state-changing request (blob and manifest pushes with their
 * digest and tag, deletes, mounts) and per denied request, separate from the access log. Records are
 * built field by field from decided values; no header, password or token can reach them. A file sink
 * is reopened on SIGHUP so that logrotate can move it away.
 */
import pino from 'pino';
import { streamLogger } from '../log.js';

export interface AuditRecord {
  readonly user: string | null;
  readonly groups: readonly string[];
  readonly via: string;
  readonly client: string;
  readonly method: string;
  /** pull, push, delete, mount, catalog, or login for refused credentials. */
  readonly action: string;
  readonly repository: string;
  readonly reference?: string | undefined;
  readonly digest?: string | undefined;
  readonly tag?: string | undefined;
  readonly from?: string | undefined;
  readonly decision: 'allow' | 'deny';
  /** Index of the access rule that granted, or -1. */
  readonly rule: number;
  readonly status: number;
}

export interface AuditSink {
  record(entry: AuditRecord): void;
  reopen(): void;
  close(): Promise<void>;
}

export const NO_AUDIT: AuditSink = { record: () => undefined, reopen: () => undefined, close: async () => undefined };

export function openAuditSink(target: 'stdout' | string): AuditSink {
  const destination = target === 'stdout' ? pino.destination({ fd: 1, sync: false }) : pino.destination({ dest: target, mkdir: true, sync: false });
  // The same line shape as the app and access logs (src/log.ts), with `"log":"audit"`.
  const logger = streamLogger('audit', 'info', destination);
  return {
    record(entry) {
      logger.info(entry);
    },
    reopen() {
      if (target !== 'stdout') destination.reopen();
    },
    close() {
      return new Promise((resolve) => {
        destination.flush?.();
        if (target === 'stdout') resolve();
        else {
          destination.once('close', () => resolve());
          destination.end();
        }
      });
    },
  };
}
