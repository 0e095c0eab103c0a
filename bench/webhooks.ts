/**
 * The `webhooks` workload: what two webhooks cost a push (issue 25's goal: at least 0.95×). Two
 * registry-gate processes (the real CLI, built-in registry, TLS, htpasswd at bcrypt cost 5, one
 * worker) take small image pushes — two blobs and a manifest, the manifest being the event — from
 * 8 concurrent clients for the run's load time:
 *
 *   none       no webhook
 *   webhooks   two webhooks (CloudEvents and Distribution's format) to two HTTPS receivers in this
 *              process, which check every signature
 *
 * Each round starts both afresh, in alternating order. The report shows the median images per
 * second of each, their ratio, and the median of each round's ratio of the two runs made back to
 * back (the least disturbed by other load). The receivers and the clients share the benchmark's
 * core: on a two-core machine the ratio is a lower bound of what the gateway alone would show.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'undici';
import { startConfiguredGateProcess, type ConfiguredGateProcess } from '../test/helpers/gate-process.js';
import { basic } from '../test/helpers/gate.js';
import { RegistryClient } from '../test/helpers/registry-client.js';
import { makeTlsPair, type TlsPair } from '../test/helpers/tls.js';
import { startWebhookReceiver, type WebhookReceiver } from '../test/helpers/webhook-receiver.js';
import { NamedSamples } from './credential-rounds.js';
import { median } from './results.js';
import { formatNumber, formatRatio, markdownTable, speedup } from './table.js';
import type { BenchOptions } from './options.js';
import type { Workspace } from './workspace.js';

const USER = { user: 'bench', password: 'bench-webhooks-password-1' };
const SECRET = randomBytes(24).toString('hex');

const CLIENTS = 8;
type Variant = 'none' | 'webhooks';

export class WebhookResults extends NamedSamples<Variant> {
  /** webhooks ÷ none of each round, the two run back to back. */
  readonly pairedRatios: number[] = [];
  delivered = 0;
  badSignatures = 0;
}

export interface WebhookRun {
  readonly dir: string;
  readonly tls: TlsPair;
  readonly receivers: WebhookReceiver[];
  readonly dispatcher: Agent;
  readonly results: WebhookResults;
  readonly options: BenchOptions;
  readonly log: (line: string) => void;
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

/** The two receivers and the clients' connection pool; everything on the workspace's cleanup. */
export async function startWebhookRun(ws: Workspace, options: BenchOptions, log: (line: string) => void): Promise<WebhookRun> {
  log('webhooks: starting two HTTPS receivers');
  const dir = join(ws.dir, 'webhooks');
  await mkdir(dir, { recursive: true });
  const tls = await makeTlsPair(join(dir, 'tls'));
  const receivers = [await startWebhookReceiver(tls, SECRET), await startWebhookReceiver(tls, SECRET)];
  const dispatcher = new Agent({ connect: { ca: tls.caPem }, connections: CLIENTS });
  ws.defer(async () => {
    await dispatcher.close();
    for (const receiver of receivers) await receiver.close();
  });
  return { dir, tls, receivers, dispatcher, results: new WebhookResults(), options, log };
}

/** One round: pushes to a fresh gate without webhooks and to one with two, in alternating order. */
export async function webhookRound(run: WebhookRun, round: number): Promise<void> {
  const order: Variant[] = round % 2 === 0 ? ['none', 'webhooks'] : ['webhooks', 'none'];
  const rates: Partial<Record<Variant, number>> = {};
  for (const variant of order) {
    try {
      const gate = await startVariant(join(run.dir, `${variant}-${round}`), run.tls, variant, run.receivers);
      try {
        rates[variant] = await pushRate(gate, run.dispatcher, CLIENTS, run.options.load.seconds, round);
      } finally {
        await gate.stop();
      }
      run.results.add(variant, rates[variant]);
      run.log(`webhooks round ${round + 1}: ${variant} ${rates[variant].toFixed(1)} images/s`);
    } catch (error) {
      run.results.failures.push(`${variant}, round ${round + 1}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (rates.none !== undefined && rates.webhooks !== undefined) run.results.pairedRatios.push(rates.webhooks / rates.none);
  const deliveries = run.receivers.flatMap((receiver) => receiver.deliveries);
  run.results.delivered = deliveries.length;
  run.results.badSignatures = deliveries.filter((delivery) => !delivery.signatureValid).length;
}

export function webhookSection(results: WebhookResults): string {
  const none = results.median('none');
  const hooked = results.median('webhooks');
  const paired = median(results.pairedRatios);
  const rows = [
    ['no webhook', formatNumber(none), '1.00×'],
    ['two webhooks (CloudEvents, Distribution)', formatNumber(hooked), formatRatio(speedup(hooked, none))],
    ["two webhooks, median of the rounds' paired ratios", '', paired === undefined ? '—' : `${paired.toFixed(2)}×`],
  ];
  const failures = results.failures.length > 0 ? `\n\nFailed: ${results.failures.join('; ')}` : '';
  return [
    '## Webhooks',
    '',
    `Small image pushes (two blobs and a manifest) by ${CLIENTS} concurrent clients to registry-gate (built-in registry, TLS, one worker), without webhooks and with two, each event signed and delivered to an HTTPS receiver in the benchmark's process; median of the rounds. Goal: two webhooks ≥ 0.95× none. Events delivered: ${results.delivered}, with a bad signature: ${results.badSignatures}.`,
    '',
    markdownTable(['push', 'images/s', '× no webhook'], rows, ['left', 'right', 'right']),
  ]
    .join('\n')
    .concat(failures);
}
