import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLegacyDockerClient, upstreamRequestHeaders, clientResponseHeaders, clientAddress } from '../../src/gateway/headers.js';

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
    { host: 'reg.example:5043', 'x-forwarded-for': '1.2.3.4', 'x-real-ip': '1.2.3.4', 'x-forwarded-proto': 'http', authorization: 'Basic eDp5', connection: 'keep-alive, x-secret', 'x-secret': 'a', te: 'trailers' },
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
  const out = clientResponseHeaders({ 'docker-distribution-api-version': ['registry/2.0', 'registry/2.0'], 'transfer-encoding': 'chunked', location: '/v2/x' });
  assert.equal(out['docker-distribution-api-version'], 'registry/2.0');
  assert.equal(out['transfer-encoding'], undefined);
  assert.equal(out.location, '/v2/x');
});
