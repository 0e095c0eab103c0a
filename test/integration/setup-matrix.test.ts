/**
 * Every documented setup, walked through with a real client (skopeo over verified TLS):
 *
 *   {Basic, bearer} × {built-in registry, Distribution without auth, Distribution in `auth: token`
 *   mode} × {rules with, without anonymous access} × {with, without protected tags}
 *
 * Each cell: a release manager publishes a base image; anonymous pull of it where the rules allow
 * it and a refusal where they do not; authenticated push and pull under the team's prefix; a
 * refused push by another team; a refused anonymous read of the team's repository; and moving a tag
 * (refused when protected, done when not).
 *
 * Why a matrix: once one rule let anonymous callers pull, `GET /v2/` answered 200 without
 * credentials in Basic mode, so skopeo (and docker, containerd) never sent credentials and every
 * push failed; no test had combined anonymous rules with authenticated pushes. Now each documented
 * combination is one cell here.
 *
 * Merged to keep the run short: the two protected-tag variants of a cell share one gate (the rules
 * protect `releases/${group}/**` and not `${group}/**`), and all gates share one Distribution per
 * kind, each gate under its own repository names.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AccessRuleConfig } from '../../src/config/schema.js';
import { SigningKeys } from '../../src/auth/token/keys.js';
import { startGate, type TestGate } from '../helpers/gate.js';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage, readOciLayoutDigests, type OciImage } from '../helpers/oci-image.js';
import { dockerRef, skopeoCopy, skopeoInspect, type RegistryAccess, type SkopeoResult } from '../helpers/skopeo.js';

const PASSWORDS = { alice: 'alice-matrix-pw-1', bob: 'bob-matrix-pw-2', carol: 'carol-matrix-pw-3' } as const;
type User = keyof typeof PASSWORDS;
const GROUPS = { 'team-a': ['alice', 'carol'], 'team-b': ['bob'], 'release-managers': ['carol'] };
const SERVICE = 'registry-gate.matrix';
const ISSUER = 'registry-gate-matrix';

/** The shape of Example 2 in docs/access.md, with the protected-tag rule on its own prefix so both variants share a gate. */
function rules(anonymous: boolean): AccessRuleConfig[] {
  return [
    { repository: '${group}/**', actions: ['pull', 'push'], subjects: ['authenticated'] },
    { repository: 'releases/${group}/**', actions: ['pull', 'push'], subjects: ['authenticated'], protectedTags: ['v*', 'latest'] },
    { repository: 'base/*', actions: ['pull'], subjects: [anonymous ? '*' : 'authenticated'] },
    { repository: 'base/*', actions: ['push'], subjects: ['group:release-managers'] },
  ] as AccessRuleConfig[];
}

const SCHEMES = ['basic', 'bearer'] as const;
const BACKENDS = ['built-in', 'distribution', 'distribution-token'] as const;
type Backend = (typeof BACKENDS)[number];
const BACKEND_NAMES: Record<Backend, string> = {
  'built-in': 'built-in registry',
  distribution: 'Distribution without auth',
  'distribution-token': 'Distribution in token mode',
};

function assertOk(result: SkopeoResult, what: string): void {
  assert.equal(result.code, 0, `${what} should succeed:\n${result.command}\n${result.stderr}`);
}

function assertRefused(result: SkopeoResult, what: string, why: RegExp): void {
  assert.notEqual(result.code, 0, `${what} should be refused:\n${result.command}`);
  assert.match(result.stderr, why, `${what}: ${result.stderr}`);
}

const DENIED = /denied|403/i;
const UNAUTHORIZED = /unauthorized|authentication required|401/i;

describe('the setup matrix: every documented configuration with skopeo over TLS', () => {
  let dir: string;
  let tls: TlsPair;
  let keyDir: string;
  let plain: RunningDistribution;
  let tokenMode: RunningDistribution;
  let images: { a: OciImage; b: OciImage; base: OciImage };
  let pulls = 0;

  before(async () => {
    dir = await makeTempDir('rg-matrix-');
    tls = await makeTlsPair(join(dir, 'tls'));
    await mkdir(join(dir, 'pulled'));
    // One signing key for every gate: the token-mode Distribution trusts it (so it must exist first).
    keyDir = join(dir, 'keys');
    const keys = await SigningKeys.open({ dir: keyDir, algorithm: 'ES256', watch: false });
    await keys.close();
    [plain, tokenMode] = await Promise.all([
      startDistribution({ dir: join(dir, 'distribution') }),
      startDistribution({
        dir: join(dir, 'distribution-token'),
        // The realm is where Distribution would send clients; they never reach it, the gateway signs for them.
        auth: { token: { realm: 'https://127.0.0.1:9/auth/token', service: SERVICE, issuer: ISSUER, rootcertbundle: keys.certBundleFile } },
      }),
    ]);
    images = {
      a: await makeOciImage(join(dir, 'image-a'), { layers: [randomBytes(600), randomBytes(400)] }),
      b: await makeOciImage(join(dir, 'image-b'), { layers: [randomBytes(500)] }),
      base: await makeOciImage(join(dir, 'image-base'), { layers: [randomBytes(700)] }),
    };
  });

  after(async () => {
    await plain.stop();
    await tokenMode.stop();
    if (dir) await removeDir(dir);
  });

  function gateConfig(scheme: 'basic' | 'bearer', backend: Backend, anonymous: boolean): Record<string, unknown> {
    const token = { service: SERVICE, issuer: ISSUER, keyDir };
    return {
      groups: GROUPS,
      access: rules(anonymous),
      // Basic mode in front of a token-mode Distribution needs a key to sign the gateway's own tokens with.
      auth: scheme === 'bearer' ? { scheme: 'bearer', token } : backend === 'distribution-token' ? { token } : {},
      ...(backend === 'distribution' ? { upstream: { url: plain.url } } : {}),
      ...(backend === 'distribution-token' ? { upstream: { url: tokenMode.url } } : {}),
    };
  }

  for (const scheme of SCHEMES) {
    for (const backend of BACKENDS) {
      for (const anonymous of [true, false]) {
        const id = `${scheme}-${backend}-${anonymous ? 'anon' : 'private'}`;
        describe(`${scheme} auth × ${BACKEND_NAMES[backend]} × ${anonymous ? 'anonymous may pull base/*' : 'no anonymous access'}`, () => {
          let gate: TestGate;
          const base = `base/${id}`;

          const as = (user: User | undefined): RegistryAccess =>
            user ? { creds: { user, password: PASSWORDS[user] }, certDir: tls.caDir } : { noCreds: true, certDir: tls.caDir };
          const push = (user: User | undefined, image: OciImage, repository: string, tag: string) =>
            skopeoCopy({ from: image.ref, to: dockerRef(gate.host, repository, tag), dest: as(user), preserveDigests: true });
          async function pull(
            user: User | undefined,
            repository: string,
            tag: string,
          ): Promise<SkopeoResult & { layerDigests?: string[] }> {
            const out = join(dir, 'pulled', String(++pulls));
            const result = await skopeoCopy({
              from: dockerRef(gate.host, repository, tag),
              to: `oci:${out}:${tag}`,
              src: as(user),
              ociAcceptUncompressed: true,
            });
            if (result.code !== 0) return result;
            return { ...result, layerDigests: (await readOciLayoutDigests(out, tag)).layerDigests };
          }
          async function digestOf(repository: string, tag: string): Promise<string> {
            const inspected = await skopeoInspect(dockerRef(gate.host, repository, tag), { ...as('alice'), raw: true });
            assertOk(inspected, `inspect ${repository}:${tag}`);
            return `sha256:${createHash('sha256').update(inspected.stdout).digest('hex')}`;
          }

          before(async () => {
            gate = await startGate({
              dir: join(dir, id),
              tls,
              users: PASSWORDS,
              bcryptCost: 4,
              config: gateConfig(scheme, backend, anonymous),
            });
            assertOk(await push('carol', images.base, base, '1'), `carol publishes ${base}:1`);
          });

          after(async () => {
            await gate.stop();
          });

          for (const protectedTags of [true, false]) {
            test(`${protectedTags ? 'with' : 'without'} protected tags: anonymous pull ${anonymous ? 'of base/*' : 'refused'}, push and pull, refused push, ${protectedTags ? 'a protected tag stays' : 'a tag moves'}`, async () => {
              const repository = `${protectedTags ? 'releases/' : ''}team-a/${id}/app`;

              // Anonymous callers: the public base image where the rules say so, never the team's repository.
              const anonymousBase = await pull(undefined, base, '1');
              if (anonymous) {
                assertOk(anonymousBase, `anonymous pull of ${base}:1`);
                assert.deepEqual(anonymousBase.layerDigests, images.base.layerDigests);
              } else {
                assertRefused(anonymousBase, `anonymous pull of ${base}:1`, UNAUTHORIZED);
              }
              const authenticatedBase = await pull('bob', base, '1');
              assertOk(authenticatedBase, `bob pulls ${base}:1`);
              assert.deepEqual(authenticatedBase.layerDigests, images.base.layerDigests);
              assertRefused(await push(undefined, images.b, base, 'anonymous'), 'anonymous push to base/*', UNAUTHORIZED);

              // Authenticated push and pull under the team's prefix.
              assertOk(await push('alice', images.a, repository, 'v1'), `alice pushes ${repository}:v1`);
              const pulled = await pull('alice', repository, 'v1');
              assertOk(pulled, `alice pulls ${repository}:v1`);
              assert.deepEqual(pulled.layerDigests, images.a.layerDigests);

              // Refused: another team's push, a push to base/* by a non-release-manager, anonymous reads.
              assertRefused(await push('bob', images.b, repository, 'bob'), `bob pushes to ${repository}`, DENIED);
              assertRefused(await push('alice', images.b, base, 'alice'), `alice pushes to ${base}`, DENIED);
              assertRefused(await pull(undefined, repository, 'v1'), `anonymous pull of ${repository}:v1`, UNAUTHORIZED);
              assertRefused(await pull('bob', repository, 'v1'), `bob pulls ${repository}:v1`, DENIED);

              // Moving a tag: refused where protected (and re-pushing the same image is not a move), done where not.
              if (protectedTags) {
                assertRefused(
                  await push('alice', images.b, repository, 'v1'),
                  `alice moves the protected ${repository}:v1`,
                  /protected|denied/i,
                );
                assert.equal(await digestOf(repository, 'v1'), images.a.manifestDigest, 'v1 did not move');
                assertOk(await push('alice', images.a, repository, 'v1'), 're-pushing the same image to a protected tag');
              } else {
                assertOk(await push('alice', images.b, repository, 'v1'), `alice moves ${repository}:v1`);
                assert.equal(await digestOf(repository, 'v1'), images.b.manifestDigest, 'v1 moved');
              }
            });
          }
        });
      }
    }
  }
});
