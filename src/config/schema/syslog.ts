/**
 * The `audit.syslog` configuration section: the audit trail sent, besides its file or stdout, to a
 * syslog collector (a SIEM) as RFC 5424 messages over TCP, TCP with TLS (RFC 5425) or UDP
 * (RFC 5426). docs/syslog.md tells what a message looks like.
 *
 *   audit:
 *     syslog:
 *       address: siem.internal:6514
 *       transport: tls            # tcp (default), tls or udp
 *       ca: siem-ca.pem           # tls: the CA that signed the collector's certificate
 *       format: structured        # or json: the record as the message
 *       facility: local0
 *       bufferSize: 8MiB          # held while the collector is away; past it records are dropped (counted)
 */
import { z } from 'zod';
import { filePath } from './file-path.js';
import { parseByteSize } from './cache.js';

/** RFC 5424 §6.2.1's facilities, by the names syslog.conf uses; the code is the index. */
export const SYSLOG_FACILITIES = [
  'kern',
  'user',
  'mail',
  'daemon',
  'auth',
  'syslog',
  'lpr',
  'news',
  'uucp',
  'cron',
  'authpriv',
  'ftp',
  'ntp',
  'security',
  'console',
  'solaris-cron',
  'local0',
  'local1',
  'local2',
  'local3',
  'local4',
  'local5',
  'local6',
  'local7',
] as const;

/** RFC 5425 §4.3.1: a receiver must take 2048 octets and should take 8192; RFC 5426 §3.2 says 2048 for UDP. */
export const SYSLOG_DEFAULT_MAX_MESSAGE = { stream: 8192, udp: 2048 } as const;
/** Room for the longest header and a truncated record's structured data (rfc5424.ts). */
const MIN_MESSAGE_SIZE = 1024;
/** The largest UDP payload over IPv4. */
const MAX_MESSAGE_SIZE = 65_507;
const MAX_BUFFER_BYTES = 1024 ** 3;

const syslogAddress = z
  .string()
  .refine((value) => /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(value), {
    error: 'expected HOST:PORT, e.g. "siem.internal:6514" or "[::1]:514"',
    abort: true,
  })
  .refine(
    (value) => {
      const port = Number(value.slice(value.lastIndexOf(':') + 1));
      return port >= 1 && port <= 65535;
    },
    { error: 'the port must be from 1 to 65535' },
  )
  .meta({ docType: 'HOST:PORT' });

/** RFC 5424's PRINTUSASCII (%d33-126), as APP-NAME and HOSTNAME must be. */
const printableAscii = (max: number) =>
  z.string().regex(new RegExp(`^[\\x21-\\x7e]{1,${max}}$`), `1 to ${max} printable ASCII characters, no space`);

const bufferSize = z
  .union([z.string(), z.number()])
  .default('8MiB')
  .transform((value, ctx) => {
    const bytes = parseByteSize(value);
    if (bytes === undefined || bytes < MIN_MESSAGE_SIZE || bytes > MAX_BUFFER_BYTES) {
      ctx.addIssue({ code: 'custom', message: `not a size from 1KiB to 1GiB: ${JSON.stringify(value)} (use e.g. 8MiB)` });
      return z.NEVER;
    }
    return bytes;
  })
  .meta({ docType: 'size' })
  .describe(
    'Bytes of messages held while the collector is away or slow (with workers: in each); past it new records are dropped and counted in `registry_gate_audit_syslog_dropped_total`.',
  );

export const syslogConfigSchema = z.strictObject({
  address: syslogAddress.describe("The collector's host and port (commonly 514 for tcp and udp, 6514 for tls)."),
  transport: z
    .enum(['tcp', 'tls', 'udp'])
    .default('tcp')
    .describe(
      '`tcp` (RFC 6587 octet counting), `tls` (RFC 5425: octet counting over TLS, the certificate verified against `ca` and the host of `address`), or `udp` (one datagram per record, RFC 5426).',
    ),
  ca: filePath.optional().describe("`tls`: PEM file with the CA(s) that signed the collector's certificate; default: the system's."),
  format: z
    .enum(['structured', 'json'])
    .default('structured')
    .describe(
      '`structured`: the record\'s fields as RFC 5424 structured data (`[audit@32473 user="…" action="push" …]`); `json`: the record as one JSON object in the message.',
    ),
  facility: z
    .enum(SYSLOG_FACILITIES)
    .default('authpriv')
    .describe('Facility of every message; the severity is `info` for an allowed request, `notice` for a refusal.'),
  appName: printableAscii(48).default('registry-gate').describe('APP-NAME of every message.'),
  hostname: printableAscii(255).optional().meta({ description: 'HOSTNAME of every message.', docDefault: "the machine's host name" }),
  maxMessageSize: z
    .number()
    .int()
    .min(MIN_MESSAGE_SIZE)
    .max(MAX_MESSAGE_SIZE)
    .optional()
    .meta({
      description:
        'Longest message in bytes (the frame aside). Each value is cut at 1 KiB; a record still too long leaves whole fields out and says `truncated`: it stays valid syslog.',
      docDefault: `${SYSLOG_DEFAULT_MAX_MESSAGE.stream} (tcp, tls), ${SYSLOG_DEFAULT_MAX_MESSAGE.udp} (udp)`,
    }),
  bufferSize,
});

export type SyslogConfig = z.output<typeof syslogConfigSchema>;
