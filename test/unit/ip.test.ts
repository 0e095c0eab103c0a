/**
 * The one IP normaliser (src/lib/ip.ts): an IPv4 peer reported as IPv4-mapped IPv6 is the same
 * IPv4 address to the trusted-proxy check, to the client address and to the login throttle. Were
 * they to disagree, one spelling of an address could escape a throttle counter or be trusted as a
 * proxy under one name and not the other.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normalizeAddress } from '../../src/auth/throttle/index.js';
import { clientNetwork, compileAddressMatcher, normalizeIp, parseCidr } from '../../src/lib/ip.js';

const MAPPED_SPELLINGS = ['::ffff:192.0.2.1', '::FFFF:192.0.2.1', '::ffff:c000:201', '0:0:0:0:0:ffff:c000:0201', '::ffff:C000:201'];

describe('IPv4-mapped IPv6 is IPv4 everywhere', () => {
  test('normalizeIp, the throttle key and the proxy matcher agree on every spelling', () => {
    const trusted = compileAddressMatcher(['192.0.2.0/24']);
    for (const spelling of MAPPED_SPELLINGS) {
      assert.equal(normalizeIp(spelling), '192.0.2.1', spelling);
      assert.equal(clientNetwork(spelling), '192.0.2.1', spelling);
      assert.equal(normalizeAddress(spelling), '192.0.2.1', spelling);
      assert.equal(trusted(spelling), true, spelling);
    }
    assert.equal(trusted('::ffff:198.51.100.1'), false);
    assert.equal(trusted('192.0.3.1'), false);
  });

  test('addresses that only look mapped stay IPv6', () => {
    for (const address of ['::ffff:0:c000:201', '1::ffff:c000:201', '::fffe:c000:201', '::c000:201']) {
      assert.equal(normalizeIp(address), address);
      assert.match(clientNetwork(address, 128), /\/128$/);
    }
  });

  test('non-addresses are left as given by normalizeIp and lower-cased in a throttle key', () => {
    assert.equal(normalizeIp(''), '');
    assert.equal(normalizeIp('unix-socket'), 'unix-socket');
    assert.equal(clientNetwork(' Not-An-IP '), 'not-an-ip');
    assert.equal(compileAddressMatcher(['0.0.0.0/0'])('not-an-ip'), false);
  });
});

describe('IPv6 networks and CIDRs', () => {
  test('IPv6 is reduced to its prefix; brackets and zones are dropped', () => {
    assert.equal(clientNetwork('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2:0:0:0:0/64');
    assert.equal(clientNetwork('[2001:DB8::1]'), '2001:db8:0:0:0:0:0:0/64');
    assert.equal(clientNetwork('fe80::1%eth0', 128), 'fe80:0:0:0:0:0:0:1/128');
    assert.equal(clientNetwork('2001:db8:abcd:12ff::', 56), '2001:db8:abcd:1200:0:0:0:0/56');
    assert.equal(clientNetwork('::ffff:1.2.3.4:5'), '::ffff:1.2.3.4:5');
  });

  test('parseCidr takes addresses and prefixes in range, nothing else', () => {
    assert.deepEqual(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    assert.deepEqual(parseCidr('2001:db8::/32'), { address: '2001:db8::', prefix: 32, family: 'ipv6' });
    assert.deepEqual(parseCidr('::1'), { address: '::1', prefix: 128, family: 'ipv6' });
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/8/8', '10.0.0/8', 'localhost', '10.0.0.0/+8']) {
      assert.equal(parseCidr(bad), undefined, bad);
    }
  });
});
