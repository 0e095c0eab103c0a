/**
 * The loggers: `app` for what the program does, `access` for one line per request. Nothing that
 * is logged may contain a password, an Authorization header, a cookie or a token: the access log is
 * written field by field from values the gateway chose, never from raw headers, and pino's redact
 * covers the header names in case an object ever slips through.
 */
import pino, { type Logger } from 'pino';

export type LogFormat = 'json' | 'pretty';

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
];

/** pretty: one readable line per record for terminals, without pulling in a transport thread. */
function prettyStream(): pino.DestinationStream {
  const out = pino.destination({ fd: 1, sync: false });
  return {
    write(line: string) {
      try {
        const { time, level, msg, name, pid: _pid, hostname: _host, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const label = pino.levels.labels[level as number] ?? String(level);
        const extra = Object.keys(rest).length > 0 ? ' ' + JSON.stringify(rest) : '';
        out.write(`${new Date(time as number).toISOString()} ${label.toUpperCase().padEnd(5)} [${String(name)}] ${String(msg ?? '')}${extra}\n`);
      } catch {
        out.write(line);
      }
    },
  };
}

export function createLoggers(options: { level: string; format?: LogFormat | undefined }): Loggers {
  const format = options.format ?? (process.stdout.isTTY ? 'pretty' : 'json');
  const destination = format === 'pretty' ? prettyStream() : pino.destination({ fd: 1, sync: false });
  const root = pino({ level: options.level, redact: { paths: REDACT, censor: '[redacted]' }, base: { pid: process.pid } }, destination);
  return { app: root.child({ name: 'app' }), access: root.child({ name: 'access' }) };
}

/** For tests and commands that must stay quiet. */
export function silentLoggers(): Loggers {
  const root = pino({ level: 'silent' });
  return { app: root, access: root };
}
