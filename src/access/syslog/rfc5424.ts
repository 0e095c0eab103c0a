/**
 * An audit record as one RFC 5424 syslog message:
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [audit@32473 user="alice" action="push" …] MSG
 *
 * PRI is the facility and the severity (info for an allowed request, notice for a refusal), MSGID the
 * record's action. `structured`: every field of the record is an SD-PARAM of the one SD-ELEMENT
 * `audit@32473` (32473 is the enterprise number RFC 5612 reserves for documentation: a private
 * SD-ID), a list's items are `name.0`, `name.1`… and a nested object's fields `outer.inner` (a
 * repeated PARAM-NAME would be valid too, but parsers such as rsyslog's mmpstrucdata keep only the
 * last), and MSG is a short summary in ASCII (`allow:push:201`). `json`: no structured data, MSG is the record as a JSON object.
 *
 * Record values come from clients (a user name tried at a login, a tag), so every value is made safe
 * here, whatever it holds: in a PARAM-VALUE `"`, `\` and `]` are escaped as §6.3.3 says, and control
 * characters (C0, DEL, C1) are written as the text `\uXXXX`, as JSON writes them, so no value can
 * end the element, the message or a line; header fields keep only PRINTUSASCII. A message longer
 * than its limit is cut at field boundaries, never inside an escape or a character, and says
 * `truncated`: it always parses.
 */

export const SD_ID = 'audit@32473';

/** What the header needs of a record; every other field is carried as it is. */
export interface SyslogRecord {
  readonly action: string;
  readonly decision: 'allow' | 'deny';
}

export interface SyslogHeader {
  /** RFC 5424 facility code, 0 to 23. */
  readonly facility: number;
  readonly hostname: string;
  readonly appName: string;
  readonly procId: string;
}

export type SyslogFormat = 'structured' | 'json';

/** RFC 5424 §6.2.1 severities. */
const SEVERITY = { allow: 6, deny: 5 } as const;
/** The longest value of one SD-PARAM, escaped, in bytes. */
const MAX_PARAM_VALUE_BYTES = 1024;
/** Items of one list (a user's groups) carried, at most. */
const MAX_LIST_ITEMS = 64;
const TRUNCATED_PARAM = ' truncated="true"';
/** C0 controls, DEL and C1 controls. */
// eslint-disable-next-line no-control-regex -- control characters are what this rewrites
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** `text` with only PRINTUSASCII, at most `max` characters; the NILVALUE `-` when nothing is left. */
export function headerField(text: string, max: number): string {
  const kept = text.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return kept === '' ? '-' : kept;
}

/** A PARAM-NAME (SD-NAME): PRINTUSASCII except `=`, space, `]` and `"`, 1 to 32 characters. */
export function paramName(key: string): string {
  return headerField(key.replace(/[=\]"]/g, ''), 32);
}

function controlAsText(character: string): string {
  return `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** A PARAM-VALUE: controls as `\uXXXX`, then `"`, `\`, `]` escaped; cut whole characters at MAX_PARAM_VALUE_BYTES. */
export function paramValue(text: string): string {
  const escaped = text.replace(CONTROL, controlAsText).replace(/["\\\]]/g, (character) => `\\${character}`);
  if (Buffer.byteLength(escaped) <= MAX_PARAM_VALUE_BYTES) return escaped;
  let kept = '';
  let bytes = 0;
  // Whole code points, and never a lone backslash at the end (it would escape the closing quote).
  for (const piece of escaped.matchAll(/\\.|[\s\S]/gu)) {
    const size = Buffer.byteLength(piece[0]);
    if (bytes + size > MAX_PARAM_VALUE_BYTES) break;
    kept += piece[0];
    bytes += size;
  }
  return kept;
}

/** The SD-PARAMs of a record's fields, scalars first, each list's items last (absent and null fields left out). */
function recordParams(record: object): string[] {
  const scalars: string[] = [];
  const lists: string[] = [];
  const add = (key: string, value: unknown, into: string[]) => {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      into.push(`${paramName(key)}="${paramValue(String(value))}"`);
  };
  for (const [key, value] of Object.entries(record) as [string, unknown][]) {
    if (Array.isArray(value))
      for (const [index, item] of (value as unknown[]).slice(0, MAX_LIST_ITEMS).entries()) add(`${key}.${index}`, item, lists);
    else if (value !== null && typeof value === 'object')
      for (const [inner, innerValue] of Object.entries(value) as [string, unknown][]) add(`${key}.${inner}`, innerValue, scalars);
    else add(key, value, scalars);
  }
  return [...scalars, ...lists];
}

function header(record: SyslogRecord, settings: SyslogHeader, time: Date): string {
  const pri = settings.facility * 8 + SEVERITY[record.decision];
  const { hostname, appName, procId } = settings;
  return `<${pri}>1 ${time.toISOString()} ${headerField(hostname, 255)} ${headerField(appName, 48)} ${headerField(procId, 128)} ${headerField(record.action, 32)}`;
}

/** `[audit@32473 …]` with as many whole params as fit in `room` bytes, and `truncated="true"` when some did not. */
function structuredData(params: readonly string[], room: number): string {
  let element = `[${SD_ID}`;
  const reserve = Buffer.byteLength(TRUNCATED_PARAM) + 1;
  for (const [index, param] of params.entries()) {
    const added = ` ${param}`;
    const rest = index === params.length - 1 ? 1 : reserve;
    if (Buffer.byteLength(element) + Buffer.byteLength(added) + rest > room) return `${element}${TRUNCATED_PARAM}]`;
    element += added;
  }
  return `${element}]`;
}

/** The record as JSON, cutting its strings and lists shorter until it fits `room` bytes (then `truncated: true`). */
function jsonMessage(record: object, time: Date, room: number): string {
  const whole = JSON.stringify({ time: time.toISOString(), ...record });
  if (Buffer.byteLength(whole) <= room) return whole;
  for (const limit of [256, 64, 16]) {
    const cut = (value: unknown): unknown =>
      typeof value === 'string'
        ? Array.from(value).slice(0, limit).join('')
        : Array.isArray(value)
          ? value.slice(0, limit / 16).map(cut)
          : value !== null && typeof value === 'object'
            ? Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, cut(inner)]))
            : value;
    const shorter = JSON.stringify({ time: time.toISOString(), ...(cut(record) as object), truncated: true });
    if (Buffer.byteLength(shorter) <= room) return shorter;
  }
  const { action, decision } = record as SyslogRecord;
  return JSON.stringify({ time: time.toISOString(), action: headerField(action, 32), decision, truncated: true });
}

/** One SYSLOG-MSG of at most `maxBytes` bytes (valid UTF-8; no frame). */
export function formatSyslogMessage(
  record: SyslogRecord,
  settings: SyslogHeader,
  format: SyslogFormat,
  maxBytes: number,
  time = new Date(),
): Buffer {
  const head = header(record, settings, time);
  if (format === 'json') return Buffer.from(`${head} - ${jsonMessage(record, time, maxBytes - Buffer.byteLength(head) - 3)}`);
  const { status } = record as { status?: unknown };
  const summary = headerField(`${record.decision}:${record.action}${typeof status === 'number' ? `:${status}` : ''}`, 64);
  const room = maxBytes - Buffer.byteLength(head) - summary.length - 2;
  return Buffer.from(`${head} ${structuredData(recordParams(record), room)} ${summary}`);
}
