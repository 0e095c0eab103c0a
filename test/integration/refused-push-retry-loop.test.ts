/**
 * A refused push is final for the docker CLI: the 403 carries a detail.
 *
 * The failure: the gateway's policy refusal was `{"errors":[{"code":"DENIED","message":"requested
 * access to the resource is denied"}]}`, the code's default message and no detail. The docker
 * daemon (distribution's errcode) decodes such an entry as a bare error code, and its push loop
 * stops retrying only on an error *value* (DENIED, UNAUTHORIZED, …), so `docker push` to a
 * repository the user may not write retried five times and failed after 50 seconds. Now the refusal
 * carries a detail, the action refused (`{"action":"push"}`; not the repository, so that answers
 * about existing and missing repositories stay identical), which docker decodes as an error value
 * and takes as final (test/integration/docker-cli.test.ts shows it with docker itself).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeTlsPair } from '../helpers/tls.js';

let dir: string;
let gate: TestGate;

before(async () => {
  dir = await makeTempDir();
  const tls = await makeTlsPair(join(dir, 'tls'));
  gate = await startGate({
    dir,
    tls,
    users: { alice: 'alice-pw-1', nobody: 'nobody-pw-2' },
    config: { access: [{ repository: 'alice/**', actions: ['pull', 'push'], subjects: ['user:alice'] }] },
  });
});

after(async () => {
  await gate.stop();
  if (dir) await removeDir(dir);
});

async function refusal(
  method: string,
  path: string,
  user = 'alice',
  password = 'alice-pw-1',
): Promise<{ status: number; errors: Array<{ code: string; message: string; detail?: unknown }> }> {
  const response = await request(`${gate.url}${path}`, {
    method,
    dispatcher: gate.dispatcher,
    headers: { authorization: basic(user, password) },
  });
  return {
    status: response.statusCode,
    ...((await response.body.json()) as { errors: Array<{ code: string; message: string; detail?: unknown }> }),
  };
}

test('a refused upload start names the action refused', async () => {
  const { status, errors } = await refusal('POST', '/v2/team-b/app/blobs/uploads/');
  assert.equal(status, 403);
  assert.equal(errors[0]?.code, 'DENIED');
  assert.deepEqual(errors[0].detail, { action: 'push' });
});

test('so does a refused pull, and a refused catalog', async () => {
  const pull = await refusal('GET', '/v2/team-b/app/manifests/latest');
  assert.equal(pull.status, 403);
  assert.deepEqual(pull.errors[0]?.detail, { action: 'pull' });
  // A user who may pull nothing may not list the catalog.
  const catalog = await refusal('GET', '/v2/_catalog', 'nobody', 'nobody-pw-2');
  assert.equal(catalog.status, 403);
  assert.deepEqual(catalog.errors[0]?.detail, { action: 'catalog' });
});
