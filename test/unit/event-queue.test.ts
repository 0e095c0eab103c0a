/**
 * The event queue's parts on their own: the framed record format tells a torn or damaged record
 * from a whole one; concurrent appends share one write and fsync; the bound is kept with the places
 * reserved; a restart finds what was acknowledged and cuts a torn tail off; retries back off within
 * their bounds; every payload is JSON whatever the names hold.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { frameRecord, parseRecords } from '../../src/events/framed-records.js';
import { SegmentLog } from '../../src/events/segment-log.js';
import { EventQueue } from '../../src/events/event-queue.js';
import { newEvent, type RegistryEvent } from '../../src/events/event.js';
import { retryDelay } from '../../src/events/deliverer.js';
import { payloadOf } from '../../src/events/payloads.js';
import { signDelivery } from '../../src/events/signature.js';
import { buildConfig } from '../../src/config/load.js';
import { makeTempDir, removeDir } from '../helpers/process.js';

const event = (repository: string, tag = 'v1'): RegistryEvent =>
  newEvent({ action: 'push', repository, tag, user: 'alice', client: '127.0.0.1', method: 'PUT' });

test('framed records: a whole record parses, a torn last one and a damaged middle one do not', () => {
  const whole = frameRecord({ seq: 1 }) + frameRecord({ seq: 2 });
  const damaged = frameRecord({ seq: 3 }).replace('"seq":3', '"seq":4');
  const torn = frameRecord({ seq: 5 }).slice(0, 12);
  const parsed = parseRecords<{ seq: number }>(Buffer.from(whole + damaged + frameRecord({ seq: 6 }) + torn));
  assert.deepEqual(
    parsed.values.map((value) => value.seq),
    [1, 2, 6],
  );
  assert.equal(parsed.damaged, 1);
  assert.equal(parsed.torn, true);
  assert.equal(parsed.validBytes, Buffer.byteLength(whole + damaged + frameRecord({ seq: 6 })));
  assert.equal(frameRecord({ text: 'a\nb' }).split('\n').length, 2, 'a newline in a value stays inside its line');
});

test('the queue: concurrent appends go out together, the bound counts reservations, a restart keeps what was acknowledged', async () => {
  const dir = await makeTempDir('rg-event-queue-');
  try {
    const opened = await SegmentLog.open(join(dir, 'queue'));
    let writes = 0;
    const append = opened.log.append.bind(opened.log);
    opened.log.append = (records) => {
      writes += 1;
      return append(records);
    };
    const queue = new EventQueue(opened.log, opened.records, 5);
    const held = queue.reserve();
    assert.ok(held);
    await Promise.all([queue.append(event('a/one')), queue.append(event('a/two')), queue.append(event('b/three'))]);
    assert.equal(writes, 1, 'one write and one fsync for the three');
    assert.equal(queue.depth, 3);
    assert.ok(queue.reserve(), 'four of five taken');
    assert.equal(queue.reserve(), undefined, 'full: three stored and two reserved');
    held.release();
    held.release();
    assert.ok(queue.reserve(), 'a place given back once, not twice');
    assert.equal(queue.after(1)?.event.repository, 'a/two');
    await queue.close();

    const [segment] = await readdir(join(dir, 'queue'));
    await appendFile(join(dir, 'queue', segment as string), frameRecord({ seq: 4, event: event('torn') }).slice(0, 30));
    const reopened = await SegmentLog.open(join(dir, 'queue'));
    assert.equal(reopened.torn, true);
    assert.deepEqual(
      reopened.records.map((record) => record.event.repository),
      ['a/one', 'a/two', 'b/three'],
    );
    const again = new EventQueue(reopened.log, reopened.records, 5);
    await again.append(event('c/four'));
    await again.close();
    const text = await readFile(join(dir, 'queue', segment as string), 'utf8');
    assert.equal(parseRecords(Buffer.from(text)).torn, false, 'the torn tail was cut off before the next append');
    assert.equal(text.trimEnd().split('\n').length, 4);
  } finally {
    await removeDir(dir);
  }
});

test('retry delays double up to the maximum, with jitter in the upper half', () => {
  const policy = { maxAttempts: 10, retryDelayMs: 1000, maxRetryDelayMs: 8000, maxDeadLetters: 10, source: 's' };
  for (let round = 0; round < 50; round++) {
    const first = retryDelay(policy, 1);
    const late = retryDelay(policy, 20);
    assert.ok(first >= 500 && first <= 1000, String(first));
    assert.ok(late >= 4000 && late <= 8000, String(late));
  }
});

test('payloads are JSON whatever a name holds, and the signature covers timestamp and body', () => {
  const odd = newEvent({ action: 'login-failed', repository: '', user: '"}\\\u2028\u0000{', client: '::1', method: 'GET' });
  for (const format of ['cloudevents', 'distribution'] as const) {
    const payload = payloadOf(odd, format, 'registry-gate://test');
    assert.ok(JSON.stringify(JSON.parse(payload.body)).includes(JSON.stringify(odd.user).slice(1, -1)));
  }
  const secret = Buffer.from('k');
  assert.notEqual(signDelivery(secret, 1, 'body'), signDelivery(secret, 2, 'body'));
  assert.match(signDelivery(secret, 1, 'body'), /^sha256=[0-9a-f]{64}$/);
});

test('webhooks run in one process: workers auto becomes 1, more than 1 is refused naming the key', () => {
  const hook = { name: 'ci', url: 'https://127.0.0.1:1/hook', secretFile: 'ci.secret' };
  const auto = buildConfig({ events: { webhooks: [hook] } }, '/tmp', undefined);
  assert.equal(auto.workers, 1);
  assert.equal(auto.events.webhooks[0]?.secretFile, '/tmp/ci.secret');
  assert.throws(
    () => buildConfig({ workers: 2, events: { webhooks: [hook] } }, '/tmp', undefined),
    /workers: events\.webhooks needs one process/,
  );
  assert.throws(() => buildConfig({ events: { webhooks: [hook, hook] } }, '/tmp', undefined), /webhook names must be unique/);
  assert.throws(
    () => buildConfig({ events: { webhooks: [{ ...hook, url: 'https://user:pw@host/x' }] } }, '/tmp', undefined),
    /without credentials/,
  );
});
