/**
 * Example 2 of the access rules, exactly as written there (the YAML is read from docs/access.md),
 * with the clients people use: the docker CLI (Debian's docker.io, a private dockerd) and skopeo
 * over verified TLS, in Basic and bearer mode, in front of the built-in registry and of a
 * Distribution without auth.
 *
 * - anonymous: `skopeo copy` and `docker pull` of a public base image without credentials (docker
 *   only in bearer mode; in Basic mode docker refuses to answer a Basic challenge without
 *   credentials, which is asserted here so that a change is noticed, and documented in
 *   docs/access.md);
 * - `docker login` + `docker push` to the team's repository, and `docker pull` of it back;
 * - refused: a push to another team's repository (at once: it used to be retried for 50 s), an
 *   anonymous read of a private repository, moving a protected tag (which a release manager may).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { startGate, type TestGate } from '../helpers/gate.js';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage, readOciLayoutDigests, type OciImage } from '../helpers/oci-image.js';
import { dockerRef, skopeoCopy, skopeoInspect, type RegistryAccess } from '../helpers/skopeo.js';
import { assertDockerOk, startDockerd, type DockerResult, type RunningDockerd } from '../helpers/dockerd.js';

const ACCESS_GUIDE = fileURLToPath(new URL('../../../docs/access.md', import.meta.url));
const PASSWORDS = { alice: 'alice-docker-pw-1', bob: 'bob-docker-pw-2', carol: 'carol-docker-pw-3' } as const;
type User = keyof typeof PASSWORDS;

/** The `groups` and `access` of Example 2, from docs/access.md itself. */
async function guideExample2(): Promise<{ groups: Record<string, string[]>; access: unknown[] }> {
  const guide = await readFile(ACCESS_GUIDE, 'utf8');
  const match = /\*\*Example 2\b[^\n]*\n+```yaml\n([\s\S]*?)```/.exec(guide);
  assert.ok(match, 'docs/access.md has Example 2 with a yaml block');
  const example = parse(match[1]!) as { groups: Record<string, string[]>; access: unknown[] };
  assert.deepEqual(Object.keys(example).sort(), ['access', 'groups'], 'Example 2 is groups and access only');
  for (const user of Object.keys(PASSWORDS))
    assert.ok(
      Object.values(example.groups).some((members) => members.includes(user)),
      `Example 2 knows ${user}`,
    );
  return example;
}

function ok(result: DockerResult, what: string): DockerResult {
  assert.equal(result.code, 0, `${what} should succeed:\n${result.command}\n${result.stderr}`);
  return result;
}

function refused(result: DockerResult, what: string, why: RegExp): void {
  assert.notEqual(result.code, 0, `${what} should be refused:\n${result.command}\n${result.stdout}`);
  assert.match(result.stderr, why, `${what}: ${result.stderr}`);
}

describe('Example 2 of docs/access.md with the docker CLI and skopeo', () => {
  let dir: string;
  let tls: TlsPair;
  let dockerd: RunningDockerd;
  let distribution: RunningDistribution;
  let example: Awaited<ReturnType<typeof guideExample2>>;
  let base: OciImage;
  let app: OciImage;
  let other: OciImage;
  let pulls = 0;

  before(async () => {
    dir = await makeTempDir('rg-docker-cli-');
    tls = await makeTlsPair(join(dir, 'tls'));
    await mkdir(join(dir, 'pulled'));
    example = await guideExample2();
    [dockerd, distribution] = await Promise.all([startDockerd(), startDistribution({ dir: join(dir, 'distribution') })]);
    base = await makeOciImage(join(dir, 'image-base'), { layers: [randomBytes(800)] });
    app = await makeOciImage(join(dir, 'image-app'), { layers: [randomBytes(900), randomBytes(300)] });
    other = await makeOciImage(join(dir, 'image-other'), { layers: [randomBytes(1000)] });
    await dockerd.loadImage(app, 'local/app:1');
    await dockerd.loadImage(other, 'local/other:1');
  });

  after(async () => {
    await dockerd.stop();
    await distribution.stop();
    if (dir) await removeDir(dir);
  });

  for (const scheme of ['basic', 'bearer'] as const) {
    for (const backend of ['built-in registry', 'Distribution without auth'] as const) {
      describe(`${scheme} auth, ${backend}`, () => {
        let gate: TestGate;
        // Distinct repository names per cell: all cells share one Distribution and one dockerd.
        const id = `${scheme}-${backend === 'built-in registry' ? 'builtin' : 'distribution'}`;
        const publicImage = `base/${id}`;
        const teamA = `team-a/${id}`;
        const teamB = `team-b/${id}`;
        const ref = (repository: string, tag: string) => `${gate.host}/${repository}:${tag}`;
        const as = (user: User | undefined): RegistryAccess =>
          user ? { creds: { user, password: PASSWORDS[user] }, certDir: tls.caDir } : { noCreds: true, certDir: tls.caDir };
        const docker = (...args: string[]) => dockerd.docker(args);
        const login = async (user: User) =>
          ok(await dockerd.login(gate.host, { user, password: PASSWORDS[user] }), `docker login as ${user}`);
        async function imageId(name: string): Promise<string> {
          return ok(await docker('image', 'inspect', '--format', '{{.Id}}', name), `inspect ${name}`).stdout.trim();
        }

        before(async () => {
          gate = await startGate({
            dir: join(dir, id),
            tls,
            users: PASSWORDS,
            bcryptCost: 4,
            config: {
              groups: example.groups,
              access: example.access,
              ...(scheme === 'bearer'
                ? {
                    auth: {
                      scheme: 'bearer',
                      token: { service: 'registry.example.com', issuer: 'registry-gate', keyDir: join(dir, id, 'keys') },
                    },
                  }
                : {}),
              ...(backend === 'Distribution without auth' ? { upstream: { url: distribution.url } } : {}),
            },
          });
          // carol is a release manager: she publishes the base images.
          const published = await skopeoCopy({
            from: base.ref,
            to: dockerRef(gate.host, publicImage, '1'),
            dest: as('carol'),
            preserveDigests: true,
          });
          assert.equal(published.code, 0, published.stderr);
        });

        after(async () => {
          await dockerd.logout(gate.host);
          await gate.stop();
        });

        test('anonymous: skopeo copies base/*; docker pulls it in bearer mode, and in Basic mode gives up on the challenge', async () => {
          const out = join(dir, 'pulled', String(++pulls));
          const copied = await skopeoCopy({
            from: dockerRef(gate.host, publicImage, '1'),
            to: `oci:${out}:1`,
            src: as(undefined),
            ociAcceptUncompressed: true,
          });
          assert.equal(copied.code, 0, `anonymous skopeo copy:\n${copied.stderr}`);
          assert.deepEqual((await readOciLayoutDigests(out, '1')).layerDigests, base.layerDigests);

          const pulled = await docker('pull', ref(publicImage, '1'));
          if (scheme === 'bearer') {
            ok(pulled, 'anonymous docker pull of base/*');
            assert.match(pulled.stdout, /Downloaded newer image|Image is up to date/);
          } else {
            // The documented limit: with no credentials for this registry, docker answers a Basic challenge with an
            // error ("no basic auth credentials"); over loopback it then tries plain HTTP, which the TLS port refuses.
            assert.notEqual(pulled.code, 0, 'docker does not pull anonymously in Basic mode; if it now does, update docs/access.md');
            const challenge = new RegExp(
              `https://${gate.host.replace(/\./g, '\\.')}/v2/${publicImage}/manifests/1[\\\\"]*: no basic auth credentials`,
            );
            assert.match(dockerd.output(), challenge, 'the daemon gave up on the Basic challenge');
          }
        });

        test('docker login, push to the team repository, and pull it back', async () => {
          const login = await dockerd.login(gate.host, { user: 'alice', password: PASSWORDS.alice });
          ok(login, 'docker login');
          assert.match(login.stdout, /Login Succeeded/);
          ok(await docker('tag', 'local/app:1', ref(teamA, 'v1.0')), 'tag');
          const pushed = ok(await docker('push', ref(teamA, 'v1.0')), `docker push ${teamA}:v1.0`);
          assert.match(pushed.stdout, /v1\.0: digest: sha256:[0-9a-f]{64}/);

          const localId = await imageId('local/app:1');
          ok(await docker('rmi', ref(teamA, 'v1.0')), 'rmi');
          ok(await docker('pull', ref(teamA, 'v1.0')), `docker pull ${teamA}:v1.0`);
          assert.equal(await imageId(ref(teamA, 'v1.0')), localId, 'the same image came back');
          // And anyone logged in may pull the base images.
          ok(await docker('pull', ref(publicImage, '1')), 'docker pull of base/* when logged in');
        });

        test("refused: another team's repository at once (no retries), base/* to non-release-managers, anonymous reads of private repositories", async () => {
          await login('alice');
          ok(await docker('tag', 'local/other:1', ref(teamB, 'v1.0')), 'tag');
          // Refused within 15 s, not after docker's 50 s of retries: a push still retrying then is killed and fails here.
          const pushed = await dockerd.docker(['push', ref(teamB, 'v1.0')], { timeoutMs: 15_000 });
          assert.doesNotMatch(pushed.stderr, /\(killed after/, "refused within 15 s, not after docker's 50 s of retries");
          refused(pushed, `alice pushes to ${teamB}`, /denied/);
          assert.doesNotMatch(pushed.stdout, /Retrying/, 'docker took the refusal as final');
          ok(await docker('tag', 'local/other:1', ref(publicImage, 'alice')), 'tag');
          refused(await docker('push', ref(publicImage, 'alice')), 'alice pushes to base/*', /denied/);

          ok(await dockerd.logout(gate.host), 'docker logout');
          ok(await docker('rmi', ref(teamA, 'v1.0')), 'rmi');
          const anonymous = await docker('pull', ref(teamA, 'v1.0'));
          assert.notEqual(anonymous.code, 0, 'an anonymous docker pull of a private repository is refused');
          if (scheme === 'bearer') assert.match(anonymous.stderr, /unauthorized|denied/i);
          const inspected = await skopeoInspect(dockerRef(gate.host, teamA, 'v1.0'), as(undefined));
          assert.notEqual(inspected.code, 0, 'and so is an anonymous skopeo read');
          assert.match(inspected.stderr, /unauthorized|authentication required/i);
        });

        test('a protected tag: alice cannot move team-a/…:v1.0, carol (release manager) can', async () => {
          await login('alice');
          ok(await docker('tag', 'local/other:1', ref(teamA, 'v1.0')), 'tag');
          const moved = await docker('push', ref(teamA, 'v1.0'));
          refused(moved, `alice moves ${teamA}:v1.0`, /protected/);
          assert.doesNotMatch(moved.stdout, /Retrying/);

          await login('carol');
          const overwritten = ok(await docker('push', ref(teamA, 'v1.0')), `carol moves ${teamA}:v1.0`);
          const digest = /v1\.0: digest: (sha256:[0-9a-f]{64})/.exec(overwritten.stdout)?.[1];
          assert.ok(digest, overwritten.stdout);
          const inspected = await skopeoInspect(dockerRef(gate.host, teamA, 'v1.0'), as('alice'));
          assert.equal(inspected.code, 0, inspected.stderr);
          assert.equal((JSON.parse(inspected.stdout) as { Digest: string }).Digest, digest, 'v1.0 is carol’s image now');
          assertDockerOk(await dockerd.logout(gate.host));
        });
      });
    }
  }
});
