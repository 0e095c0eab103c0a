/**
 * `node dist/bench/webhooks.js [--seconds N] [--rounds N] [--clients N]`: what two webhooks cost a
 * push. Two registry-gate processes (the real CLI, built-in registry, TLS, htpasswd at bcrypt cost
 * 5, one worker) take small image pushes — two blobs and a manifest, the manifest being the event —
 * from N concurrent clients for a fixed time:
 *
 *   none       no webhook
 *   webhooks   two webhooks (CloudEvents and Distribution's format) to two HTTPS receivers in this
 *              process, which check every signature
 *
 * Rounds alternate the two, and the line printed is the median of images per second, their ratio
 * and each round's ratio of the two runs made back to back (goal ≥ 0.95×). The receivers and the clients share this process's core: on a two-core machine
 * the ratio is a lower bound of what the gateway alone would show.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from 'undici';
import { startConfiguredGateProcess, type ConfiguredGateProcess } from '../test/helpers/gate-process.js';
import { basic } from '../test/helpers/gate.js';
import { makeTempDir, removeDir } from '../test/helpers/process.js';
import { RegistryClient } from '../test/helpers/registry-client.js';
import { makeTlsPair, type TlsPair } from '../test/helpers/tls.js';
import { startWebhookReceiver, type WebhookReceiver } from '../test/helpers/webhook-receiver.js';

const USER = { user: 'bench', password: 'bench-webhooks-password-1' };
const SECRET = randomBytes(24).toString('hex');

type Variant = 'none' | 'webhooks';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function startVariant(dir: string, tls: TlsPair, variant: Variant, receivers: WebhookReceiver[]): Promise<ConfiguredGateProcess> {
  await mkdir(dir, { recursive: true });
  const secretFile = join(dir, 'hook.secret');
  await writeFile(secretFile, SECRET, { mode: 0o600 });
  const hook = (name: string, receiver: WebhookReceiver, format: string) => ({
    name,
    url: receiver.url,
    secretFile,
    ca: tls.caFile,
    format,
  });
  const [first, second] = receivers as [WebhookReceiver, WebhookReceiver];
  return startConfiguredGateProcess({
    dir,
    users: { [USER.user]: USER.password },
    config: {
      workers: 1,
      tls: { cert: tls.certFile, key: tls.keyFile },
      dataDir: join(dir, 'data'),
      auth: { htpasswd: join(dir, 'htpasswd') },
      access: [{ repository: '**', actions: ['pull', 'push'], subjects: ['authenticated'] }],
      log: { level: 'warn', access: false },
      audit: { enabled: false },
      ...(variant === 'webhooks'
        ? { events: { webhooks: [hook('ci', first, 'cloudevents'), hook('legacy', second, 'distribution')] } }
        : {}),
    },
  });
}

/** Images pushed per second by `clients` concurrent clients over `seconds`. */
async function pushRate(gate: ConfiguredGateProcess, dispatcher: Agent, clients: number, seconds: number, round: number): Promise<number> {
  const registry = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher, authHeader: basic(USER.user, USER.password) }));
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let pushed = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_unused, client) => {
      for (let index = 0; performance.now() < deadline; index++) {
        await registry.pushImage(`bench/c${client}`, `r${round}-${index}`);
        pushed += 1;
      }
    }),
  );
  return pushed / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '3' },
      clients: { type: 'string', default: '8' },
    },
  });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const clients = Number(values.clients);
  const dir = await makeTempDir('rg-bench-webhooks-');
  const tls = await makeTlsPair(join(dir, 'tls'));
  const receivers = [await startWebhookReceiver(tls, SECRET), await startWebhookReceiver(tls, SECRET)];
  const dispatcher = new Agent({ connect: { ca: tls.caPem }, connections: clients });
  const rates: Record<Variant, number[]> = { none: [], webhooks: [] };
  try {
    for (let round = 0; round < rounds; round++) {
      const order: Variant[] = round % 2 === 0 ? ['none', 'webhooks'] : ['webhooks', 'none'];
      for (const variant of order) {
        const gate = await startVariant(join(dir, `${variant}-${round}`), tls, variant, receivers);
        try {
          const rate = await pushRate(gate, dispatcher, clients, seconds, round);
          rates[variant].push(rate);
          process.stderr.write(`round ${round + 1} ${variant}: ${rate.toFixed(1)} images/s\n`);
        } finally {
          await gate.stop();
        }
      }
    }
    const none = median(rates.none);
    const hooked = median(rates.webhooks);
    // The two variants of one round ran back to back: their ratio is the least disturbed by other load.
    const paired = rates.none.map((rate, round) => (rates.webhooks[round] ?? 0) / rate);
    const delivered = receivers.map((receiver) => receiver.deliveries.length);
    const badSignatures = receivers.flatMap((receiver) => receiver.deliveries).filter((delivery) => !delivery.signatureValid).length;
    process.stdout.write(
      `push throughput, ${clients} clients, ${seconds} s x ${rounds} rounds (median): no webhook ${none.toFixed(1)} images/s, ` +
        `two webhooks ${hooked.toFixed(1)} images/s: ${(hooked / none).toFixed(3)}x; ` +
        `per round ${paired.map((ratio) => `${ratio.toFixed(3)}x`).join(', ')}, median ${median(paired).toFixed(3)}x ` +
        `(events delivered ${delivered.join(' + ')}, bad signatures ${badSignatures})\n`,
    );
  } finally {
    await dispatcher.close();
    for (const receiver of receivers) await receiver.close();
    await removeDir(dir);
  }
}

await main();
