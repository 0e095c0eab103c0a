/**
 * The catalogue of internal failures (src/lib/internal-errors.ts): every code is a stable
 * `RG_ERR_*` name, the error classes other modules throw and match carry theirs, and a log line
 * that carries such an error names its code, so that logs and tests match on the code, not on a
 * message an operator reads.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { ReconnectRefused } from '../../src/auth/ldap/_connection.js';
import { CounterStoreUnavailable } from '../../src/auth/throttle/counters.js';
import { InvalidTokenError } from '../../src/auth/token/types.js';
import { ConfigError } from '../../src/config/load.js';
import { INTERNAL_ERRORS, InternalError, internalErrorCode, isInternalError } from '../../src/lib/internal-errors.js';
import { streamLogger } from '../../src/log.js';
import { RegistryError } from '../../src/oci/errors.js';
import { RedisUnavailableError } from '../../src/redis/connection.js';
import { WorkerStartFailure } from '../../src/server/cluster.js';

describe('internal error codes', () => {
  test('every code is RG_ERR_ and upper case, with a default message', () => {
    for (const [code, message] of Object.entries(INTERNAL_ERRORS)) {
      assert.match(code, /^RG_ERR_[A-Z0-9_]+$/);
      assert.ok(message.length > 0, code);
    }
    const error = new InternalError('RG_ERR_CLOSED');
    assert.equal(error.message, INTERNAL_ERRORS.RG_ERR_CLOSED);
    assert.equal(error.name, 'InternalError');
  });

  test('the classes other modules throw carry their code, and keep their names', () => {
    const cases: Array<[InternalError, string, string]> = [
      [new ConfigError('x: bad'), 'RG_ERR_CONFIG_INVALID', 'ConfigError'],
      [new ConfigError('x: cannot read', 'RG_ERR_CONFIG_UNREADABLE'), 'RG_ERR_CONFIG_UNREADABLE', 'ConfigError'],
      [new RedisUnavailableError('ECONNREFUSED'), 'RG_ERR_REDIS_UNAVAILABLE', 'RedisUnavailableError'],
      [new CounterStoreUnavailable('contention'), 'RG_ERR_SHARED_STORE_UNAVAILABLE', 'CounterStoreUnavailable'],
      [new ReconnectRefused(), 'RG_ERR_DIRECTORY_UNAVAILABLE', 'ReconnectRefused'],
      [new InvalidTokenError('unknown kid'), 'RG_ERR_TOKEN_INVALID', 'InvalidTokenError'],
      [new WorkerStartFailure('worker 7 exited'), 'RG_ERR_WORKER_START_FAILED', 'WorkerStartFailure'],
    ];
    for (const [error, code, name] of cases) {
      assert.ok(isInternalError(error, code as keyof typeof INTERNAL_ERRORS), `${name} is ${code}`);
      assert.equal(internalErrorCode(error), code);
      assert.equal(error.name, name);
    }
  });

  test('a wire error or a plain Error has no internal code', () => {
    assert.equal(internalErrorCode(new RegistryError('DENIED')), undefined);
    assert.equal(internalErrorCode(new Error('x')), undefined);
    assert.equal(isInternalError(new RedisUnavailableError('x'), 'RG_ERR_CLOSED'), false);
  });

  test('a log line that carries the error names its code', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    streamLogger('app', 'info', destination).error({ err: new RedisUnavailableError('ETIMEDOUT') }, 'the lock could not be taken');
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0] as string) as { err: { type: string; code: string; message: string } };
    assert.deepEqual(
      { type: line.err.type, code: line.err.code, message: line.err.message },
      { type: 'RedisUnavailableError', code: 'RG_ERR_REDIS_UNAVAILABLE', message: 'Redis is unavailable (ETIMEDOUT)' },
    );
  });
});
