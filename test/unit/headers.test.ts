import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isForwardingHeader, upstreamRequestHeaders, clientResponseHeaders } from '../../src/backend/upstream/forwarding-headers.js';
import { isLegacyDockerClient, clientAddress } from '../../src/gateway/headers.js';

test('the recipe user-agent rule: docker 1.3-1.5 and Go clients are legacy, 1.5.x-dev is not', () => {
  const recipe = /^(docker\/1\.(3|4|5(?!\.[0-9]-dev))|Go ).*$/;
  const agents = [
    'docker/1.3.0 go/go1.3.3',
    'docker/1.4.1',
    'docker/1.5.0 go/go1.4.2',
    'docker/1.5.0-dev',
    'docker/1.5.1-dev go/1.4',
    'docker/1.5.x-dev',
    'docker/1.5',
    'docker/1.6.0 go/go1.4.2',
    'docker/1.13.1',
    'docker/20.10.7 go/go1.13.15',
    'Go 1.1 package http',
    'Go-http-client/1.1',
    'skopeo/1.9.3',
    '',
    'docker/1.',
    'docker/1.5.0',
    'docker/1.5.0-devx',
  ];
  for (const agent of agents) assert.equal(isLegacyDockerClient(agent), recipe.test(agent), agent);
  assert.equal(isLegacyDockerClient(undefined), false);
});

test('forwarded headers from an untrusted peer are overwritten', () => {
  const headers = upstreamRequestHeaders(
    {
      host: 'reg.example:5043',
      'x-forwarded-for': '1.2.3.4',
      'x-real-ip': '1.2.3.4',
      'x-forwarded-proto': 'http',
      authorization: 'Basic eDp5',
      connection: 'keep-alive, x-secret',
      'x-secret': 'a',
      te: 'trailers',
    },
    { peer: '127.0.0.9', peerTrusted: false, scheme: 'https' },
    new Set(['authorization']),
  );
  assert.equal(headers.host, 'reg.example:5043');
  assert.equal(headers['x-forwarded-for'], '127.0.0.9');
  assert.equal(headers['x-real-ip'], '127.0.0.9');
  assert.equal(headers['x-forwarded-proto'], 'https');
  for (const gone of ['authorization', 'connection', 'x-secret', 'te']) assert.equal(headers[gone], undefined, gone);
});

test('forwarded headers from a trusted proxy are kept and X-Forwarded-For appended', () => {
  const incoming = { host: 'h', 'x-forwarded-for': '203.0.113.7', 'x-real-ip': '203.0.113.7', 'x-forwarded-proto': 'https' };
  const facts = { peer: '10.0.0.2', peerTrusted: true, scheme: 'http' };
  const headers = upstreamRequestHeaders(incoming, facts, new Set());
  assert.equal(headers['x-forwarded-for'], '203.0.113.7, 10.0.0.2');
  assert.equal(headers['x-real-ip'], '203.0.113.7');
  assert.equal(headers['x-forwarded-proto'], 'https');
  assert.equal(clientAddress(incoming, facts), '203.0.113.7');
  assert.equal(clientAddress(incoming, { ...facts, peerTrusted: false }), '10.0.0.2');
});

test('exactly one API version header reaches the client', () => {
  const out = clientResponseHeaders({
    'docker-distribution-api-version': ['registry/2.0', 'registry/2.0'],
    'transfer-encoding': 'chunked',
    location: '/v2/x',
  });
  assert.equal(out['docker-distribution-api-version'], 'registry/2.0');
  assert.equal(out['transfer-encoding'], undefined);
  assert.equal(out.location, '/v2/x');
});

test('from an untrusted peer every forwarding header is dropped, in every spelling', () => {
  const spoofed = {
    host: 'reg.example:5043',
    'x-forwarded-host': 'evil.example',
    'x-forwarded-port': '1',
    'x-forwarded-prefix': '/evil',
    x_forwarded_host: 'evil.example',
    forwarded: 'host=evil.example',
    'x-original-url': '/v2/other/',
    'x-rewrite-url': '/v2/other/',
    'true-client-ip': '203.0.113.9',
    accept: 'application/json',
  };
  const untrusted = upstreamRequestHeaders(spoofed, { peer: '127.0.0.9', peerTrusted: false, scheme: 'https' }, new Set());
  assert.deepEqual(Object.keys(untrusted).sort(), ['accept', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-real-ip']);
  const trusted = upstreamRequestHeaders(spoofed, { peer: '10.0.0.2', peerTrusted: true, scheme: 'https' }, new Set());
  for (const name of Object.keys(spoofed))
    assert.equal(trusted[name], spoofed[name as keyof typeof spoofed], `kept from a trusted proxy: ${name}`);
  for (const name of ['x-forwarded-for', 'x_real_ip', 'X-Forwarded-Proto', 'forwarded', 'x-original-host'])
    assert.equal(isForwardingHeader(name), true, name);
  for (const name of ['host', 'x-request-id', 'accept']) assert.equal(isForwardingHeader(name), false, name);
});

test('a Connection list cannot remove Host, the body framing, forwarded credentials or forwarding headers', () => {
  const incoming = {
    host: 'reg.example:5043',
    connection: 'Host, content-length, Content-Type, authorization, x-forwarded-host, forwarded, x-real-ip, x-extension',
    'content-length': '3',
    'content-type': 'application/octet-stream',
    authorization: 'Bearer abc',
    'x-forwarded-host': 'lb.example',
    forwarded: 'host=lb.example',
    'x-extension': 'hop',
  };
  // Bearer mode in front of a Distribution in token mode: authorization is not among the dropped headers.
  for (const peerTrusted of [false, true]) {
    const headers = upstreamRequestHeaders(incoming, { peer: '10.0.0.2', peerTrusted, scheme: 'https' }, new Set(['cookie']));
    assert.equal(headers.host, 'reg.example:5043');
    assert.equal(headers['content-length'], '3');
    assert.equal(headers['content-type'], 'application/octet-stream');
    assert.equal(headers.authorization, 'Bearer abc');
    assert.equal(headers['x-real-ip'], '10.0.0.2');
    assert.equal(headers['x-forwarded-for'], '10.0.0.2');
    assert.equal(headers['x-forwarded-host'], peerTrusted ? 'lb.example' : undefined);
    assert.equal(headers.forwarded, peerTrusted ? 'host=lb.example' : undefined);
    assert.equal(headers['x-extension'], undefined, 'other listed names are still hop-by-hop');
    assert.equal(headers.connection, undefined);
  }
});
