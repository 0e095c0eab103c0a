/**
 * Webhooks (`events.webhooks`), on both backends: real skopeo pushes and deletes and a refused login
 * reach a real HTTPS receiver as signed events — CloudEvents for one webhook, Distribution's
 * envelope for another that only watches one repository — with what happened (repository, tag,
 * digest, media type, size, user, client), one id per event; a receiver that is down for a while
 * gets every event once it is back, in order, with the same ids.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage, OCI_MANIFEST, type OciImage } from '../helpers/oci-image.js';
import { skopeoCopy, skopeoDelete, dockerRef } from '../helpers/skopeo.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { BACKEND_KINDS, startBackend, type BackendUnderTest } from '../helpers/access-http.js';
import { startWebhookReceiver, type Delivery, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { waitFor } from '../helpers/wait.js';

const PASSWORDS = { alice: 'alice-Hook-secret-1' };
const RULES = [{ repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['user:alice'] }];
const SECRET = `whsec-${randomBytes(16).toString('hex')}`;

interface CloudEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  subject?: string;
  datacontenttype: string;
  data: Record<string, unknown>;
}

interface DistributionEvent {
  id: string;
  action: string;
  target: Record<string, unknown>;
  actor: { name: string };
  request: { addr: string; method: string };
}

const cloudEvents = (receiver: WebhookReceiver) => receiver.deliveries.map((delivery) => delivery.json as CloudEvent);
const waitForDeliveries = (receiver: WebhookReceiver, count: number, what: string) =>
  waitFor(what, () => receiver.deliveries.length >= count && receiver.deliveries, { timeoutMs: 15_000 });

for (const kind of BACKEND_KINDS) {
  describe(`webhooks (${kind})`, () => {
    let dir: string;
    let tls: TlsPair;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let image: OciImage;
    let ci: WebhookReceiver;
    let legacy: WebhookReceiver;

    const alice = { creds: { user: 'alice', password: PASSWORDS.alice }, certDir: () => tls.caDir };
    const access = () => ({ creds: alice.creds, certDir: tls.caDir });

    before(async () => {
      dir = await makeTempDir('rg-webhooks-');
      tls = await makeTlsPair(join(dir, 'tls'));
      backend = await startBackend(kind, join(dir, 'distribution'));
      ci = await startWebhookReceiver(tls, SECRET);
      legacy = await startWebhookReceiver(tls, SECRET);
      const secretFile = join(dir, 'hook.secret');
      await writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
      gate = await startGate({
        dir: join(dir, 'gate'),
        tls,
        users: PASSWORDS,
        bcryptCost: 4,
        config: {
          access: RULES,
          ...backend.gateConfig,
          events: {
            webhooks: [
              { name: 'ci', url: ci.url, secretFile, ca: tls.caFile, actions: ['push', 'delete', 'login-failed'] },
              { name: 'legacy', url: legacy.url, secretFile, ca: tls.caFile, format: 'distribution', repositories: ['legacy/**'] },
            ],
            retryDelay: '50ms',
            maxRetryDelay: '200ms',
          },
        },
      });
      image = await makeOciImage(join(dir, 'image'), { tag: 'v1', layers: [randomBytes(700), randomBytes(800)] });
    });

    after(async () => {
      await gate.stop();
      await ci.close();
      await legacy.close();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    test('a skopeo push: one signed CloudEvent with what was stored, by whom, from where', async () => {
      const pushed = await skopeoCopy({
        from: image.ref,
        to: dockerRef(gate.host, 'team/app', 'v1'),
        dest: access(),
        preserveDigests: true,
      });
      assert.equal(pushed.code, 0, pushed.stderr);
      const [delivery] = await waitForDeliveries(ci, 1, 'the push event');
      const event = (delivery as Delivery).json as CloudEvent;
      assert.ok((delivery as Delivery).signatureValid, 'the signature checks with the shared secret');
      assert.equal((delivery as Delivery).headers['content-type'], 'application/cloudevents+json; charset=utf-8');
      assert.equal(event.specversion, '1.0');
      assert.equal(event.type, 'dev.registry-gate.push');
      assert.match(event.id, /^[0-9a-f-]{36}$/);
      assert.equal((delivery as Delivery).headers['x-registry-gate-event-id'], event.id);
      assert.equal(event.subject, 'team/app:v1');
      assert.deepEqual(
        { ...event.data, host: undefined, userAgent: undefined },
        {
          action: 'push',
          repository: 'team/app',
          tag: 'v1',
          digest: image.manifestDigest,
          mediaType: OCI_MANIFEST,
          size: image.manifestSize,
          user: 'alice',
          client: '127.0.0.1',
          method: 'PUT',
          host: undefined,
          userAgent: undefined,
        },
      );
      // Only manifests make events: the blobs skopeo pushed first made none, and the other webhook watches legacy/** only.
      assert.equal(ci.deliveries.length, 1);
      assert.equal(legacy.attempts, 0);
    });

    test("Distribution's envelope for a webhook that asks for it, only for its repositories; a delete", async () => {
      const pushed = await skopeoCopy({
        from: image.ref,
        to: dockerRef(gate.host, 'legacy/app', 'v1'),
        dest: access(),
        preserveDigests: true,
      });
      assert.equal(pushed.code, 0, pushed.stderr);
      const deleted = await skopeoDelete(dockerRef(gate.host, 'legacy/app', 'v1'), access());
      assert.equal(deleted.code, 0, deleted.stderr);
      const deliveries = await waitForDeliveries(legacy, 2, 'push and delete in the Distribution format');
      assert.equal(deliveries[0]?.headers['content-type'], 'application/vnd.docker.distribution.events.v1+json');
      const [push, remove] = deliveries.map((delivery) => (delivery.json as { events: DistributionEvent[] }).events[0]) as [
        DistributionEvent,
        DistributionEvent,
      ];
      assert.ok(deliveries.every((delivery) => delivery.signatureValid));
      assert.equal(push.action, 'push');
      assert.deepEqual(
        { ...push.target, url: undefined },
        {
          mediaType: OCI_MANIFEST,
          size: image.manifestSize,
          length: image.manifestSize,
          digest: image.manifestDigest,
          repository: 'legacy/app',
          tag: 'v1',
          url: undefined,
        },
      );
      assert.equal(push.actor.name, 'alice');
      assert.equal(push.request.addr, '127.0.0.1');
      assert.equal(push.request.method, 'PUT');
      assert.equal(remove.action, 'delete');
      // skopeo deletes by digest, after resolving the tag.
      assert.equal(remove.target.digest, image.manifestDigest);
      assert.notEqual(push.id, remove.id);
      // The ci webhook watches every repository: it heard both too.
      await waitForDeliveries(ci, 3, 'the ci webhook hears legacy/app too');
    });

    test('a refused login is a login-failed event naming the user tried, never the password', async () => {
      const before = ci.deliveries.length;
      const wrong = new RegistryClient(() => ({
        baseUrl: gate.url,
        dispatcher: gate.dispatcher,
        authHeader: basic('alice', 'not-Her-Passw0rd'),
      }));
      assert.equal((await wrong.call('GET', '/v2/team/app/tags/list')).status, 401);
      const deliveries = await waitForDeliveries(ci, before + 1, 'the login-failed event');
      const event = deliveries.at(-1)?.json as CloudEvent;
      assert.equal(event.type, 'dev.registry-gate.login-failed');
      assert.equal(event.data.user, 'alice');
      assert.equal(event.data.reason, 'invalid-credentials');
      assert.ok(!deliveries.at(-1)?.body.includes('not-Her-Passw0rd'));
    });

    test('a receiver down for a while gets every event once back, in order, each with its id', async () => {
      const client = new RegistryClient(() => ({
        baseUrl: gate.url,
        dispatcher: gate.dispatcher,
        authHeader: basic('alice', PASSWORDS.alice),
      }));
      await ci.down();
      const already = ci.deliveries.length;
      const tags = ['r1', 'r2', 'r3', 'r4', 'r5'];
      const pushed = await client.pushImage('team/down', tags[0] as string);
      for (const tag of tags.slice(1)) await client.pushManifest('team/down', tag, pushed.manifest, pushed.mediaType);
      await ci.up();
      const deliveries = await waitForDeliveries(ci, already + tags.length, 'every event after the receiver came back');
      const events = deliveries.slice(already).map((delivery) => delivery.json as CloudEvent);
      assert.deepEqual(
        events.map((event) => event.subject),
        tags.map((tag) => `team/down:${tag}`),
      );
      assert.equal(new Set(events.map((event) => event.id)).size, tags.length);
      assert.ok(cloudEvents(ci).every((event) => event.source.startsWith('registry-gate://')));
    });
  });
}
