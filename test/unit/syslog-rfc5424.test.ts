/**
 * RFC 5424 messages of audit records (src/access/syslog/rfc5424.ts), checked against the grammar
 * written out here: the header's fields, PARAM-NAMEs and escaped PARAM-VALUEs, and what happens to a
 * record larger than the message limit (it is cut at whole fields or characters, says `truncated`,
 * and still parses). The real parser (rsyslog) reads them in test/integration/audit-syslog.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatSyslogMessage,
  paramName,
  paramValue,
  SD_ID,
  type SyslogFormat,
  type SyslogRecord,
} from '../../src/access/syslog/rfc5424.js';

const HEADER = { facility: 10, hostname: 'gate host', appName: 'registry-gate', procId: '42' };
const TIME = new Date('2026-12-03T10:20:30.456Z');
const RECORD = { user: 'alice', groups: ['team', 'ops'], action: 'push', repository: 'team/app', decision: 'allow' as const, status: 201 };

/** Any record: the fields the header needs, and whatever else. */
function format(record: SyslogRecord & Record<string, unknown>, as: SyslogFormat, limit: number): Buffer {
  return formatSyslogMessage(record, HEADER, as, limit, TIME);
}

/** RFC 5424 §6: HEADER SP STRUCTURED-DATA [SP MSG], one SD-ELEMENT here, PARAM-VALUEs with `"`, `\`, `]` escaped. */
const SD_PARAM = String.raw`[!#-<>-\\^-~]{1,32}="(?:[^"\\\]]|\\["\\\]])*"`;
const MESSAGE = new RegExp(
  String.raw`^<(\d{1,3})>1 (\S+) ([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) (-|\[${SD_ID}(?: ${SD_PARAM})*\])(?: (.*))?$`,
  's',
);

/** The params of the one element, unescaped, as a parser reads them. */
function parsedParams(message: string): [string, string][] {
  const element = MESSAGE.exec(message)?.[7] ?? '';
  return [...element.matchAll(/ ([^=]+)="((?:[^"\\\]]|\\["\\\]])*)"/g)].map((match) => [
    match[1] as string,
    (match[2] as string).replace(/\\(["\\\]])/g, '$1'),
  ]);
}

test('a record as structured data: PRI, header, one element with every field, a short MSG', () => {
  const message = format(RECORD, 'structured', 8192).toString();
  assert.equal(
    message,
    `<86>1 2026-12-03T10:20:30.456Z gatehost registry-gate 42 push [${SD_ID} user="alice" action="push" repository="team/app" decision="allow" status="201" groups.0="team" groups.1="ops"] allow:push:201`,
  );
  const refusal = format({ ...RECORD, decision: 'deny', status: 403 }, 'structured', 8192).toString();
  assert.match(refusal, /^<85>1 /, 'a refusal is a notice (5), an allowed request info (6)');
});

test('hostile values: escaped, control characters as \\uXXXX text, nothing can close the element or the line', () => {
  const user = 'a"b\\c]d [x="y"]\n<13>1 forged\u0000\u009b';
  const message = format({ ...RECORD, user, 'we ird=]"': 'v' }, 'structured', 8192).toString();
  assert.match(message, MESSAGE);
  // eslint-disable-next-line no-control-regex -- control characters are what is looked for
  assert.doesNotMatch(message, /[\u0000-\u001f\u007f-\u009f]/);
  const params = new Map(parsedParams(message));
  assert.equal(params.get('user'), 'a"b\\c]d [x="y"]\\u000a<13>1 forged\\u0000\\u009b');
  assert.equal(params.get('weird'), 'v', 'a PARAM-NAME keeps only the characters SD-NAME allows');
  assert.equal(paramName('x'.repeat(40)), 'x'.repeat(32));
});

test('a PARAM-VALUE is cut at 1 KiB on a whole character, never leaving half an escape', () => {
  for (const unit of ['é', '"', '\\', '\u0001', '日']) {
    const value = paramValue(unit.repeat(2000));
    assert.ok(Buffer.byteLength(value) <= 1024);
    assert.doesNotMatch(value, /(^|[^\\])(\\\\)*\\$/, 'no lone backslash at the end');
    assert.ok(!value.includes('\ufffd'));
  }
});

test('a record over the limit leaves whole fields out, says truncated, and still parses', () => {
  const groups = Array.from({ length: 64 }, (_, index) => `group-${index}-${'g'.repeat(900)}`);
  for (const limit of [1024, 2048, 8192]) {
    const message = format({ ...RECORD, groups }, 'structured', limit);
    assert.ok(message.length <= limit, `${message.length} ≤ ${limit}`);
    const text = message.toString();
    assert.match(text, MESSAGE);
    const params = new Map(parsedParams(text));
    assert.equal(params.get('truncated'), 'true');
    assert.equal(params.get('decision'), 'allow', 'the scalar fields come first and are kept');
  }
});

test('json: the record as the message, exact; over the limit its strings are cut and it stays JSON', () => {
  const user = 'eve"]\n\u0000';
  const message = format({ ...RECORD, user }, 'json', 2048).toString();
  const match = MESSAGE.exec(message);
  assert.equal(match?.[7], '-');
  const record = JSON.parse(match[8] ?? '') as Record<string, unknown>;
  assert.deepEqual(record, { time: TIME.toISOString(), ...RECORD, user });

  const huge = { ...RECORD, user: '\u0001'.repeat(5000), groups: Array.from({ length: 300 }, () => 'x'.repeat(300)) };
  for (const limit of [1024, 2048]) {
    const cut = format(huge, 'json', limit);
    assert.ok(cut.length <= limit);
    const parsed = JSON.parse(MESSAGE.exec(cut.toString())?.[8] ?? '') as Record<string, unknown>;
    assert.equal(parsed.truncated, true);
    assert.equal(parsed.action, 'push');
  }
});
