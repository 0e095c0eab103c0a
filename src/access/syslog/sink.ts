/**
 * The audit trail's syslog output (`audit.syslog`): each record formatted as RFC 5424 (rfc5424.ts),
 * framed for its transport and handed to the sender (sender.ts), which queues it and never makes the
 * request that caused it wait.
 */
import { hostname as machineName } from 'node:os';
import type { Logger } from 'pino';
import { SYSLOG_DEFAULT_MAX_MESSAGE, SYSLOG_FACILITIES, type SyslogConfig } from '../../config/schema/syslog.js';
import { formatSyslogMessage, type SyslogHeader, type SyslogRecord } from './rfc5424.js';
import { SyslogSender, type SyslogObserver } from './sender.js';

export type { SyslogObserver } from './sender.js';

export interface SyslogSink {
  record(entry: SyslogRecord): void;
  close(): Promise<void>;
}

/** `HOST:PORT` or `[IPv6]:PORT` (the schema checked it) → host and port. */
function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(colon + 1)) };
}

/** `ca`: the PEM text of `settings.ca`, read by the caller. */
export function openSyslogSink(
  settings: SyslogConfig,
  options: { readonly ca?: string | undefined; readonly observer: SyslogObserver; readonly logger: Logger },
): SyslogSink {
  const { transport, format } = settings;
  const maxBytes = settings.maxMessageSize ?? (transport === 'udp' ? SYSLOG_DEFAULT_MAX_MESSAGE.udp : SYSLOG_DEFAULT_MAX_MESSAGE.stream);
  const header: SyslogHeader = {
    facility: SYSLOG_FACILITIES.indexOf(settings.facility),
    hostname: settings.hostname ?? machineName(),
    appName: settings.appName,
    procId: String(process.pid),
  };
  const sender = new SyslogSender({
    ...splitAddress(settings.address),
    transport,
    ca: options.ca,
    bufferBytes: settings.bufferSize,
    observer: options.observer,
    logger: options.logger,
  });
  return {
    record(entry) {
      const message = formatSyslogMessage(entry, header, format, maxBytes);
      // RFC 6587 §3.4.1 octet counting (RFC 5425 §4.3 over TLS); a datagram is the message alone.
      sender.send(transport === 'udp' ? message : Buffer.concat([Buffer.from(`${message.length} `), message]));
    },
    close: () => sender.close(),
  };
}
