import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authorizationScheme, MAX_AUTHORIZATION_HEADER_LENGTH, parseBasicAuthorization } from '../../src/auth/authorization-header.js';

const basic = (text: string): string => 'Basic ' + Buffer.from(text, 'utf8').toString('base64');

describe('parseBasicAuthorization', () => {
  it('decodes user and password, splitting at the first colon', () => {
    assert.deepEqual(parseBasicAuthorization(basic('alice:pa:ss word')), { user: 'alice', password: 'pa:ss word' });
    assert.deepEqual(parseBasicAuthorization(basic('ünïcode:✓')), { user: 'ünïcode', password: '✓' });
    assert.deepEqual(parseBasicAuthorization(basic('alice:')), { user: 'alice', password: '' });
  });

  it('accepts the scheme in any case and extra spaces around', () => {
    const token = Buffer.from('alice:secret').toString('base64');
    for (const header of [`basic ${token}`, `BASIC ${token}`, `bAsIc   ${token}`, ` Basic ${token} `]) {
      assert.deepEqual(parseBasicAuthorization(header), { user: 'alice', password: 'secret' }, header);
    }
  });

  it('reports a missing header as absent', () => {
    assert.equal(parseBasicAuthorization(undefined), 'absent');
  });

  it('refuses everything else as malformed, without throwing', () => {
    const malformed = [
      '',
      'Basic',
      'Basic ',
      'Basic !!!notbase64',
      'Basic YWxpY2U6c2VjcmV0=', // bad padding
      'Basic YWxpY2U6c2VjcmV', // not a multiple of 4
      'Basic YWxpY2U6c2VjcmV0 extra',
      'Basic YWxp Y2U6c2VjcmV0',
      'Basic YWxpY2U6c2VjcmV0\u0000',
      'Basic ' + Buffer.from('no colon').toString('base64'),
      'Basic ' + Buffer.from(':password').toString('base64'), // empty user
      'Basic ' + Buffer.from('ali\nce:pw').toString('base64'),
      'Basic ' + Buffer.from('ali\u0000ce:pw').toString('base64'),
      'Basic ' + Buffer.from('ali\u0085ce:pw').toString('base64'),
      'Basic ' + Buffer.from([0x61, 0xff, 0x3a, 0x62]).toString('base64'), // not UTF-8
      'Bearer abc.def.ghi',
      'Digest username="alice"',
      'Basic,abc',
      basic('alice:' + 'x'.repeat(MAX_AUTHORIZATION_HEADER_LENGTH)),
    ];
    for (const header of malformed) {
      assert.equal(parseBasicAuthorization(header), 'malformed', JSON.stringify(header.slice(0, 60)));
    }
  });

  it('accepts a header at the size limit and refuses a longer one', () => {
    // 'Basic ' + 8184 base64 characters (6138 bytes) = 8190 characters; 3 bytes more = 8194.
    const fits = basic('a:' + 'x'.repeat(6136));
    const tooLong = basic('a:' + 'x'.repeat(6139));
    assert.ok(fits.length <= MAX_AUTHORIZATION_HEADER_LENGTH && tooLong.length > MAX_AUTHORIZATION_HEADER_LENGTH);
    assert.deepEqual(parseBasicAuthorization(fits), { user: 'a', password: 'x'.repeat(6136) });
    assert.equal(parseBasicAuthorization(tooLong), 'malformed');
    assert.equal(authorizationScheme(tooLong), undefined);
  });
});

describe('authorizationScheme', () => {
  it('returns the scheme in lower case, or undefined', () => {
    assert.equal(authorizationScheme('Basic abc='), 'basic');
    assert.equal(authorizationScheme('BEARER token'), 'bearer');
    assert.equal(authorizationScheme('Negotiate'), 'negotiate');
    assert.equal(authorizationScheme(undefined), undefined);
    assert.equal(authorizationScheme(''), undefined);
    assert.equal(authorizationScheme('(bad) x'), undefined);
  });
});
