/**
 * Every failure a client sees comes from the one catalogue (src/oci/errors.ts), written by the one
 * responder: the status and the OCI error `code` of each case are what clients have always seen,
 * whoever answers (the listener before any handler, the paging parser of tags and catalog, the
 * token endpoint, a capped read).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ERROR_CATALOGUE, errorBody, RegistryError, type ErrorCode } from '../../src/oci/errors.js';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeTlsPair } from '../helpers/tls.js';
import { ociErrorCode, rawExchange } from '../helpers/access-http.js';
import { RegistryClient } from '../helpers/registry-client.js';

/**
 * What a client reads for every entry, written out by hand: the HTTP status and the `code` of the
 * OCI error JSON. A changed status or code, an entry added or removed, fails here until this table
 * (and what clients are told) changes with it.
 */
const ON_THE_WIRE: Record<ErrorCode, readonly [number, string]> = {
  BLOB_UNKNOWN: [404, 'BLOB_UNKNOWN'],
  BLOB_UPLOAD_INVALID: [400, 'BLOB_UPLOAD_INVALID'],
  BLOB_UPLOAD_RANGE_INVALID: [416, 'BLOB_UPLOAD_INVALID'],
  BLOB_UPLOAD_UNKNOWN: [404, 'BLOB_UPLOAD_UNKNOWN'],
  BLOB_TOO_LARGE: [413, 'SIZE_INVALID'],
  DIGEST_INVALID: [400, 'DIGEST_INVALID'],
  MANIFEST_BLOB_UNKNOWN: [404, 'MANIFEST_BLOB_UNKNOWN'],
  MANIFEST_INVALID: [400, 'MANIFEST_INVALID'],
  MANIFEST_TOO_LARGE: [413, 'MANIFEST_INVALID'],
  MANIFEST_UNKNOWN: [404, 'MANIFEST_UNKNOWN'],
  NAME_INVALID: [400, 'NAME_INVALID'],
  NAME_UNKNOWN: [404, 'NAME_UNKNOWN'],
  PAGINATION_NUMBER_INVALID: [400, 'UNSUPPORTED'],
  PAGINATION_CURSOR_INVALID: [400, 'UNSUPPORTED'],
  SIZE_INVALID: [400, 'SIZE_INVALID'],
  UNAUTHORIZED: [401, 'UNAUTHORIZED'],
  DENIED: [403, 'DENIED'],
  UNSUPPORTED: [405, 'UNSUPPORTED'],
  REQUEST_INVALID: [400, 'UNSUPPORTED'],
  UNSUPPORTED_MEDIA_TYPE: [415, 'UNSUPPORTED'],
  TOO_LARGE: [413, 'UNSUPPORTED'],
  TOOMANYREQUESTS: [429, 'TOOMANYREQUESTS'],
  RANGE_INVALID: [416, 'RANGE_INVALID'],
  NOT_FOUND: [404, 'NOT_FOUND'],
  UNAVAILABLE: [503, 'UNAVAILABLE'],
  UPSTREAM_ERROR: [502, 'UPSTREAM_ERROR'],
  UPSTREAM_TIMEOUT: [504, 'UPSTREAM_ERROR'],
  TOO_MANY_CONNECTIONS: [503, 'TOOMANYREQUESTS'],
  REQUEST_TIMEOUT: [408, 'REQUEST_TIMEOUT'],
  INTERNAL_ERROR: [500, 'INTERNAL_ERROR'],
};

describe('the error catalogue', () => {
  test('each entry answers with the status and code written out above, and no entry is missing from the table', () => {
    assert.deepEqual(Object.keys(ERROR_CATALOGUE).sort(), Object.keys(ON_THE_WIRE).sort());
    for (const [code, [status, wire]] of Object.entries(ON_THE_WIRE) as Array<[ErrorCode, readonly [number, string]]>) {
      const error = new RegistryError(code, 'a message');
      assert.equal(error.status, status, code);
      assert.deepEqual(JSON.parse(errorBody(error)), { errors: [{ code: wire, message: 'a message' }] }, code);
    }
  });
});

describe('errors over the wire', () => {
  let dir: string;
  let gate: TestGate | undefined;
  let ca: string;

  before(async () => {
    dir = await makeTempDir();
    const tls = await makeTlsPair(join(dir, 'tls'));
    ca = tls.caPem;
    gate = await startGate({
      dir,
      tls,
      users: { alice: 'alice-pw' },
      config: { access: [{ repository: '**', actions: ['pull', 'push'], subjects: ['authenticated'] }] },
    });
  });

  after(async () => {
    await gate?.stop();
    if (dir) await removeDir(dir);
  });

  test('a request Node cannot parse: 400 OCI error JSON from the listener, with the API version header', async () => {
    const reply = await rawExchange(gate!.url, `GET /v2/ HTTP/1.1\r\nHost: ${gate!.host}\r\nBad Header Without Colon`, { ca });
    assert.equal(reply.status, 400);
    assert.equal(reply.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(reply.headers['docker-distribution-api-version'], 'registry/2.0');
    assert.deepEqual(JSON.parse(reply.body), { errors: [{ code: 'UNSUPPORTED', message: 'malformed HTTP request' }] });
  });

  test('a malformed n: 400 UNSUPPORTED from the one paging parser, for tags and catalog alike', async () => {
    const client = new RegistryClient(() => ({ baseUrl: gate!.url, dispatcher: gate!.dispatcher, authHeader: basic('alice', 'alice-pw') }));
    await client.pushImage('team/app', 'v1');
    for (const path of ['/v2/team/app/tags/list', '/v2/_catalog']) {
      for (const n of ['-1', 'ten', '1e3', '1234567890']) {
        const reply = await client.call('GET', `${path}?n=${n}`);
        assert.equal(reply.status, 400, `${path}?n=${n}`);
        assert.equal(ociErrorCode(reply.text()), 'UNSUPPORTED', `${path}?n=${n}`);
      }
      assert.equal((await client.call('GET', `${path}?n=1`)).status, 200, path);
    }
  });
});
