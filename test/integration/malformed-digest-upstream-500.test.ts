/**
 * A reference that looks like a digest but can name no content is refused by the gateway, never
 * forwarded to the registry behind it.
 *
 * The attack: anyone, even unauthenticated on a public repository, asks for
 * `GET /v2/public/app/manifests/sha256:zz` (or `sha256:` and upper-case hex, `sha512:abc`,
 * `md5:abc`). The gateway's grammar took any `algorithm:encoded` as a digest and passed the
 * request on; Distribution 2.8 took it for a tag and answered 500 UNKNOWN, with the path of its
 * storage folder in the error detail, which the client got as is (and the UI showed a 502). Now a
 * digest of an algorithm no registry here stores, or not in its algorithm's encoding, gets
 * 400 DIGEST_INVALID from the gateway itself, for manifests, blobs and referrers alike, on every
 * backend; the UI's manifest page of such a reference is a 404.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { BACKEND_KINDS, ociErrorCode, rawExchange, startBackend, type BackendUnderTest } from '../helpers/access-http.js';
import { RegistryClient } from '../helpers/registry-client.js';

const PASSWORDS = { alice: 'alice-digest-1' };
const RULES = [
  { repository: 'public/**', actions: ['pull'], subjects: ['*'] },
  { repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['user:alice'] },
];
const REPOSITORY = 'public/app';

/** In the OCI digest grammar, and yet no content's digest. */
const MALFORMED_DIGESTS = ['sha256:zz', `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(65)}`, 'sha512:abc', 'md5:abc', 'blake9:abcd'];

for (const kind of BACKEND_KINDS) {
  describe(`digest references no content can have (${kind})`, () => {
    let dir: string;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let pushed: { digest: string };
    const aliceClient = () => new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('alice', PASSWORDS.alice) }));

    before(async () => {
      dir = await makeTempDir();
      backend = await startBackend(kind, dir);
      gate = await startGate({ dir, users: PASSWORDS, bcryptCost: 4, config: { ...backend.gateConfig, access: RULES } });
      pushed = await aliceClient().pushImage(REPOSITORY, 'v1');
    });

    after(async () => {
      await gate.stop();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    for (const method of ['GET', 'HEAD', 'DELETE', 'PUT'] as const) {
      test(`${method} of a manifest by a malformed digest is 400 DIGEST_INVALID from the gateway`, async () => {
        for (const digest of MALFORMED_DIGESTS) {
          const reply = await rawExchange(
            gate.url,
            [
              `${method} /v2/${REPOSITORY}/manifests/${digest} HTTP/1.1`,
              `Host: ${gate.host}`,
              `Authorization: ${basic('alice', PASSWORDS.alice)}`,
            ].join('\r\n'),
          );
          assert.equal(reply.status, 400, `${method} ${digest}: ${reply.status} ${reply.body.slice(0, 200)}`);
          if (method !== 'HEAD')
            assert.equal(ociErrorCode(reply.body), 'DIGEST_INVALID', `${method} ${digest}: ${reply.body.slice(0, 200)}`);
          assert.doesNotMatch(reply.body, /docker\/registry|Path|DriverName/, `${method} ${digest}: the registry's storage shows`);
        }
      });
    }

    test('blobs and referrers by a malformed digest are 400 DIGEST_INVALID, anonymous too', async () => {
      for (const digest of MALFORMED_DIGESTS) {
        for (const path of [`/v2/${REPOSITORY}/blobs/${digest}`, `/v2/${REPOSITORY}/referrers/${digest}`]) {
          const reply = await rawExchange(gate.url, [`GET ${path} HTTP/1.1`, `Host: ${gate.host}`].join('\r\n'));
          assert.equal(reply.status, 400, `${path}: ${reply.status} ${reply.body.slice(0, 200)}`);
          assert.equal(ociErrorCode(reply.body), 'DIGEST_INVALID', `${path}: ${reply.body.slice(0, 200)}`);
        }
      }
    });

    test('a well-formed digest still reaches the registry: an unknown one is 404, the pushed one is served', async () => {
      const client = aliceClient();
      const unknown = await client.call('GET', `/v2/${REPOSITORY}/manifests/sha256:${'a'.repeat(64)}`);
      assert.equal(unknown.status, 404);
      assert.equal(ociErrorCode(unknown.text()), 'MANIFEST_UNKNOWN');
      assert.equal((await client.call('GET', `/v2/${REPOSITORY}/manifests/${pushed.digest}`)).status, 200);
      assert.equal((await client.call('GET', `/v2/${REPOSITORY}/blobs/sha256:${'b'.repeat(64)}`)).status, 404);
    });

    test('the web UI answers a manifest page of a malformed digest with 404, not an upstream failure', async () => {
      for (const digest of MALFORMED_DIGESTS) {
        const reply = await rawExchange(
          gate.url,
          [`GET /ui/r/${REPOSITORY}/-/manifest/${digest} HTTP/1.1`, `Host: ${gate.host}`].join('\r\n'),
        );
        assert.equal(reply.status, 404, `UI ${digest}: ${reply.status}`);
      }
    });
  });
}
