/**
 * `/healthz`, `/readyz` and `/metrics` against live servers: the gateway (as `startGate` assembles
 * it from a config) in front of Debian's Distribution, alone with its built-in registry, and with a
 * real OpenLDAP. Metrics are scraped by a real Prometheus and read back from it, so what is asserted
 * is what Prometheus itself parsed; `promtool check metrics` lints the exposition.
 *
 * What must hold: health answers need no credentials and say nothing but the status and the names
 * of failing checks; readiness fails, naming the check, when the upstream is stopped, the storage
 * cannot be written or the directory is down; metrics live on their own listener, never on the
 * registry's; counters move with real skopeo traffic; no password, user or repository name appears
 * in the exposition.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rename } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage, type OciImage } from '../helpers/oci-image.js';
import { skopeoCopy, dockerRef } from '../helpers/skopeo.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { startSlapd, type RunningSlapd } from '../helpers/slapd.js';
import { startPrometheus, promtoolProblems, type RunningPrometheus } from '../helpers/prometheus.js';
import { pollUntil } from '../helpers/wait.js';

const ALICE = { user: 'alice', password: 'alice-Metrics-secret-1' };
const BOB = { user: 'bob', password: 'bob-Metrics-secret-2' };
const WRONG = 'not-the-Password-9';
const LAYER = 3 * 1024 * 1024;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

async function call(
  gate: TestGate,
  path: string,
  options: { method?: Dispatcher.HttpMethod; authorization?: string } = {},
): Promise<Reply> {
  const response = await request(`${gate.url}${path}`, {
    method: options.method ?? 'GET',
    dispatcher: gate.dispatcher,
    headers: options.authorization ? { authorization: options.authorization } : {},
  });
  return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
}

/** Polls `path` until it answers `status` (bounded), then returns that answer. */
async function until(gate: TestGate, path: string, status: number, timeoutMs = 10_000): Promise<Reply> {
  return pollUntil(
    () => call(gate, path),
    (reply) => reply.status === status,
    { timeoutMs, intervalMs: 200 },
  );
}

function assertHealthAnswer(reply: Reply, status: number, body: object, what: string): void {
  assert.equal(reply.status, status, `${what}: ${reply.body}`);
  assert.deepEqual(JSON.parse(reply.body), body, what);
  assert.equal(reply.headers['content-type'], 'application/json; charset=utf-8', what);
  assert.equal(reply.headers['cache-control'], 'no-store', what);
  assert.equal(reply.headers['www-authenticate'], undefined, `${what}: no challenge`);
}

async function metricsText(gate: TestGate): Promise<string> {
  const response = await request(gate.gate.metricsUrl!);
  assert.equal(response.statusCode, 200);
  assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return response.body.text();
}

describe('health and metrics in front of Distribution', () => {
  let dir: string;
  let tls: TlsPair;
  let registry: RunningDistribution;
  let gate: TestGate;
  let prometheus: RunningPrometheus;
  let image: OciImage;

  before(async () => {
    dir = await makeTempDir('rg-metrics-');
    [tls, registry] = await Promise.all([makeTlsPair(join(dir, 'tls')), startDistribution({ dir: join(dir, 'distribution') })]);
    gate = await startGate({
      dir: join(dir, 'gate'),
      tls,
      users: { [ALICE.user]: ALICE.password, [BOB.user]: BOB.password },
      config: {
        upstream: { url: registry.url },
        metrics: { listen: '127.0.0.1:0' },
        auth: { token: { service: 'metrics-test' }, throttle: { maxFailuresPerAccount: 2 } },
        access: [
          { repository: 'metrics/**', actions: ['pull', 'push'], subjects: [`user:${ALICE.user}`] },
          { repository: 'metrics/**', actions: ['pull'], subjects: ['authenticated'] },
        ],
      },
    });
    const metricsAt = new URL(gate.gate.metricsUrl!);
    prometheus = await startPrometheus(join(dir, 'prometheus'), { host: metricsAt.hostname, port: Number(metricsAt.port) });
    image = await makeOciImage(join(dir, 'image'), { layers: [LAYER, 2048] });
  });

  after(async () => {
    await prometheus.stop();
    await gate.stop();
    await registry.stop();
    if (dir) await removeDir(dir);
  });

  test('/healthz and /readyz answer without credentials, and say nothing else', async () => {
    assertHealthAnswer(await call(gate, '/healthz'), 200, { status: 'ok' }, 'GET /healthz');
    assertHealthAnswer(await call(gate, '/readyz'), 200, { status: 'ok' }, 'GET /readyz');
    // Credentials change nothing, wrong ones included: these endpoints never look at them.
    assertHealthAnswer(
      await call(gate, '/readyz', { authorization: basic(ALICE.user, WRONG) }),
      200,
      { status: 'ok' },
      'GET /readyz with a wrong password',
    );
    const head = await call(gate, '/healthz', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    const post = await call(gate, '/healthz', { method: 'POST' });
    assert.equal(post.status, 405, post.body);
    assert.equal((JSON.parse(post.body) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNSUPPORTED');
    // Look-alikes are not health endpoints.
    assert.equal((await call(gate, '/healthz/x')).status, 404);
    const underV2 = await call(gate, '/v2/healthz');
    assert.equal(underV2.status, 404);
    assert.doesNotMatch(underV2.body, /"status"/);
  });

  test('metrics are served on their own listener only', async () => {
    const onMain = await call(gate, '/metrics', { authorization: basic(ALICE.user, ALICE.password) });
    assert.equal(onMain.status, 404, 'the registry listener does not serve metrics');
    assert.doesNotMatch(onMain.body, /registry_gate_/);
    const metricsAt = new URL(gate.gate.metricsUrl!);
    const elsewhere = await request(`${metricsAt.origin}/v2/`);
    assert.equal(elsewhere.statusCode, 404);
    await elsewhere.body.dump();
    assert.match(await metricsText(gate), /^# HELP registry_gate_requests_total /m);
  });

  test('a real Prometheus scrapes the metrics, and the counters move with a skopeo push and pull', async () => {
    await prometheus.nextScrape();
    const before = {
      manifestPuts: await prometheus.value('sum(registry_gate_requests_total{kind="manifest",method="PUT",status="201"})'),
      passwordChecks: await prometheus.value('registry_gate_logins_total{outcome="password_check"}'),
      cacheHits: await prometheus.value('registry_gate_logins_total{outcome="cache_hit"}'),
      failures: await prometheus.value('registry_gate_logins_total{outcome="failure"}'),
      uploadBytes: await prometheus.value('sum(registry_gate_received_bytes_total{kind="upload"})'),
      blobBytes: await prometheus.value('sum(registry_gate_sent_bytes_total{kind="blob"})'),
      upstreamAnswers: await prometheus.value('sum(registry_gate_upstream_response_seconds_count)'),
    };

    const pushed = await skopeoCopy({
      from: image.ref,
      to: dockerRef(gate.host, 'metrics/app', 'v1'),
      dest: { creds: ALICE, certDir: tls.caDir },
    });
    assert.equal(pushed.code, 0, pushed.stderr);
    const pulled = await skopeoCopy({
      from: dockerRef(gate.host, 'metrics/app', 'v1'),
      to: `oci:${join(dir, 'pulled')}:v1`,
      src: { creds: BOB, certDir: tls.caDir },
      ociAcceptUncompressed: true,
    });
    assert.equal(pulled.code, 0, pulled.stderr);
    const refused = await call(gate, '/v2/', { authorization: basic(BOB.user, WRONG) });
    assert.equal(refused.status, 401);

    await prometheus.nextScrape();
    assert.ok(
      (await prometheus.value('sum(registry_gate_requests_total{kind="manifest",method="PUT",status="201"})')) >= before.manifestPuts + 1,
      'the manifest push is counted',
    );
    assert.ok(
      (await prometheus.value('registry_gate_logins_total{outcome="password_check"}')) >= before.passwordChecks + 2,
      'alice and bob were each checked once',
    );
    assert.ok(
      (await prometheus.value('registry_gate_logins_total{outcome="cache_hit"}')) > before.cacheHits + 2,
      'skopeo repeats its credentials: cache hits',
    );
    assert.equal(
      await prometheus.value('registry_gate_logins_total{outcome="failure"}'),
      before.failures + 1,
      'the wrong password is one failure',
    );
    assert.ok(
      (await prometheus.value('sum(registry_gate_received_bytes_total{kind="upload"})')) >= before.uploadBytes + LAYER,
      'the layer came in as upload bytes',
    );
    assert.ok(
      (await prometheus.value('sum(registry_gate_sent_bytes_total{kind="blob"})')) >= before.blobBytes + LAYER,
      'the layer went out as blob bytes',
    );
    assert.ok(
      (await prometheus.value('sum(registry_gate_upstream_response_seconds_count)')) > before.upstreamAnswers + 5,
      'upstream latency is observed',
    );
    // Histograms as Prometheus stored them: the request latency of the manifest push, per kind and method.
    assert.ok((await prometheus.value('sum(registry_gate_request_duration_seconds_count{kind="manifest",method="PUT"})')) >= 1);
    assert.ok((await prometheus.value('sum(registry_gate_request_duration_seconds_bucket{kind="manifest",method="PUT",le="+Inf"})')) >= 1);
    assert.equal(await prometheus.value('registry_gate_uploads_in_progress'), 0, 'no upload is left counted');
    assert.ok((await prometheus.value('process_resident_memory_bytes')) > 0, 'process metrics are there');

    const text = await metricsText(gate);
    // Linted: registry-gate's own families, then the whole exposition with the process metrics.
    const own =
      text
        .split('\n')
        .filter((line) => /^(# (HELP|TYPE) )?registry_gate_/.test(line))
        .join('\n') + '\n';
    assert.match(own, /registry_gate_request_duration_seconds_bucket/);
    assert.equal(await promtoolProblems(own), '', 'promtool check metrics finds nothing to complain about');
    assert.equal(await promtoolProblems(text), '', 'nor in the process metrics beside them');
    for (const secret of [ALICE.password, BOB.password, WRONG]) assert.ok(!text.includes(secret), 'no password in the metrics');
    for (const name of ['metrics/app', ALICE.user, BOB.user])
      assert.ok(!text.includes(name), `no repository or user name (${name}) in the metrics`);
  });

  test('an upload is counted in progress while its body is being sent', async () => {
    const start = await call(gate, '/v2/metrics/slow/blobs/uploads/', { method: 'POST', authorization: basic(ALICE.user, ALICE.password) });
    assert.equal(start.status, 202, start.body);
    const location = new URL(String(start.headers.location), gate.url);
    const url = new URL(gate.url);
    const upload = httpsRequest({
      host: url.hostname,
      port: url.port,
      ca: tls.caPem,
      servername: 'localhost',
      method: 'PATCH',
      path: `${location.pathname}${location.search}`,
      headers: { authorization: basic(ALICE.user, ALICE.password), 'content-type': 'application/octet-stream' },
    });
    const response = new Promise<IncomingMessage>((resolve, reject) => upload.once('response', resolve).once('error', reject));
    upload.write(Buffer.alloc(256 * 1024, 1));
    try {
      await prometheus.nextScrape();
      assert.equal(await prometheus.value('registry_gate_uploads_in_progress'), 1, 'the PATCH in flight is counted');
    } finally {
      upload.end(Buffer.alloc(256 * 1024, 2));
    }
    const answer = await response;
    answer.resume();
    assert.equal(answer.statusCode, 202);
    await prometheus.nextScrape();
    assert.equal(await prometheus.value('registry_gate_uploads_in_progress'), 0, 'and no longer once it is done');
  });

  test('tokens issued and throttled logins are counted', async () => {
    await prometheus.nextScrape();
    const accessBefore = await prometheus.value('registry_gate_tokens_issued_total{kind="access"}');
    const refreshBefore = await prometheus.value('registry_gate_tokens_issued_total{kind="refresh"}');
    const throttledBefore = await prometheus.value('registry_gate_logins_total{outcome="throttled"}');

    const anonymous = await call(gate, '/auth/token?service=metrics-test&scope=repository:metrics/app:pull');
    assert.equal(anonymous.status, 200, anonymous.body);
    const offline = await call(gate, '/auth/token?service=metrics-test&scope=repository:metrics/app:pull&offline_token=true', {
      authorization: basic(ALICE.user, ALICE.password),
    });
    assert.equal(offline.status, 200, offline.body);
    assert.ok((JSON.parse(offline.body) as { refresh_token?: string }).refresh_token);

    // maxFailuresPerAccount: 2 — the third wrong password from this client is refused before any check.
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(gate, '/v2/', { authorization: basic('mallory', `${WRONG}${i}`) })).status);
    assert.deepEqual(statuses, [401, 401, 429]);

    await prometheus.nextScrape();
    assert.equal(await prometheus.value('registry_gate_tokens_issued_total{kind="access"}'), accessBefore + 2);
    assert.equal(await prometheus.value('registry_gate_tokens_issued_total{kind="refresh"}'), refreshBefore + 1);
    assert.equal(await prometheus.value('registry_gate_logins_total{outcome="throttled"}'), throttledBefore + 1);
    const tokenRequests = await prometheus.query('registry_gate_requests_total{kind="token",status="200"}');
    assert.ok(
      tokenRequests.length > 0 && tokenRequests.every((sample) => !('user' in sample.labels)),
      'token requests counted, by kind, method and status only',
    );
  });

  test('/readyz fails naming the upstream while it is stopped; /healthz does not; upstream errors are counted', async () => {
    await prometheus.nextScrape();
    const unreachableBefore = await prometheus.value('registry_gate_upstream_errors_total{reason="unreachable"}');
    await registry.stop();
    assertHealthAnswer(
      await until(gate, '/readyz', 503),
      503,
      { status: 'unavailable', failing: ['upstream'] },
      'GET /readyz with the upstream down',
    );
    assertHealthAnswer(await call(gate, '/healthz'), 200, { status: 'ok' }, 'GET /healthz with the upstream down');
    const pull = await call(gate, '/v2/metrics/app/manifests/v1', { authorization: basic(ALICE.user, ALICE.password) });
    assert.equal(pull.status, 503, pull.body);
    await prometheus.nextScrape();
    assert.ok((await prometheus.value('registry_gate_upstream_errors_total{reason="unreachable"}')) >= unreachableBefore + 1);
    assert.ok(
      (await prometheus.value('sum(registry_gate_requests_total{kind="health",status="503"})')) >= 1,
      'the failing readiness answers are counted',
    );
  });
});

describe('readiness of the built-in registry and of LDAP', () => {
  let dir: string;
  let slapd: RunningSlapd;

  before(async () => {
    dir = await makeTempDir('rg-ready-');
    slapd = await startSlapd();
  });

  after(async () => {
    await slapd.close();
    if (dir) await removeDir(dir);
  });

  test('/readyz fails naming the storage while it cannot be written', async () => {
    const gate = await startGate({ dir: join(dir, 'builtin'), users: { [ALICE.user]: ALICE.password } });
    try {
      assertHealthAnswer(await call(gate, '/readyz'), 200, { status: 'ok' }, 'GET /readyz');
      // The folder every write starts in goes away (tests run as root, so a mode change would not stop writes).
      const tmp = join(dir, 'builtin', 'data', 'registry', '_tmp');
      await rename(tmp, `${tmp}.gone`);
      assertHealthAnswer(
        await until(gate, '/readyz', 503),
        503,
        { status: 'unavailable', failing: ['storage'] },
        'GET /readyz without storage',
      );
      await rename(`${tmp}.gone`, tmp);
      assertHealthAnswer(await until(gate, '/readyz', 200), 200, { status: 'ok' }, 'GET /readyz with the storage back');
    } finally {
      await gate.stop();
    }
  });

  test('/readyz fails naming ldap while the directory is down', async () => {
    const gate = await startGate({
      dir: join(dir, 'ldap'),
      config: {
        auth: {
          providers: ['htpasswd', 'ldap'],
          ldap: {
            url: slapd.url,
            bindDN: slapd.serviceDN,
            bindPasswordFile: slapd.servicePasswordFile,
            userBase: slapd.peopleBase,
            tls: { ca: slapd.caFile },
            timeout: '1s',
          },
        },
      },
    });
    try {
      assertHealthAnswer(await until(gate, '/readyz', 200), 200, { status: 'ok' }, 'GET /readyz with the directory up');
      await slapd.stop();
      const down = await until(gate, '/readyz', 503);
      assertHealthAnswer(down, 503, { status: 'unavailable', failing: ['ldap'] }, 'GET /readyz with the directory down');
      assert.ok(!down.body.includes('127.0.0.1') && !down.body.includes(slapd.serviceDN), 'no address or DN in the answer');
    } finally {
      await gate.stop();
    }
  });
});
