/**
 * The audit trail: one JSON line per state-changing request (blob and manifest pushes with their
 * digest and tag, deletes, mounts), per denied request and per refused login (at /v2/ and at the
 * token endpoint, throttled ones included), separate from the access log. Records are built field by
 * field from decided values; no header, password or token can reach them. A file sink is reopened on
 * SIGHUP so that logrotate can move it away; it is created 0600 (its folder 0700). With
 * `audit.syslog`, every record also goes to a syslog collector (./syslog/).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';
import type { SyslogConfig } from '../config/schema/syslog.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../lib/file-modes.js';
import { streamLogger } from '../log.js';
import { openSyslogSink, type SyslogObserver } from './syslog/sink.js';

export interface AuditRecord {
  /** The caller; for a refused login, the name that was tried (null when none was given or trustworthy). */
  readonly user: string | null;
  readonly groups: readonly string[];
  readonly via: string;
  readonly client: string;
  readonly method: string;
  /** pull, push, delete, mount, catalog, login for refused credentials, token-grant, robot-create, robot-revoke. */
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
  /**
   * Why a request was refused: `policy`, `scope`, `protected-tag`, `protected-tag-race`, or for a
   * refused login (action `login`) a code such as `invalid-credentials` or `throttled`.
   */
  readonly reason?: string | undefined;
  /** Where a login outside /v2/ was refused, or a token granted: `/auth/token`, `/ui/login`. */
  readonly endpoint?: string | undefined;
  /** `ui` for what was done or refused through the web UI (absent for registry clients). */
  readonly source?: 'ui' | undefined;
  /** The robot account a `robot-create` or `robot-revoke` record is about. */
  readonly robot?: string | undefined;
  /** The personal access token (its public id) a request came with, or a `token-create` / `token-revoke` record is about. */
  readonly tokenId?: string | undefined;
  /** The owner whose personal tokens a `token-revoke` record is about, when it is not the caller. */
  readonly owner?: string | undefined;
  /** What the other side said, for a record whose `reason` alone does not tell (an OpenID provider's refusal). */
  readonly detail?: string | undefined;
  /** A federated caller's trust policy, its token's issuer and subject (`sub`); for a refused token, what was known of them. */
  readonly federation?:
    { readonly policy?: string | undefined; readonly issuer?: string | undefined; readonly subject?: string | undefined } | undefined;
  /** For a refused federated token (reason `invalid-federated-token`): the check that failed (`audience`, `expired`, `condition:ref`…). */
  readonly check?: string | undefined;
  /** A `token-grant`: the grant (`caller`, `password`, `refresh_token`, `token-exchange`) and the scopes granted (`repository:team/app:pull …`). */
  readonly grant?: string | undefined;
  readonly scope?: string | undefined;
}

export interface AuditSink {
  record(entry: AuditRecord): void;
  reopen(): void;
  close(): Promise<void>;
}

export const NO_AUDIT: AuditSink = { record: () => undefined, reopen: () => undefined, close: () => Promise.resolve() };

export interface AuditSettings {
  /** A file path, or `stdout`. */
  readonly file: string;
  readonly syslog?: SyslogConfig | undefined;
}

/** The file or stdout sink, and the syslog collector's beside it when `syslog` is set. */
export function openAuditSink(settings: AuditSettings, options: { readonly logger: Logger; readonly syslog: SyslogObserver }): AuditSink {
  const { syslog } = settings;
  const ca = syslog?.ca === undefined ? undefined : readFileSync(syslog.ca, 'utf8');
  const file = openFileSink(settings.file);
  if (!syslog) return file;
  const collector = openSyslogSink(syslog, { ca, observer: options.syslog, logger: options.logger });
  return {
    record(entry) {
      file.record(entry);
      collector.record(entry);
    },
    reopen: () => file.reopen(),
    close: async () => {
      await Promise.all([file.close(), collector.close()]);
    },
  };
}

/** `target`: a file path, or `stdout`. */
function openFileSink(target: string): AuditSink {
  if (target !== 'stdout') mkdirSync(dirname(target), { recursive: true, mode: PRIVATE_DIR_MODE });
  const destination =
    target === 'stdout'
      ? pino.destination({ fd: 1, sync: false })
      : pino.destination({ dest: target, sync: false, mode: PRIVATE_FILE_MODE });
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
        destination.flush();
        if (target === 'stdout') resolve();
        else {
          destination.once('close', () => resolve());
          destination.end();
        }
      });
    },
  };
}
