/**
 * Brute-force protection through the whole gateway (`auth.throttle`), with htpasswd users.
 *
 * The attack: guessing passwords as fast as the gateway answers, against one account (from one
 * address or from many) or against many accounts from one address. Past the configured threshold
 * (per account and address, per address, and per account per hour) the gateway must answer 429
 * TOOMANYREQUESTS with Retry-After, as OCI error JSON, without checking the password. What the
 * protection must not do is lock out the wrong people: another account, another address — also for
 * the same account — and the account's owner whose password was verified before (held by the
 * credential cache, or remembered by the throttle when the cache is off) keep working. No answer
 * ever echoes a password.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';

const PASSWORDS = {
  alice: 'alice-secret-1',
  bob: 'bob-secret-2',
  carol: 'carol-secret-3',
  dave: 'dave-secret-4',
  erin: 'erin-secret-5',
};
type User = keyof typeof PASSWORDS;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Every password sent, right or wrong, to check that no answer repeats one. */
const sentPasswords = new Set<string>(Object.values(PASSWORDS));
const replies: Reply[] = [];

async function login(gate: TestGate, user: string, password: string, clientIp?: string): Promise<Reply> {
  sentPasswords.add(password);
  const headers: Record<string, string> = { authorization: basic(user, password) };
  if (clientIp !== undefined) headers['x-forwarded-for'] = clientIp;
  const response = await request(`${gate.url}/v2/`, { dispatcher: gate.dispatcher, headers });
  const reply = { status: response.statusCode, headers: response.headers, body: await response.body.text() };
  replies.push(reply);
  return reply;
}

function loginAs(gate: TestGate, user: User, clientIp?: string): Promise<Reply> {
  return login(gate, user, PASSWORDS[user], clientIp);
}

/** `maxRetryAfter`: the back-off here is at most 30 s; the hourly cap may ask for up to an hour. */
function assertTooManyRequests(reply: Reply, what: string, maxRetryAfter = 30): void {
  assert.equal(reply.status, 429, `${what}: ${reply.status} ${reply.body}`);
  assert.equal(reply.headers['docker-distribution-api-version'], 'registry/2.0', what);
  assert.match(String(reply.headers['content-type']), /^application\/json/, what);
  const retryAfter = Number(reply.headers['retry-after']);
  assert.ok(
    Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= maxRetryAfter,
    `${what}: Retry-After ${String(reply.headers['retry-after'])}`,
  );
  const body = JSON.parse(reply.body) as { errors: Array<{ code: string; message: string }> };
  assert.equal(body.errors.length, 1, what);
  assert.equal(body.errors[0]?.code, 'TOOMANYREQUESTS', what);
  assert.equal(typeof body.errors[0].message, 'string', what);
}

function assertChallenge(reply: Reply, what: string): void {
  assert.equal(reply.status, 401, `${what}: ${reply.status} ${reply.body}`);
  assert.equal(reply.headers['www-authenticate'], 'Basic realm="Registry realm"', what);
}

/** `count` distinct wrong passwords for `user` (the same wrong password twice is not a new guess). */
async function guess(gate: TestGate, user: string, count: number, clientIp?: (i: number) => string): Promise<Reply[]> {
  const out: Reply[] = [];
  for (let i = 0; i < count; i += 1) out.push(await login(gate, user, `guess-${user}-${i}`, clientIp?.(i)));
  return out;
}

describe('per-account lockout, with the credential cache', () => {
  let dir: string;
  let gate: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-brute-account-');
    gate = await startGate({
      dir,
      users: PASSWORDS,
      config: { auth: { throttle: { maxFailuresPerAccount: 5, maxFailuresPerIp: 1000, baseDelay: '30s' } } },
    });
  });

  after(async () => {
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  test('30 wrong passwords: 401 up to the threshold, then 429 TOOMANYREQUESTS with Retry-After', async () => {
    assert.equal((await loginAs(gate, 'alice')).status, 200, 'warms the credential cache');
    const flood = await guess(gate, 'alice', 30);
    flood.slice(0, 5).forEach((reply, i) => assertChallenge(reply, `guess ${i}`));
    flood.slice(5).forEach((reply, i) => assertTooManyRequests(reply, `guess ${i + 5}`));
  });

  test('during the lockout another user from the same address logs in', async () => {
    assert.equal((await loginAs(gate, 'bob')).status, 200);
  });

  test('during the lockout the locked user’s cached right password still works (200, not 429)', async () => {
    const reply = await loginAs(gate, 'alice');
    assert.equal(reply.status, 200, reply.body);
  });

  test('a right password that was never verified does not open a locked account', async () => {
    const flood = await guess(gate, 'dave', 6);
    flood.slice(0, 5).forEach((reply, i) => assertChallenge(reply, `guess ${i}`));
    assertTooManyRequests(flood[5] as Reply, 'guess 5');
    assertTooManyRequests(await loginAs(gate, 'dave'), 'dave’s right password during the lockout');
  });

  test('an unknown user name locks exactly like a known one (the lockout lists no users)', async () => {
    const flood = await guess(gate, 'nobody', 6);
    flood.slice(0, 5).forEach((reply, i) => assertChallenge(reply, `guess ${i}`));
    assertTooManyRequests(flood[5] as Reply, 'guess 5');
  });

  test('the same wrong password repeated (a stale CI secret) counts once and locks nothing', async () => {
    for (let i = 0; i < 30; i += 1) assertChallenge(await login(gate, 'carol', 'stale-ci-secret'), `repeat ${i}`);
    assert.equal((await loginAs(gate, 'carol')).status, 200);
  });
});

describe('per-address lockout, and remembered successes without the credential cache', () => {
  let dir: string;
  let gate: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-brute-address-');
    gate = await startGate({
      dir,
      users: PASSWORDS,
      config: {
        // The test connects from 127.0.0.1; as a trusted proxy, its X-Forwarded-For names the client.
        trustedProxies: ['127.0.0.0/8'],
        auth: {
          cacheTtl: 0,
          // The hourly cap low, so that a handful of addresses can reach it.
          throttle: { maxFailuresPerAccount: 5, maxFailuresPerIp: 3, maxFailuresPerAccountPerHour: 5, baseDelay: '30s' },
        },
      },
    });
  });

  after(async () => {
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  test('wrong passwords for many accounts from one address block that address only', async () => {
    const attacker = '203.0.113.7';
    assert.equal((await loginAs(gate, 'bob', attacker)).status, 200, 'bob logs in from there before the attack');
    const names = ['u0', 'u1', 'u2', 'u3', 'u4'];
    const flood: Reply[] = [];
    for (const name of names) flood.push(await login(gate, name, `guess-${name}`, attacker));
    flood.slice(0, 3).forEach((reply, i) => assertChallenge(reply, `guess ${i}`));
    flood.slice(3).forEach((reply, i) => assertTooManyRequests(reply, `guess ${i + 3}`));

    assertTooManyRequests(await loginAs(gate, 'alice', attacker), 'a never verified password from the blocked address');
    assert.equal((await loginAs(gate, 'bob', attacker)).status, 200, 'a password that succeeded from there before is remembered');
    assert.equal((await loginAs(gate, 'alice', '203.0.113.8')).status, 200, 'another address is not blocked');
  });

  test('guesses against one account from many addresses stop at the hourly cap; its owner’s remembered password still works', async () => {
    assert.equal((await loginAs(gate, 'erin', '198.51.100.200')).status, 200);
    const flood = await guess(gate, 'erin', 10, (i) => `198.51.100.${i + 1}`);
    flood.slice(0, 5).forEach((reply, i) => assertChallenge(reply, `guess ${i}`));
    flood.slice(5).forEach((reply, i) => assertTooManyRequests(reply, `guess ${i + 5}`, 3600));
    const owner = await loginAs(gate, 'erin', '198.51.100.250');
    assert.equal(owner.status, 200, `erin’s remembered password (no credential cache): ${owner.body}`);
  });
});

/**
 * Regression: a third party locks an account's owner out.
 *
 * The attack: anyone who can reach the gateway sends five wrong passwords for `reader` from their
 * own address. The failures were counted per account for every client, so the owner's correct
 * password — from another address, never verified in this process (which is every password after
 * a restart) — got 429 with a doubling delay for as long as the attacker kept going. The gate
 * listens on 127.0.0.1; the attacker connects from 127.0.0.2, the owner from 127.0.0.3 (Linux
 * routes all of 127.0.0.0/8 to lo), with no proxy header: the gateway sees the real addresses.
 */
describe('failures from one address do not stop the right password from another (third-party lockout)', () => {
  let dir: string;
  let gate: TestGate;
  let attacker: Agent;
  let owner: Agent;

  async function loginFrom(agent: Agent, user: string, password: string): Promise<Reply> {
    sentPasswords.add(password);
    const response = await request(`${gate.url}/v2/`, { dispatcher: agent, headers: { authorization: basic(user, password) } });
    const reply = { status: response.statusCode, headers: response.headers, body: await response.body.text() };
    replies.push(reply);
    return reply;
  }

  before(async () => {
    dir = await makeTempDir('rg-brute-third-party-');
    // The defaults, with the credential cache on: a fresh process where nobody has logged in yet.
    gate = await startGate({ dir, users: { reader: 'reader-secret-6', other: 'other-secret-7' } });
    attacker = new Agent({ localAddress: '127.0.0.2' });
    owner = new Agent({ localAddress: '127.0.0.3' });
  });

  after(async () => {
    await attacker.close();
    await owner.close();
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  test('the attacker’s address is throttled; the owner’s right password from another address gets 200, not 429', async () => {
    const flood: Reply[] = [];
    for (let i = 0; i < 12; i += 1) flood.push(await loginFrom(attacker, 'reader', `guess-reader-${i}`));
    flood.slice(0, 5).forEach((reply, i) => assertChallenge(reply, `guess ${i}`));
    flood.slice(5).forEach((reply, i) => assertTooManyRequests(reply, `guess ${i + 5}`));

    const login = await loginFrom(owner, 'reader', 'reader-secret-6');
    assert.equal(login.status, 200, `the owner, never verified before: ${login.status} ${login.body}`);
    assert.equal(
      (await loginFrom(owner, 'Reader', 'reader-secret-6')).status,
      401,
      'the owner’s address is not blocked for other spellings either: a plain 401',
    );

    assertTooManyRequests(await loginFrom(attacker, 'reader', 'guess-reader-after'), 'the attacker, after the owner logged in');
    assertTooManyRequests(
      await loginFrom(attacker, 'READER', 'guess-reader-after-2'),
      'the attacker, under another spelling of the account',
    );
  });

  test('the attacker’s own failures do not stop another account from the attacker’s address', async () => {
    assert.equal((await loginFrom(attacker, 'other', 'other-secret-7')).status, 200);
  });
});

describe('what the answers contain', () => {
  test('no answer holds a password', () => {
    assert.ok(replies.length > 80, `${replies.length} answers`);
    for (const reply of replies) {
      const text = `${JSON.stringify(reply.headers)}\n${reply.body}`;
      for (const password of sentPasswords) assert.ok(!text.includes(password), `an answer contains the password ${password}`);
    }
  });
});
