/**
 * The listener's connection caps (src/server/connection-caps.ts): what counts as one client, what a
 * trusted proxy counts toward, and that a closed connection gives its place back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionCaps, type Admission } from '../../src/server/connection-caps.js';
import { compileAddressMatcher } from '../../src/lib/ip.js';

function caps(maxConnections: number, maxConnectionsPerClient: number, proxies: string[] = []): ConnectionCaps {
  return new ConnectionCaps({ maxConnections, maxConnectionsPerClient, sharedPeer: compileAddressMatcher(proxies) });
}

function admitted(result: Admission | string): Admission {
  if (typeof result === 'string') assert.fail(`refused: over the ${result} cap`);
  return result;
}

test('an IPv4 client and its IPv4-mapped IPv6 spelling are one client', () => {
  const counter = caps(100, 2);
  admitted(counter.admit('192.0.2.7'));
  admitted(counter.admit('::ffff:192.0.2.7'));
  assert.equal(counter.admit('::FFFF:c000:207'), 'per_client');
  admitted(counter.admit('192.0.2.8'));
});

test('an IPv6 client is its /64', () => {
  const counter = caps(100, 1);
  admitted(counter.admit('2001:db8:1:2::1'));
  assert.equal(counter.admit('2001:db8:1:2:ffff::9'), 'per_client');
  admitted(counter.admit('2001:db8:1:3::1'));
});

test('a closed connection gives its place back, once', () => {
  const counter = caps(2, 1);
  const first = admitted(counter.admit('198.51.100.1'));
  assert.equal(counter.admit('198.51.100.1'), 'per_client');
  first.release();
  first.release();
  assert.equal(counter.open, 0);
  admitted(counter.admit('198.51.100.1'));
  admitted(counter.admit('198.51.100.2'));
  assert.equal(counter.admit('198.51.100.3'), 'total');
});

test('a trusted proxy is not capped per client, but counts toward the total', () => {
  const counter = caps(3, 1, ['10.0.0.0/8']);
  admitted(counter.admit('10.1.2.3'));
  admitted(counter.admit('::ffff:10.1.2.3'));
  admitted(counter.admit('10.1.2.3'));
  assert.equal(counter.admit('203.0.113.5'), 'total');
});
