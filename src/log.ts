/**
 * The log streams: `app` for what the program does, `access` for one line per request, `audit` for
 * the audit trail (src/access/audit.ts). All three write one JSON line shape, so one shipper config
 * reads them all:
 *
 *   {"level":"info","time":"2025-01-31T12:00:00.000Z","pid":7,"log":"access","method":"GET",…}
 *
 * `level` is a name, `time` is ISO-8601 (UTC) and `log` tells the streams apart. Pretty lines are for
 * terminals only: the default format is `pretty` when stdout is a TTY and JSON otherwise. One-time
 * facts for the operator (the listening banner, the certificate fingerprint, where the first admin
 * password is) go to stderr through `announce`, never into a log stream.
 *
 * Nothing that is logged may contain a password, an Authorization header, a cookie or a token: the
 * access log is written field by field from values the gateway chose, never from raw headers, and
 * pino's redact covers the header names in case an object ever slips through.
 */
import pino, { type Logger, type LoggerOptions } from 'pino';

export type LogFormat = 'json' | 'pretty';
export type LogStream = 'app' | 'access' | 'audit';

export interface Loggers {
  readonly app: Logger;
  readonly access: Logger;
}

const REDACT = [
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'token',
  '*.token',
  // OAuth and OpenID Connect values, should one ever slip into a logged object.
  'refresh_token',
  '*.refresh_token',
  'access_token',
  '*.access_token',
  'id_token',
  '*.id_token',
  'client_secret',
  '*.client_secret',
  'secret',
  '*.secret',
];

/** The options every stream's root logger is made with; `log` is bound per stream by `streamLogger`. */
export function lineOptions(level: string): LoggerOptions {
  return {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACT, censor: '[redacted]' },
  };
}

/** A logger for one stream, writing the shared line shape to `destination`. */
export function streamLogger(log: LogStream, level: string, destination: pino.DestinationStream): Logger {
  return pino(lineOptions(level), destination).child({ log });
}

/** Prints a one-time fact for whoever started the program (stderr; never a log stream). */
export function announce(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** pretty: one readable line per record for terminals, without pulling in a transport thread. */
function prettyStream(): pino.DestinationStream {
  const out = pino.destination({ fd: 1, sync: false });
  return {
    write(line: string) {
      try {
        // pid is left out: the terminal shows one process's lines.
        const { time, level, msg, log, ...rest } = JSON.parse(line) as Record<string, unknown>;
        delete rest.pid;
        const extra = Object.keys(rest).length > 0 ? ' ' + JSON.stringify(rest) : '';
        out.write(
          `${String(time)} ${String(level).toUpperCase().padEnd(5)} [${String(log)}] ${typeof msg === 'string' ? msg : ''}${extra}\n`,
        );
      } catch {
        out.write(line);
      }
    },
  };
}

export function createLoggers(options: { level: string; format?: LogFormat | undefined }): Loggers {
  const format = options.format ?? (process.stdout.isTTY ? 'pretty' : 'json');
  const destination = format === 'pretty' ? prettyStream() : pino.destination({ fd: 1, sync: false });
  const root = pino(lineOptions(options.level), destination);
  return { app: root.child({ log: 'app' }), access: root.child({ log: 'access' }) };
}

/** For tests and commands that must stay quiet. */
export function silentLoggers(): Loggers {
  const root = pino({ level: 'silent' });
  return { app: root, access: root };
}
