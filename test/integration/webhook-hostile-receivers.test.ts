/**
 * A webhook receiver is someone else's server, and may be hostile or broken:
 *
 * - one that redirects elsewhere must not get the event sent on to another host (the gateway
 *   would post signed events wherever a receiver points, e.g. an internal address): a redirect is
 *   a failed try, never followed;
 * - one that never answers must not slow requests nor another webhook (each try has a deadline,
 *   each webhook its own loop);
 * - one that answers a body without end must cost a few KB, not memory without bound;
 * - an administrator sees in the UI what each webhook's last tries came to (nobody else sees the page);
 * - repository names and tags with every character the grammar allows, and a refused login's
 *   user name holding quotes, backslashes, braces and non-ASCII text, come out as valid JSON.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { UiClient } from '../helpers/ui-client.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { waitFor } from '../helpers/wait.js';

const ALICE = { user: 'alice', password: 'alice-Hostile-hook-1' };
const BOB = { user: 'bob', password: 'bob-Hostile-hook-1' };
const SECRET = `whsec-${randomBytes(16).toString('hex')}`;
/** Every separator the grammar allows in a component (`.`, `_`, `__`, runs of `-`), digits, several components. */
const ODD_REPOSITORY = 'a0.b_c__d---e/z9/x.y';
const ODD_TAG = 'A_z.0-9__Tag';
const ODD_USER = 'qu"ote\\back{}slash é 名前 </script>';

interface CloudEvent {
  id: string;
  subject?: string;
  data: Record<string, unknown>;
}

describe('hostile webhook receivers', () => {
  let dir: string;
  let tls: TlsPair;
  let gate: TestGate;
  let redirecting: WebhookReceiver;
  let elsewhere: WebhookReceiver;
  let hanging: WebhookReceiver;
  let endless: WebhookReceiver;
  let healthy: WebhookReceiver;

  const registry = () =>
    new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic(ALICE.user, ALICE.password) }));

  before(async () => {
    dir = await makeTempDir('rg-webhook-hostile-');
    tls = await makeTlsPair(join(dir, 'tls'));
    [redirecting, elsewhere, hanging, endless, healthy] = (await Promise.all(
      Array.from({ length: 5 }, () => startWebhookReceiver(tls, SECRET)),
    )) as [WebhookReceiver, WebhookReceiver, WebhookReceiver, WebhookReceiver, WebhookReceiver];
    redirecting.mode = 'redirect';
    redirecting.redirectTo = elsewhere.url;
    hanging.mode = 'hang';
    endless.mode = 'endless-body';
    const secretFile = join(dir, 'hook.secret');
    await writeFile(secretFile, SECRET, { mode: 0o600 });
    const hook = (name: string, receiver: WebhookReceiver) => ({
      name,
      url: receiver.url,
      secretFile,
      ca: tls.caFile,
      actions: ['push', 'login-failed'],
      timeout: '300ms',
    });
    gate = await startGate({
      dir: join(dir, 'gate'),
      tls,
      users: { [ALICE.user]: ALICE.password, [BOB.user]: BOB.password },
      bcryptCost: 4,
      config: {
        access: [{ repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['user:alice'] }],
        groups: { admins: ['alice'] },
        ui: { adminGroup: 'admins' },
        events: {
          webhooks: [hook('redirecting', redirecting), hook('hanging', hanging), hook('endless', endless), hook('healthy', healthy)],
          maxAttempts: 2,
          retryDelay: '50ms',
          maxRetryDelay: '100ms',
        },
      },
    });
  });

  after(async () => {
    await gate.stop();
    for (const receiver of [redirecting, elsewhere, hanging, endless, healthy]) await receiver.close();
    if (dir) await removeDir(dir);
  });

  test('pushes are answered at once and the healthy webhook hears them, whatever the others do', async () => {
    const started = performance.now();
    const pushed = await registry().pushImage('hostile/app', 'v1');
    for (const tag of ['v2', 'v3']) await registry().pushManifest('hostile/app', tag, pushed.manifest, pushed.mediaType);
    assert.ok(performance.now() - started < 5_000, 'requests never wait on a delivery');
    await waitFor('the healthy webhook has all three', () => healthy.deliveries.length >= 3, { timeoutMs: 5_000 });
    assert.deepEqual(
      healthy.deliveries.map((delivery) => (delivery.json as CloudEvent).subject),
      ['hostile/app:v1', 'hostile/app:v2', 'hostile/app:v3'],
    );
  });

  test('a redirect is a failed try: the host it points at never hears of the event', async () => {
    await waitFor('both tries of every event refused by redirect', () => redirecting.attempts >= 6, { timeoutMs: 10_000 });
    assert.equal(elsewhere.attempts, 0);
    assert.equal(redirecting.deliveries.length, 0);
  });

  test('a receiver that never answers: each try ends at its deadline', async () => {
    // Three events, two tries each, 300 ms each, plus the waits between: well under ten seconds.
    await waitFor('every try of the hanging receiver ended', () => hanging.attempts >= 6, { timeoutMs: 10_000 });
    assert.equal(hanging.deliveries.length, 0);
  });

  test('a receiver answering an endless body: delivered (it said 200), its body cut after a few KB', async () => {
    await waitFor('the endless receiver took all three', () => endless.attempts >= 3, { timeoutMs: 5_000 });
    const before = process.memoryUsage().rss;
    await registry().pushImage('hostile/endless', 'v1');
    await waitFor('and the next one', () => endless.attempts >= 4, { timeoutMs: 5_000 });
    assert.equal(endless.attempts, 4, 'no retry: the 200 counted');
    assert.ok(process.memoryUsage().rss - before < 64 * 1024 * 1024);
  });

  test('every character the grammar allows in names and tags, and any in a tried user name, is valid JSON', async () => {
    const pushed = await registry().pushImage(ODD_REPOSITORY, ODD_TAG);
    const wrong = new RegistryClient(() => ({
      baseUrl: gate.url,
      dispatcher: gate.dispatcher,
      authHeader: basic(ODD_USER, 'wrong-Passw0rd'),
    }));
    assert.equal((await wrong.call('GET', '/v2/')).status, 401);
    await waitFor('both events', () => healthy.deliveries.length >= 6, { timeoutMs: 5_000 });
    assert.deepEqual(healthy.invalid, []);
    const [push, refused] = healthy.deliveries.slice(-2).map((delivery) => delivery.json as CloudEvent) as [CloudEvent, CloudEvent];
    assert.equal(push.subject, `${ODD_REPOSITORY}:${ODD_TAG}`);
    assert.equal(push.data.digest, pushed.digest);
    assert.equal(refused.data.user, ODD_USER);
    assert.ok(healthy.deliveries.every((delivery) => delivery.signatureValid));
  });

  test("the UI shows an administrator each webhook's last tries and failures; nobody else", async () => {
    const admin = new UiClient(gate.url, gate.dispatcher);
    assert.equal((await admin.logIn(ALICE.user, ALICE.password)).status, 303);
    const page = await admin.get('/ui/webhooks');
    assert.equal(page.status, 200);
    assert.match(page.body, /<a href="\/ui\/webhooks">Webhooks<\/a>/);
    for (const name of ['redirecting', 'hanging', 'endless', 'healthy'])
      assert.match(page.body, new RegExp(`<h2 id="webhook-${name}">${name}</h2>`));
    assert.match(page.body, /failed: redirect \(HTTP 307\), not followed/);
    assert.match(page.body, /failed: timeout/);
    assert.match(page.body, /delivered: HTTP 204/);
    const other = new UiClient(gate.url, gate.dispatcher);
    assert.equal((await other.logIn(BOB.user, BOB.password)).status, 303);
    const refused = await other.get('/ui/webhooks');
    assert.equal(refused.status, 404);
    assert.doesNotMatch(refused.body, /webhook-healthy/);
  });
});
