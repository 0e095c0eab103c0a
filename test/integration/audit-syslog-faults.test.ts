/**
 * The audit trail's syslog output when the collector misbehaves, with a real rsyslogd:
 *
 * - it goes away for a while, then comes back: the records of the outage were queued and arrive in
 *   order; past `bufferSize` the newest are dropped and counted in
 *   `registry_gate_audit_syslog_dropped_total{reason="buffer_full"}`, never queued without bound;
 * - it accepts but never reads (the process stopped with SIGSTOP, its socket buffers fill up): the
 *   requests that make records are not slowed, the queue fills, then records are dropped and counted;
 * - it presents a TLS certificate that `audit.syslog.ca` did not sign: nothing is sent to it;
 * - a reload that leaves `audit` as it was keeps the connection; one that changes it opens a new one
 *   and closes the old: never two left open.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { buildConfig, type Config } from '../../src/config/load.js';
import { silentLoggers } from '../../src/log.js';
import { startRegistryGate, type RunningGate } from '../../src/assembly/app.js';
import { startGate, basic, writeHtpasswd, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { pollUntil, waitFor } from '../helpers/wait.js';
import { startRsyslog, type ReceivedSyslog, type RunningRsyslog } from '../helpers/rsyslog.js';

const ALICE = { user: 'alice', password: 'alice-Fault-secret' };

/** The value of one sample of the gate's /metrics (0 when absent). */
async function metric(metricsUrl: string | undefined, name: string, labels = ''): Promise<number> {
  assert.ok(metricsUrl);
  const text = await (await request(metricsUrl)).body.text();
  const line = text.split('\n').find((row) => row.startsWith(`${name}${labels} `) || row.startsWith(`${name}${labels}{`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

const tagOf = (message: ReceivedSyslog) => message.sd?.['audit@32473']?.tag;

describe('audit trail to syslog when the collector fails', () => {
  let dir: string;
  let tls: TlsPair;
  let rsyslog: RunningRsyslog;
  const gates: TestGate[] = [];

  const startSyslogGate = async (name: string, audit: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const gate = await startGate({
      dir: join(dir, name),
      tls,
      users: { [ALICE.user]: ALICE.password },
      bcryptCost: 4,
      config: { metrics: { listen: '127.0.0.1:0' }, audit: { enabled: true, file: join(dir, name, 'audit.log'), ...audit }, ...extra },
    });
    gates.push(gate);
    return gate;
  };
  const refusedPull = async (gate: TestGate, tag: string, authHeader?: string) => {
    const client = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, ...(authHeader ? { authHeader } : {}) }));
    const reply = await client.call('GET', `/v2/outage/app/manifests/${tag}`);
    assert.ok(reply.status === 401 || reply.status === 403, `refused: ${reply.status}`);
  };

  before(async () => {
    dir = await makeTempDir('rg-audit-syslog-faults-');
    tls = await makeTlsPair(join(dir, 'tls'));
    rsyslog = await startRsyslog(join(dir, 'rsyslog'));
  });

  after(async () => {
    rsyslog.resume();
    for (const gate of gates) await gate.stop();
    await rsyslog.close();
    await removeDir(dir);
  });

  test('a collector down for a while gets the queued records once back; past bufferSize they are dropped and counted', async () => {
    const gate = await startSyslogGate('outage', {
      syslog: { address: `127.0.0.1:${rsyslog.ports.tcp}`, hostname: 'outage', bufferSize: '4KiB' },
    });
    const metrics = gate.gate.metricsUrl;
    await refusedPull(gate, 'before');
    await rsyslog.waitForMessages('the first record', (all) => all.some((m) => tagOf(m) === 'before'));
    await rsyslog.stop();
    await waitFor('the gate sees the collector gone', async () => (await metric(metrics, 'registry_gate_audit_syslog_connected')) === 0);

    const TRIED = 40;
    for (let index = 0; index < TRIED; index++) await refusedPull(gate, `n${index}`);
    const dropped = await metric(metrics, 'registry_gate_audit_syslog_dropped_total', '{reason="buffer_full"}');
    assert.ok(dropped > 0 && dropped < TRIED, `some records were dropped (${dropped} of ${TRIED}), the rest queued`);
    assert.ok((await metric(metrics, 'registry_gate_audit_syslog_queued_bytes')) <= 4096, 'the queue stays within bufferSize');

    await rsyslog.start();
    const queued = TRIED - dropped;
    const received = await rsyslog.waitForMessages(
      'the queued records after the outage',
      (all) => all.filter((m) => tagOf(m)?.startsWith('n')).length >= queued,
      40_000,
    );
    const tags = received.map(tagOf).filter((tag) => tag?.startsWith('n'));
    assert.deepEqual(
      tags,
      Array.from({ length: queued }, (_, index) => `n${index}`),
      'the queued records arrive, in order; the newest were the ones dropped',
    );
    assert.equal(await metric(metrics, 'registry_gate_audit_syslog_connected'), 1);
    assert.equal(await metric(metrics, 'registry_gate_audit_syslog_queued_bytes'), 0);
    assert.equal(await metric(metrics, 'registry_gate_audit_syslog_sent_total'), 1 + queued);
  });

  test('a collector that accepts but never reads does not slow requests; its overflow is dropped and counted', async () => {
    // Large records (64 groups of 1000 characters) fill the stalled connection's socket buffers quickly.
    const groups = Object.fromEntries(Array.from({ length: 64 }, (_, index) => [`g${index}-${'x'.repeat(1000)}`, [ALICE.user]]));
    const gate = await startSyslogGate(
      'stalled',
      { syslog: { address: `127.0.0.1:${rsyslog.ports.tcp}`, hostname: 'stalled', bufferSize: '1MiB', maxMessageSize: 65_000 } },
      { groups, access: [{ repository: 'team/**', actions: ['pull'], subjects: ['authenticated'] }] },
    );
    const metrics = gate.gate.metricsUrl;
    const alice = basic(ALICE.user, ALICE.password);
    const timed = async (tag: string) => {
      const started = performance.now();
      await refusedPull(gate, tag, alice);
      return performance.now() - started;
    };
    const baseline: number[] = [];
    for (let index = 0; index < 20; index++) baseline.push(await timed(`warm${index}`));
    await rsyslog.waitForMessages('the warm-up records', (all) => all.some((m) => tagOf(m) === 'warm19'));

    rsyslog.pause();
    const stalled: number[] = [];
    const deadline = performance.now() + 60_000;
    for (let batch = 0; batch < 400 && performance.now() < deadline; batch++) {
      stalled.push(...(await Promise.all(Array.from({ length: 8 }, (_, index) => timed(`s${batch}-${index}`)))));
      if ((await metric(metrics, 'registry_gate_audit_syslog_dropped_total', '{reason="buffer_full"}')) > 0) break;
    }
    assert.ok(
      (await metric(metrics, 'registry_gate_audit_syslog_dropped_total', '{reason="buffer_full"}')) > 0,
      `the stalled collector's queue filled and records were dropped (after ${stalled.length} requests)`,
    );
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
    // Eight at once share two cores: a request may wait for its batch, never for the collector.
    assert.ok(
      median(stalled) < Math.max(median(baseline) * 8 * 3, 100),
      `requests stay fast while the collector stalls: median ${median(stalled).toFixed(1)} ms, before ${median(baseline).toFixed(1)} ms`,
    );
    rsyslog.resume();
  });

  test('a TLS collector whose certificate audit.syslog.ca did not sign gets nothing', async () => {
    const rogueTls = await makeTlsPair(join(dir, 'rogue-tls'));
    const rogue = await startRsyslog(join(dir, 'rogue'), { tls: { certFile: rogueTls.certFile, keyFile: rogueTls.keyFile } });
    try {
      const gate = await startSyslogGate('rogue', {
        syslog: { address: `127.0.0.1:${rogue.ports.tls}`, transport: 'tls', ca: tls.caFile, hostname: 'rogue' },
      });
      await refusedPull(gate, 'secret-tag');
      // Nothing happens is what is tested: a window in which the gate tries several times (backoff from 200 ms).
      const queued = await pollUntil(
        () => metric(gate.gate.metricsUrl, 'registry_gate_audit_syslog_queued_bytes'),
        (bytes) => bytes === 0,
        { timeoutMs: 2_000, intervalMs: 100 },
      );
      assert.ok(queued > 0, 'the record stays queued');
      assert.equal(await metric(gate.gate.metricsUrl, 'registry_gate_audit_syslog_connected'), 0);
      assert.equal(await metric(gate.gate.metricsUrl, 'registry_gate_audit_syslog_sent_total'), 0);
      assert.deepEqual(await rogue.received(), [], 'the rogue collector received nothing');
    } finally {
      await rogue.close();
    }
  });

  test('a reload keeps the connection when audit is unchanged, and replaces it (closing the old) when audit changes', async () => {
    const gateDir = join(dir, 'reload');
    const htpasswd = join(dir, 'reload.htpasswd');
    await writeHtpasswd(htpasswd, { [ALICE.user]: ALICE.password }, 4);
    const raw = (appName: string, level: string) => ({
      listen: '127.0.0.1:0',
      dataDir: join(gateDir, 'data'),
      tls: 'off',
      auth: { htpasswd },
      log: { level: 'silent' },
      metrics: { listen: '127.0.0.1:0' },
      access: [{ repository: `${level}/**`, actions: ['pull'], subjects: ['authenticated'] }],
      audit: {
        enabled: true,
        file: join(gateDir, 'audit.log'),
        syslog: { address: `127.0.0.1:${rsyslog.ports.tcp}`, hostname: 'reload', appName },
      },
    });
    let current: Config = buildConfig(raw('first', 'a'), gateDir, undefined);
    const gate: RunningGate = await startRegistryGate(current, silentLoggers(), { loadConfig: () => Promise.resolve(current) });
    try {
      const connected = () => metric(gate.metricsUrl, 'registry_gate_audit_syslog_connected');
      const sent = () => metric(gate.metricsUrl, 'registry_gate_audit_syslog_sent_total');
      await waitFor('connected', async () => (await connected()) === 1);
      const anonymousPull = async (tag: string) => {
        const reply = await request(`${gate.url}/v2/outage/app/manifests/${tag}`);
        await reply.body.dump();
      };
      await anonymousPull('r1');
      await waitFor('r1 sent', async () => (await sent()) === 1);

      current = buildConfig(raw('first', 'b'), gateDir, undefined);
      await gate.reload('access rules changed');
      assert.equal(await connected(), 1, 'the same connection: audit did not change');
      await anonymousPull('r2');
      const kept = await rsyslog.waitForMessages('r2', (all) => all.some((m) => tagOf(m) === 'r2'));
      assert.equal(kept.find((m) => tagOf(m) === 'r2')?.appname, 'first');

      current = buildConfig(raw('second', 'b'), gateDir, undefined);
      await gate.reload('audit changed');
      await anonymousPull('r3');
      const moved = await rsyslog.waitForMessages('r3', (all) => all.some((m) => tagOf(m) === 'r3'));
      assert.equal(moved.find((m) => tagOf(m) === 'r3')?.appname, 'second');
      assert.equal(await pollUntil(connected, (value) => value === 1), 1, 'the old connection was closed with its generation: one is left');
    } finally {
      await gate.close(0);
    }
  });
});
