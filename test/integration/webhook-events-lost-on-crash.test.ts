/**
 * An event acknowledged is never lost, and the queue never grows without bound. Distribution's
 * notifications keep their queue in memory (a crash loses it) and let it grow for ever while an
 * endpoint is down; here:
 *
 * - the gateway (the real CLI) is killed with SIGKILL while its receiver is down and events are
 *   queued, and a torn half-record is left at the end of the queue as a crash mid-append would:
 *   after the restart every event a client saw succeed is delivered, with its id;
 * - with `queue.maxEvents` reached, a push is refused (503) before anything is stored, and a pull's
 *   event is dropped and counted in `/metrics`;
 * - a delivery that fails `maxAttempts` times becomes a dead letter, which `registry-gate events`
 *   lists and `events replay` sends again with the same id.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { basic } from '../helpers/gate.js';
import { CLI, startConfiguredGateProcess, type ConfiguredGateProcess } from '../helpers/gate-process.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { freePort, makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { waitFor } from '../helpers/wait.js';

const ALICE = { user: 'alice', password: 'alice-Crash-hook-1' };
const SECRET = `whsec-${randomBytes(16).toString('hex')}`;

describe('webhook events survive kill -9 and stay bounded', () => {
  let dir: string;
  let tls: TlsPair;
  let receiver: WebhookReceiver;
  let dispatcher: Agent;
  let metricsPort: number;

  const configFor = (events: Record<string, unknown>) => ({
    tls: { cert: tls.certFile, key: tls.keyFile },
    dataDir: join(dir, 'data'),
    auth: { htpasswd: join(dir, 'htpasswd') },
    access: [{ repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['user:alice'] }],
    log: { level: 'warn' },
    audit: { enabled: false },
    metrics: { listen: `127.0.0.1:${metricsPort}` },
    events: {
      webhooks: [
        { name: 'ci', url: receiver.url, secretFile: join(dir, 'hook.secret'), ca: tls.caFile, actions: ['push', 'pull'], timeout: '2s' },
      ],
      retryDelay: '50ms',
      maxRetryDelay: '200ms',
      ...events,
    },
  });
  const start = (events: Record<string, unknown> = {}) =>
    startConfiguredGateProcess({ dir, config: configFor(events), users: { [ALICE.user]: ALICE.password } });
  const client = (gate: ConfiguredGateProcess) =>
    new RegistryClient(() => ({ baseUrl: gate.url, dispatcher, authHeader: basic(ALICE.user, ALICE.password) }));
  const killHard = async (gate: ConfiguredGateProcess) => {
    const exited = new Promise((resolve) => gate.child.once('exit', resolve));
    gate.child.kill('SIGKILL');
    await exited;
  };
  const events = (args: string[]) =>
    runProcess(process.execPath, [CLI, 'events', '--config', join(dir, 'gate.yaml'), ...args], { cwd: dir, timeoutMs: 20_000 });

  before(async () => {
    dir = await makeTempDir('rg-webhook-crash-');
    tls = await makeTlsPair(join(dir, 'tls'));
    receiver = await startWebhookReceiver(tls, SECRET);
    dispatcher = new Agent({ connect: { ca: tls.caPem } });
    metricsPort = await freePort();
    await writeFile(join(dir, 'hook.secret'), SECRET, { mode: 0o600 });
  });

  after(async () => {
    await dispatcher.close();
    await receiver.close();
    if (dir) await removeDir(dir);
  });

  test('kill -9 with events queued (and a torn record at the end): every acknowledged event arrives after the restart', async () => {
    await receiver.down();
    let gate = await start();
    const tags = ['c1', 'c2', 'c3', 'c4'];
    try {
      const pushed = await client(gate).pushImage('crash/app', tags[0] as string);
      for (const tag of tags.slice(1)) await client(gate).pushManifest('crash/app', tag, pushed.manifest, pushed.mediaType);
    } finally {
      await killHard(gate);
    }
    const queueDir = join(dir, 'data', 'events', 'queue');
    const [segment] = (await readdir(queueDir)).sort().reverse();
    await appendFile(join(queueDir, segment as string), '0badc0de {"seq":99,"event":{"id":"torn');

    await receiver.up();
    gate = await start();
    try {
      await waitFor('every queued event after the restart', () => receiver.deliveries.length >= tags.length, { timeoutMs: 15_000 });
      const subjects = receiver.deliveries.map((delivery) => (delivery.json as { subject: string }).subject);
      assert.deepEqual(
        subjects.slice(0, tags.length),
        tags.map((tag) => `crash/app:${tag}`),
      );
      assert.ok(receiver.deliveries.every((delivery) => delivery.signatureValid));
      // The queue goes on after the torn record: a new event is delivered too.
      await client(gate).pushManifest(
        'crash/app',
        'after',
        Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] })),
        'application/vnd.oci.image.index.v1+json',
      );
      await waitFor(
        'the event after the restart',
        () => receiver.deliveries.some((delivery) => (delivery.json as { subject: string }).subject === 'crash/app:after'),
        { timeoutMs: 15_000 },
      );
      assert.match(gate.output(), /torn record/);
    } finally {
      await gate.stop();
    }
  });

  test('a full queue: a push is refused (503) with nothing stored, a pull event is dropped and counted', async () => {
    await receiver.down();
    const gate = await start({ queue: { maxEvents: 10 }, maxAttempts: 1000 });
    try {
      const registry = client(gate);
      const pushed = await registry.pushImage('full/app', 'f0');
      for (let index = 1; index < 10; index++) await registry.pushManifest('full/app', `f${index}`, pushed.manifest, pushed.mediaType);
      const refused = await registry.call('PUT', '/v2/full/app/manifests/f10', {
        headers: { 'content-type': pushed.mediaType },
        body: pushed.manifest,
      });
      assert.equal(refused.status, 503);
      assert.equal((JSON.parse(refused.text()) as { errors: { code: string }[] }).errors[0]?.code, 'UNAVAILABLE');
      assert.equal(
        (await registry.call('GET', '/v2/full/app/manifests/f10', { headers: { accept: pushed.mediaType } })).status,
        404,
        'nothing was stored',
      );
      const pulled = await registry.call('GET', '/v2/full/app/manifests/f1', { headers: { accept: pushed.mediaType } });
      assert.equal(pulled.status, 200, 'a pull is answered whatever the queue');
      const metrics = await waitFor('the dropped pull counted', async () => {
        const text = await (await request(`http://127.0.0.1:${metricsPort}/metrics`)).body.text();
        return /registry_gate_events_dropped_total\{action="pull"\} 1/.test(text) && text;
      });
      assert.match(metrics, /registry_gate_events_queue_depth 10/);
    } finally {
      await gate.stop();
    }
    // Drain what was queued, so the next test starts from an empty queue.
    await receiver.up();
    const drain = await start();
    try {
      await waitFor('the queue drained', async () => (await events(['--json'])).stdout.includes('"queued": 0'), { timeoutMs: 15_000 });
    } finally {
      await drain.stop();
    }
  });

  test('dead letters after maxAttempts: listed by `registry-gate events`, sent again by `events replay`', async () => {
    receiver.mode = 'fail';
    const gate = await start({ maxAttempts: 2 });
    try {
      const pushed = await client(gate).pushImage('dead/app', 'd1');
      const listed = await waitFor('a dead letter listed', async () => {
        const result = await events([]);
        return result.stdout.includes('1 dead letter') && result.stdout;
      });
      const id = /^ {2}([0-9a-f-]{36}) push "dead\/app:d1" .*2 tries, last "HTTP 500"$/m.exec(listed)?.[1];
      assert.ok(id, listed);
      receiver.mode = 'ok';
      const replayed = await events(['replay', id]);
      assert.equal(replayed.code, 0, replayed.stderr);
      const delivery = await waitFor(
        'the replayed event',
        () => receiver.deliveries.find((candidate) => (candidate.json as { id: string }).id === id),
        { timeoutMs: 10_000 },
      );
      assert.equal((delivery.json as { data: { digest: string } }).data.digest, pushed.digest);
      await waitFor('no dead letter left', async () => (await events([])).stdout.includes('0 dead letter'));
    } finally {
      receiver.mode = 'ok';
      await gate.stop();
    }
  });
});
