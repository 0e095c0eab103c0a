/**
 * Spoofed forwarding headers and `Connection: host` must not move an upload's Location.
 *
 * The attack: a registry builds absolute URLs (the `Location` of an upload session, where the
 * client sends its layer next) from what the request says about the host. Distribution reads
 * `X-Forwarded-Host`, `Forwarded` (its `host`, and even its `for`) and `X-Forwarded-Port` for that.
 * A client that is not a trusted proxy used to get all of those passed through, so it could point
 * Location at a host of its choosing (a cache or proxy in between then stores that redirect for
 * others), and `Connection: host` made the hop-by-hop rule remove `Host` itself, so Location showed
 * the registry's internal address. Now every forwarding header from an untrusted peer is dropped
 * (the gateway sets its own), and a `Connection` list never removes `Host` or a header the gateway
 * sets; a trusted proxy's forwarding headers are kept as before.
 *
 * Against Debian's Distribution 2.8 behind the gateway over TLS, and a recording upstream that
 * shows exactly which headers arrive.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startHeaderCapture, type HeaderCapture } from '../helpers/header-capture.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { rawExchange } from '../helpers/access-http.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';

const USER = { user: 'alice', password: 'alice-fwd-secret-1' };
const AUTH = basic(USER.user, USER.password);
const EVIL = 'evil.example';

/** Every spelling of "where the client came from / what it asked for" that some registry or proxy reads. */
const SPOOFED: Record<string, string> = {
  'x-forwarded-host': EVIL,
  'x-forwarded-port': '1',
  'x-forwarded-proto': 'http',
  'x-forwarded-for': '203.0.113.9',
  'x-forwarded-server': EVIL,
  'x-forwarded-prefix': '/evil',
  'x-forwarded-ssl': 'off',
  'x-forwarded-scheme': 'http',
  'x-forwarded-uri': '/v2/other/',
  forwarded: `for=203.0.113.9;host=${EVIL};proto=http`,
  'x-real-ip': '203.0.113.9',
  'x-original-url': '/v2/other/',
  'x-original-host': EVIL,
  'x-rewrite-url': '/v2/other/',
  'x-host': EVIL,
  'x-client-ip': '203.0.113.9',
  'true-client-ip': '203.0.113.9',
  'x-cluster-client-ip': '203.0.113.9',
  x_forwarded_host: EVIL,
};

describe('upload Location against Distribution', () => {
  let dir: string;
  let tls: TlsPair;
  let registry: RunningDistribution;
  let untrusting: TestGate;
  let trusting: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-location-');
    tls = await makeTlsPair(join(dir, 'tls'));
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    const users = { [USER.user]: USER.password };
    untrusting = await startGate({
      dir: join(dir, 'untrusting'),
      tls,
      users,
      bcryptCost: 4,
      config: { upstream: { url: registry.url }, trustedProxies: ['10.0.0.0/8'] },
    });
    trusting = await startGate({
      dir: join(dir, 'trusting'),
      tls,
      users,
      bcryptCost: 4,
      config: { upstream: { url: registry.url }, trustedProxies: ['127.0.0.0/8'] },
    });
  });

  after(async () => {
    await untrusting.stop();
    await trusting.stop();
    await registry.stop();
    if (dir) await removeDir(dir);
  });

  /** Starts an upload with undici and returns its Location. */
  async function uploadLocation(gate: TestGate, headers: Record<string, string>): Promise<string> {
    const response = await request(`${gate.url}/v2/team/app/blobs/uploads/`, {
      method: 'POST',
      dispatcher: gate.dispatcher,
      headers: { authorization: AUTH, 'content-length': '0', ...headers },
    });
    await response.body.dump();
    assert.equal(response.statusCode, 202);
    const location = response.headers.location;
    assert.equal(typeof location, 'string');
    return location as string;
  }

  /** Starts an upload on a raw socket, so that a `Connection` header of our choosing is sent. */
  async function rawUploadLocation(gate: TestGate, connection: string): Promise<string> {
    const head = [
      `POST /v2/team/app/blobs/uploads/ HTTP/1.1`,
      `Host: ${gate.host}`,
      `Authorization: ${AUTH}`,
      'Content-Length: 0',
      `Connection: ${connection}`,
    ].join('\r\n');
    const reply = await rawExchange(gate.url, head, { ca: tls.caPem });
    assert.equal(reply.status, 202, reply.raw.slice(0, 300));
    assert.ok(reply.headers.location, 'a Location');
    return reply.headers.location;
  }

  const expectedPrefix = (gate: TestGate) => `https://${gate.host}/v2/team/app/blobs/uploads/`;

  test('without spoofing, Location is the gateway as the client reached it', async () => {
    assert.ok((await uploadLocation(untrusting, {})).startsWith(expectedPrefix(untrusting)));
  });

  for (const [label, headers] of [
    ['X-Forwarded-Host', { 'x-forwarded-host': EVIL }],
    ['X-Forwarded-Host with X-Forwarded-Port', { 'x-forwarded-host': EVIL, 'x-forwarded-port': '4443' }],
    ['Forwarded: host=', { forwarded: `host=${EVIL};proto=http` }],
    ['Forwarded: for= (Distribution takes it for the host)', { forwarded: `for=${EVIL}` }],
    ['every forwarding header at once', SPOOFED],
  ] as const) {
    test(`an untrusted client cannot move Location with ${label}`, async () => {
      const location = await uploadLocation(untrusting, headers);
      assert.ok(location.startsWith(expectedPrefix(untrusting)), `Location ${location}`);
      assert.doesNotMatch(location, /evil/);
    });
  }

  for (const connection of ['host', 'Host, close', 'close, host, x-forwarded-proto, x-forwarded-for, x-real-ip']) {
    test(`Connection: ${connection} does not remove Host: Location is not the registry's own address`, async () => {
      for (const gate of [untrusting, trusting]) {
        const location = await rawUploadLocation(gate, connection);
        assert.ok(location.startsWith(expectedPrefix(gate)), `Location ${location}`);
        assert.ok(!location.includes(registry.host), `Location ${location} shows the registry behind the gateway`);
      }
    });
  }

  test("a trusted proxy's X-Forwarded-Host is kept, as before", async () => {
    const location = await uploadLocation(trusting, { 'x-forwarded-host': 'registry.example:5043', 'x-forwarded-proto': 'https' });
    assert.ok(location.startsWith('https://registry.example:5043/v2/team/app/blobs/uploads/'), `Location ${location}`);
  });
});

describe('forwarding headers that reach the upstream', () => {
  let dir: string;
  let capture: HeaderCapture;
  let untrusting: TestGate;
  let trusting: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-fwd-drop-');
    capture = await startHeaderCapture();
    const users = { [USER.user]: USER.password };
    untrusting = await startGate({
      dir: join(dir, 'untrusting'),
      users,
      bcryptCost: 4,
      config: { upstream: { url: capture.url }, trustedProxies: ['10.0.0.0/8'] },
    });
    trusting = await startGate({
      dir: join(dir, 'trusting'),
      users,
      bcryptCost: 4,
      config: { upstream: { url: capture.url }, trustedProxies: ['127.0.0.0/8'] },
    });
  });

  after(async () => {
    await untrusting.stop();
    await trusting.stop();
    await capture.stop();
    if (dir) await removeDir(dir);
  });

  test('from an untrusted peer, every forwarding header is dropped and only the gateway’s own are set', async () => {
    capture.clear();
    const response = await request(`${untrusting.url}/v2/team/app/manifests/latest`, {
      dispatcher: untrusting.dispatcher,
      headers: { authorization: AUTH, ...SPOOFED },
    });
    await response.body.dump();
    const seen = capture.requests.at(-1);
    assert.ok(seen, 'the request reached the upstream');
    const own = { 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '127.0.0.1', 'x-forwarded-proto': 'http' };
    for (const name of Object.keys(SPOOFED)) assert.equal(seen.headers[name], own[name as keyof typeof own], name);
    assert.equal(seen.headers.host, untrusting.host);
    const arrived = seen.rawHeaders.map(([name]) => name.toLowerCase());
    assert.deepEqual(
      arrived.filter((name) => name in SPOOFED).sort(),
      Object.keys(own).sort(),
      'no other forwarding header, under any spelling',
    );
  });

  test('Connection cannot remove Host or the forwarding headers the gateway sets', async () => {
    for (const gate of [untrusting, trusting]) {
      capture.clear();
      const head = [
        `GET /v2/team/app/manifests/latest HTTP/1.1`,
        `Host: ${gate.host}`,
        `Authorization: ${AUTH}`,
        'Connection: host, x-forwarded-for, x-real-ip, x-forwarded-proto, content-length, x-extension',
        'X-Extension: hop',
      ].join('\r\n');
      const reply = await rawExchange(gate.url, head);
      assert.equal(reply.status, 404, reply.raw.slice(0, 300));
      const seen = capture.requests.at(-1);
      assert.ok(seen, 'the request reached the upstream');
      assert.equal(seen.headers.host, gate.host);
      assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(seen.headers['x-real-ip'], '127.0.0.1');
      assert.equal(seen.headers['x-forwarded-proto'], 'http');
      assert.equal(
        seen.headers['x-extension'],
        undefined,
        'a header the client listed in Connection (and the gateway does not own) is still hop-by-hop',
      );
    }
  });

  test('from a trusted proxy, its forwarding headers are kept', async () => {
    capture.clear();
    const response = await request(`${trusting.url}/v2/team/app/manifests/latest`, {
      dispatcher: trusting.dispatcher,
      headers: {
        authorization: AUTH,
        'x-forwarded-host': 'registry.example',
        forwarded: 'for=203.0.113.9;host=registry.example;proto=https',
        'x-forwarded-port': '443',
      },
    });
    await response.body.dump();
    const seen = capture.requests.at(-1);
    assert.ok(seen);
    assert.equal(seen.headers['x-forwarded-host'], 'registry.example');
    assert.equal(seen.headers.forwarded, 'for=203.0.113.9;host=registry.example;proto=https');
    assert.equal(seen.headers['x-forwarded-port'], '443');
  });
});
