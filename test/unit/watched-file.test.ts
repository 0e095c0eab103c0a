/**
 * The one watched-file mechanism (src/lib/watched-file.ts) as the stores that were moved onto it
 * use it: the TLS pair (a certificate with its key as a companion file), the robot store (a missing
 * file is an empty store) and the signing keys (asynchronous parsing, re-read only when asked).
 * What must hold for each: a bad file keeps the last good copy and says so, once; a good one
 * replaces it and tells the listeners.
 */
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { WatchedFile } from '../../src/lib/watched-file.js';
import { makeTempDir, removeDir } from '../helpers/process.js';

function capturingLogger(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines: () => lines };
}

/** A pair is good when both halves name the same generation, like a certificate and its key. */
function parsePair(first: Buffer, companions: readonly Buffer[]): string {
  const [second] = companions;
  if (first.toString() !== second?.toString()) throw new Error(`mismatched pair: ${first.toString()} / ${String(second)}`);
  return first.toString();
}

describe('WatchedFile', () => {
  let dir: string;
  before(async () => {
    dir = await makeTempDir('watched-file-');
  });
  after(() => removeDir(dir));

  test('a file and its companion: a mismatch keeps the last good pair, logged once at the asked level', async () => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    await writeFile(cert, 'one');
    await writeFile(key, 'one');
    const { logger, lines } = capturingLogger();
    const pair = await WatchedFile.open({
      file: cert,
      companions: [key],
      what: 'TLS certificate',
      logger,
      lastGoodName: 'the previous certificate',
      failureLevel: 'error',
      poll: false,
      watch: false,
      parse: (content, { companions }) => parsePair(content, companions),
    });
    let changes = 0;
    pair.onChange(() => (changes += 1));
    try {
      await writeFile(key, 'two');
      await pair.reload(true);
      await pair.reload(true);
      assert.equal(pair.current, 'one');
      const failures = lines().filter((line) => line.msg === 'TLS certificate reload failed; keeping the previous certificate');
      assert.equal(failures.length, 1, 'one line per distinct failure');
      assert.equal(failures[0]?.level, 50, 'error level');
      assert.equal(changes, 0);
      await writeFile(cert, 'two');
      await pair.reload(true);
      assert.equal(pair.current, 'two');
      assert.equal(changes, 1);
      await pair.reload(true);
      assert.equal(changes, 1, 'the same bytes again are no change');
    } finally {
      await pair.close();
    }
  });

  test('a change of the companion alone is noticed by the watcher', async () => {
    const cert = join(dir, 'watched-cert.pem');
    const key = join(dir, 'watched-key.pem');
    await writeFile(cert, 'two');
    await writeFile(key, 'one');
    await assert.rejects(
      WatchedFile.open({ file: cert, companions: [key], what: 'TLS certificate', parse: (c, { companions }) => parsePair(c, companions) }),
      { code: 'RG_ERR_FILE_LOAD_FAILED', message: /TLS certificate .*watched-cert\.pem: mismatched pair/ },
    );
    await writeFile(key, 'two');
    const pair = await WatchedFile.open({
      file: cert,
      companions: [key],
      what: 'TLS certificate',
      pollIntervalMs: 100,
      parse: (c, { companions }) => parsePair(c, companions),
    });
    try {
      await writeFile(key, 'three');
      await writeFile(cert, 'three');
      for (let i = 0; i < 100 && pair.current !== 'three'; i++) await sleep(20);
      assert.equal(pair.current, 'three');
    } finally {
      await pair.close();
    }
  });

  test('whenMissing: a missing file is a value of its own, at start and later, and the file coming back replaces it', async () => {
    const file = join(dir, 'robots.json');
    const store = await WatchedFile.open<string[]>({
      file,
      what: 'robot store',
      poll: false,
      watch: false,
      parse: async (content) => {
        await sleep(1);
        return JSON.parse(content.toString()) as string[];
      },
      whenMissing: () => [],
    });
    try {
      assert.deepEqual(store.current, []);
      await writeFile(file, '["robot$ci"]');
      await store.reload(true);
      assert.deepEqual(store.current, ['robot$ci']);
      await writeFile(file, 'not json');
      await store.reload(true);
      assert.deepEqual(store.current, ['robot$ci'], 'unparsable content keeps the last good copy');
      await rm(file);
      await store.reload(true);
      assert.deepEqual(store.current, [], 'a removed store is an empty one, not the last copy');
    } finally {
      await store.close();
    }
  });

  test('without whenMissing a missing file fails the start and keeps the last good copy later', async () => {
    const file = join(dir, 'token-keys.json');
    await assert.rejects(WatchedFile.open({ file, what: 'token key', parse: (content) => content.toString() }), {
      code: 'RG_ERR_FILE_LOAD_FAILED',
      message: /token key/,
    });
    await writeFile(file, 'k1');
    const { logger, lines } = capturingLogger();
    const keys = await WatchedFile.open({
      file,
      what: 'token key',
      logger,
      lastGoodName: 'the last good keys',
      poll: false,
      watch: false,
      parse: (content) => content.toString(),
    });
    try {
      await rm(file);
      await keys.reload(true);
      assert.equal(keys.current, 'k1');
      assert.ok(lines().some((line) => line.msg === 'token key cannot be read; keeping the last good keys'));
      await writeFile(file, 'k2');
      await keys.reload(true);
      assert.equal(keys.current, 'k2');
      assert.ok(lines().some((line) => line.msg === 'token key readable again'));
    } finally {
      await keys.close();
    }
  });
});
