/**
 * sendFileRange, the built-in registry's blob body writer, on a real HTTP server: ranges that
 * start, end and span anywhere across its reused buffers come out byte for byte, buffers reused by
 * the next response carry no bytes of the previous one, and a client that goes away mid-body makes
 * it stop and reject instead of reading the rest of the file.
 */
import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SEND_CHUNK_BYTES, sendFileRange } from '../../src/backend/filesystem/send-file.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { randomBlob } from '../helpers/registry-client.js';

describe('sendFileRange', () => {
  let dir: string;
  let server: Server;
  let base: string;
  const data = randomBlob(3 * SEND_CHUNK_BYTES + 12_345);
  const BIG = 64 * 1024 * 1024;
  const outcomes: Array<Promise<void>> = [];

  before(async () => {
    dir = await makeTempDir('registry-gate-send-file-');
    await writeFile(join(dir, 'blob'), data);
    // Far more than loopback socket buffers hold, so a client that goes away leaves most of it unsent.
    await writeFile(join(dir, 'big'), Buffer.alloc(BIG));
    server = createServer((req, res) => {
      const [name, start, end] = (req.url ?? '/blob/0/0').slice(1).split('/') as [string, string, string];
      const sent = (async () => {
        const handle = await open(join(dir, name), 'r');
        try {
          res.setHeader('Content-Length', Number(end) - Number(start) + 1);
          await sendFileRange(handle, res, Number(start), Number(end));
        } finally {
          await handle.close();
        }
      })();
      outcomes.push(sent);
      sent.catch(() => res.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await removeDir(dir);
  });

  function get(start: number, end: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      request(`${base}/blob/${start}/${end}`, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
  }

  test('whole files and ranges across buffer boundaries arrive byte for byte', async () => {
    const ranges: Array<[number, number]> = [
      [0, data.length - 1],
      [0, 0],
      [SEND_CHUNK_BYTES - 1, SEND_CHUNK_BYTES],
      [10, 2 * SEND_CHUNK_BYTES + 17],
      [data.length - 5, data.length - 1],
      [SEND_CHUNK_BYTES, 2 * SEND_CHUNK_BYTES - 1],
    ];
    // Several at once and one after another, so buffers come back to the pool and go out again.
    for (let round = 0; round < 2; round++) {
      const bodies = await Promise.all(ranges.map(([start, end]) => get(start, end)));
      bodies.forEach((body, i) => {
        const [start, end] = ranges[i]!;
        assert.ok(body.equals(data.subarray(start, end + 1)), `bytes ${start}-${end}, round ${round}`);
      });
    }
  });

  test('a client that goes away mid-body stops the sending, which rejects', async () => {
    outcomes.length = 0;
    await new Promise<void>((resolve, reject) => {
      const req = request(`${base}/big/0/${BIG - 1}`, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.on('close', resolve);
      req.end();
      setTimeout(() => reject(new Error('no response')), 10_000).unref();
    });
    assert.equal(outcomes.length, 1);
    await assert.rejects(outcomes[0]!, { code: 'RG_ERR_RESPONSE_CLOSED' });
  });
});
