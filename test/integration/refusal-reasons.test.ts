/**
 * A refusal says why. A push or delete refused by protected tags answers 403 DENIED with a message
 * naming the tag; every refusal at /v2/ leaves an audit line with its reason: `policy` (no rule
 * grants the action), `scope` (the rules grant it, the robot's scopes do not), `protected-tag`.
 * And `registry-gate access explain --tag T --action push|overwrite|delete`, the real CLI on the
 * same config, gives the server's decision for the same create, move or delete of a tag and prints
 * the server's message. On the built-in registry and on Distribution 2.8 behind the gateway.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { OCI_MANIFEST, RegistryClient, type Reply } from '../helpers/registry-client.js';
import { CLI } from '../helpers/gate-process.js';
import { BACKEND_KINDS, startBackend, waitForAudit, type AuditLine, type BackendUnderTest } from '../helpers/access-http.js';
import { createRobot } from '../../src/auth/token/robots.js';

const PASSWORDS = { alice: 'alice-Why-secret', admin: 'admin-Why-secret' };
const GROUPS = { 'team-a': ['alice'] };
const RULES = [
  { repository: 'team-a/**', actions: ['pull', 'push'], subjects: ['group:team-a'] }, // 0
  { repository: 'release/**', actions: ['pull', 'push', 'delete'], subjects: ['group:team-a'], protectedTags: ['v*', 'latest'] }, // 1
  { repository: 'release/**', actions: ['pull', 'push', 'delete', 'overwrite'], subjects: ['user:admin'] }, // 2
  { repository: 'ci/**', actions: ['pull', 'push'], subjects: ['user:robot$ci'] }, // 3
];
const MOVE_V1 = 'the tag v1 is protected and already names another manifest; moving it needs overwrite';

function deniedMessage(reply: Reply): string | undefined {
  assert.equal(reply.status, 403, reply.text());
  const error = reply.json<{ errors: Array<{ code: string; message: string }> }>().errors[0];
  assert.equal(error?.code, 'DENIED');
  return error.message;
}

for (const kind of BACKEND_KINDS) {
  describe(`a refusal says why (${kind})`, () => {
    let dir: string;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let auditFile: string;
    let configFile: string;
    let robotSecret: string;
    let other: { manifest: Buffer; digest: string };
    let v1: string;

    const as = (user?: keyof typeof PASSWORDS) =>
      new RegistryClient(() => ({
        baseUrl: gate.url,
        dispatcher: gate.dispatcher,
        ...(user ? { authHeader: basic(user, PASSWORDS[user]) } : {}),
      }));
    /** The audit line of the one refusal that `match` picks out. */
    async function refusal(match: (line: AuditLine) => boolean): Promise<AuditLine> {
      const lines = await waitForAudit(auditFile, (all) => all.some((line) => line.decision === 'deny' && match(line)));
      const found = lines.filter((line) => line.decision === 'deny' && match(line));
      assert.equal(found.length, 1, `one deny line expected:\n${lines.map((line) => JSON.stringify(line)).join('\n')}`);
      return found[0] as AuditLine;
    }

    before(async () => {
      dir = await makeTempDir('rg-refusal-reasons-');
      backend = await startBackend(kind, join(dir, 'distribution'));
      auditFile = join(dir, 'audit.log');
      const gateDir = join(dir, 'gate');
      robotSecret = (
        await createRobot(join(gateDir, 'data', 'token', 'robots.json'), { name: 'ci', scopes: ['repository:ci/*:pull'], expires: null })
      ).secret;
      const config = { groups: GROUPS, access: RULES, audit: { enabled: true, file: auditFile }, ...backend.gateConfig };
      gate = await startGate({ dir: gateDir, users: PASSWORDS, bcryptCost: 4, config });
      // The same rules for the CLI (JSON is YAML).
      configFile = join(dir, 'registry-gate.yaml');
      await writeFile(configFile, JSON.stringify({ groups: GROUPS, access: RULES }));
      v1 = (await as('alice').pushImage('release/app', 'v1')).digest;
      other = await as('alice').pushImage('release/app', 'dev');
    });

    after(async () => {
      await gate.stop();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    test('no rule grants it: 403 (401 to an anonymous caller), audited with the reason policy', async () => {
      const upload = await as('alice').call('POST', '/v2/other/app/blobs/uploads/', { headers: { 'content-length': '0' } });
      assert.equal(upload.status, 403);
      const pushLine = await refusal((line) => line.repository === 'other/app' && line.user === 'alice');
      assert.deepEqual([pushLine.action, pushLine.status, pushLine.reason, pushLine.rule], ['push', 403, 'policy', -1]);

      assert.equal((await as().call('GET', '/v2/team-a/app/tags/list')).status, 401);
      const anonymous = await refusal((line) => line.repository === 'team-a/app' && line.user === null);
      assert.deepEqual([anonymous.action, anonymous.status, anonymous.reason], ['pull', 401, 'policy']);
    });

    test("the rules grant it, the robot's scopes do not: 403, audited with the reason scope", async () => {
      const robot = new RegistryClient(() => ({
        baseUrl: gate.url,
        dispatcher: gate.dispatcher,
        authHeader: basic('robot$ci', robotSecret),
      }));
      const pull = await robot.call('GET', '/v2/ci/app/tags/list');
      assert.ok([200, 404].includes(pull.status), `pull is in its scopes: ${pull.status} ${pull.text()}`);
      const upload = await robot.call('POST', '/v2/ci/app/blobs/uploads/', { headers: { 'content-length': '0' } });
      assert.equal(upload.status, 403, upload.text());
      const line = await refusal((l) => l.repository === 'ci/app' && l.user === 'robot$ci');
      assert.deepEqual([line.action, line.status, line.reason], ['push', 403, 'scope']);
    });

    test('protected tags: the message names the tag, the audit line says protected-tag', async () => {
      const alice = as('alice');
      const move = await alice.call('PUT', '/v2/release/app/manifests/v1', {
        headers: { 'content-type': OCI_MANIFEST },
        body: other.manifest,
      });
      assert.equal(deniedMessage(move), MOVE_V1);
      const moved = await refusal((line) => line.tag === 'v1' && line.method === 'PUT');
      assert.deepEqual([moved.action, moved.status, moved.reason, moved.repository], ['push', 403, 'protected-tag', 'release/app']);

      assert.equal(
        deniedMessage(await alice.call('DELETE', '/v2/release/app/manifests/latest')),
        'the tag latest is protected; deleting it needs overwrite',
      );
      assert.equal(
        deniedMessage(await alice.call('DELETE', `/v2/release/app/manifests/${v1}`)),
        'this repository has protected tags; deleting a manifest by digest needs overwrite',
      );
      const deletes = await waitForAudit(
        auditFile,
        (all) => all.filter((line) => line.method === 'DELETE' && line.repository === 'release/app').length >= 2,
      );
      const deleteReasons = deletes
        .filter((line) => line.method === 'DELETE' && line.repository === 'release/app')
        .map((line) => [line.decision, line.status, line.reason]);
      assert.deepEqual(deleteReasons, [
        ['deny', 403, 'protected-tag'],
        ['deny', 403, 'protected-tag'],
      ]);

      // Control: what is refused is the move, not the tag; pushing v1's own manifest again is fine.
      const same = await alice.call('GET', '/v2/release/app/manifests/v1');
      assert.equal(same.status, 200);
      const again = await alice.call('PUT', '/v2/release/app/manifests/v1', { headers: { 'content-type': OCI_MANIFEST }, body: same.body });
      assert.equal(again.status, 201, again.text());
    });

    // The CLI reads only the config; one backend is enough to compare it with the server.
    if (kind === 'builtin')
      describe('access explain --tag and --action overwrite agree with the server', () => {
        async function explain(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
          const env: NodeJS.ProcessEnv = {};
          for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('REGISTRY_GATE_')) env[name] = value;
          return runProcess(process.execPath, [CLI, 'access', 'explain', '--config', configFile, '--repository', 'release/app', ...args], {
            cwd: dir,
            env,
            timeoutMs: 20_000,
          });
        }
        const verdict = (result: { code: number | null; stdout: string; stderr: string }) =>
          result.code === 0 ? 'ALLOW' : result.code === 2 ? 'DENY' : `exit ${result.code}: ${result.stderr}`;

        test("moving a protected tag: DENY with the server's message; with overwrite granted: ALLOW", async () => {
          const [aliceMoves, adminMoves, aliceCreates, aliceMovesDev, aliceDeletes, aliceAnyTag] = await Promise.all([
            explain(['--user', 'alice', '--tag', 'v1', '--action', 'overwrite']),
            explain(['--user', 'admin', '--tag', 'v1', '--action', 'overwrite']),
            explain(['--user', 'alice', '--tag', 'v2', '--action', 'push']),
            explain(['--user', 'alice', '--tag', 'dev', '--action', 'overwrite']),
            explain(['--user', 'alice', '--tag', 'latest', '--action', 'delete']),
            explain(['--user', 'alice', '--action', 'overwrite']),
          ]);
          // The server, for the same requests.
          const serverMove = await as('alice').call('PUT', '/v2/release/app/manifests/v1', {
            headers: { 'content-type': OCI_MANIFEST },
            body: other.manifest,
          });
          const serverMessage = deniedMessage(serverMove);
          assert.equal(verdict(aliceMoves), 'DENY', aliceMoves.stdout);
          assert.match(aliceMoves.stdout, /^DENY: user alice \(groups: team-a\) overwrite release\/app:v1 /);
          assert.match(
            aliceMoves.stdout,
            /rule 1: .* protectedTags \[v\*, latest\] does not grant overwrite: v1 is protected and it lacks overwrite/,
          );
          assert.ok(
            aliceMoves.stdout.includes(`refused (protected-tag): ${serverMessage}\n`),
            `the server's message, word for word:\n${aliceMoves.stdout}`,
          );

          assert.equal(verdict(aliceCreates), 'ALLOW', aliceCreates.stdout);
          assert.match(aliceCreates.stdout, /note: v2 is protected; a push that moves it to another manifest needs overwrite/);
          const created = await as('alice').pushManifest('release/app', 'v2', other.manifest, OCI_MANIFEST);
          assert.equal(created.status, 201, 'the server lets alice create a protected tag');
          assert.equal(verdict(aliceMovesDev), 'ALLOW', `an unprotected tag moves with push:\n${aliceMovesDev.stdout}`);
          assert.equal(verdict(aliceDeletes), 'DENY', aliceDeletes.stdout);
          assert.match(aliceDeletes.stdout, /refused \(protected-tag\): the tag latest is protected; deleting it needs overwrite/);
          assert.equal(verdict(aliceAnyTag), 'DENY', `without --tag, overwrite asks about any tag:\n${aliceAnyTag.stdout}`);

          assert.equal(verdict(adminMoves), 'ALLOW', adminMoves.stdout);
          assert.match(adminMoves.stdout, /rule 2: .* grants overwrite/);
          const adminMove = await as('admin').call('PUT', '/v2/release/app/manifests/v1', {
            headers: { 'content-type': OCI_MANIFEST },
            body: other.manifest,
          });
          assert.equal(adminMove.status, 201, `the server lets admin move v1: ${adminMove.text()}`);
        });

        test('a tag that is not a valid tag is an error (exit 1), not a decision', async () => {
          const result = await explain(['--user', 'alice', '--tag', '.bad', '--action', 'push']);
          assert.equal(result.code, 1, result.stdout + result.stderr);
          assert.match(result.stderr, /not a valid tag/);
        });
      });
  });
}
