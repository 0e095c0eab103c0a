/**
 * Access rules through the whole gateway, on both backends (the built-in registry, and CNCF
 * Distribution 2.8 behind the gateway):
 *
 * - The existence oracle. A caller without pull on team-b/** must not learn which team-b
 *   repositories, tags, manifests or blobs exist: every request it makes there gets the identical
 *   status, headers and body whether the thing exists or not.
 * - `registry-gate access explain`, run as the real CLI on the same config, agrees with what the
 *   server decides for the same caller, repository and action.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { RegistryClient, type Reply } from '../helpers/registry-client.js';
import { CLI } from '../helpers/gate-process.js';
import { BACKEND_KINDS, startBackend, type BackendUnderTest } from '../helpers/access-http.js';

const PASSWORDS = { alice: 'alice-pw-1', bob: 'bob-pw-2', dave: 'dave-pw-3', reader: 'reader-pw-4', erin: 'erin-pw-5' };
const GROUPS = { 'team-a': ['alice'], 'team-b': ['bob'] };
const RULES = [
  { repository: 'team-a/**', actions: ['pull', 'push'], subjects: ['group:team-a'] }, // 0
  { repository: 'team-b/**', actions: ['pull', 'push', 'delete'], subjects: ['group:team-b'] }, // 1
  { repository: 'users/${user}/**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] }, // 2
  { repository: 'team-a/**', actions: ['pull'], subjects: ['user:reader'] }, // 3
];
const MISSING_DIGEST = `sha256:${'0'.repeat(64)}`;
/** Response headers that legitimately differ between two identical answers. */
const VOLATILE = new Set(['date', 'keep-alive', 'connection']);

function client(gate: TestGate, user?: keyof typeof PASSWORDS): RegistryClient {
  return new RegistryClient(() => ({
    baseUrl: gate.url,
    dispatcher: gate.dispatcher,
    ...(user ? { authHeader: basic(user, PASSWORDS[user]) } : {}),
  }));
}

function comparable(reply: Reply): { status: number; headers: Record<string, string>; body: string } {
  const headers = Object.fromEntries(Object.entries(reply.headers).filter(([name]) => !VOLATILE.has(name)));
  return { status: reply.status, headers, body: reply.text() };
}

for (const kind of BACKEND_KINDS) {
  describe(`access rules (${kind})`, () => {
    let dir: string;
    let tls: TlsPair;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let configFile: string;
    let existing: { digest: string; blobs: string[] };

    before(async () => {
      dir = await makeTempDir('rg-access-rules-');
      tls = await makeTlsPair(join(dir, 'tls'));
      backend = await startBackend(kind, join(dir, 'distribution'));
      // erin's only group comes from the group file: the server reads it, and so must `access explain`.
      const groupFile = join(dir, 'groups');
      await writeFile(groupFile, 'team-a: erin\n');
      const shared = { groups: GROUPS, access: RULES, auth: { groupFile } };
      configFile = join(dir, 'registry-gate.json');
      await writeFile(configFile, JSON.stringify(shared, null, 2));
      gate = await startGate({
        dir: join(dir, 'gate'),
        tls,
        users: PASSWORDS,
        bcryptCost: 4,
        config: { ...shared, ...backend.gateConfig },
      });
      const pushed = await client(gate, 'bob').pushImage('team-b/app', '1', { layers: 1 });
      existing = { digest: pushed.digest, blobs: pushed.blobs };
    });

    after(async () => {
      await gate.stop();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    test('control: team-b/app exists for bob, team-b/missing does not', async () => {
      const bob = client(gate, 'bob');
      assert.equal((await bob.call('GET', '/v2/team-b/app/manifests/1')).status, 200);
      assert.equal((await bob.call('GET', `/v2/team-b/app/blobs/${existing.blobs[0]}`)).status, 200);
      assert.equal((await bob.call('GET', '/v2/team-b/missing/manifests/1')).status, 404);
      assert.equal((await bob.call('GET', '/v2/team-b/app/tags/list')).status, 200);
    });

    for (const who of ['alice', 'dave', 'anonymous'] as const) {
      test(`existence oracle: ${who} gets identical answers for existing and missing team-b content`, async () => {
        const caller = client(gate, who === 'anonymous' ? undefined : who);
        const pairs: Array<[string, string, string]> = [
          ['GET', '/v2/team-b/app/manifests/1', '/v2/team-b/missing/manifests/1'],
          ['HEAD', '/v2/team-b/app/manifests/1', '/v2/team-b/missing/manifests/1'],
          ['GET', '/v2/team-b/app/manifests/1', '/v2/team-b/app/manifests/nope'],
          ['HEAD', '/v2/team-b/app/manifests/1', '/v2/team-b/app/manifests/nope'],
          ['GET', `/v2/team-b/app/manifests/${existing.digest}`, `/v2/team-b/app/manifests/${MISSING_DIGEST}`],
          ['HEAD', `/v2/team-b/app/manifests/${existing.digest}`, `/v2/team-b/missing/manifests/${existing.digest}`],
          ['GET', '/v2/team-b/app/tags/list', '/v2/team-b/missing/tags/list'],
          ['GET', `/v2/team-b/app/blobs/${existing.blobs[0]}`, `/v2/team-b/app/blobs/${MISSING_DIGEST}`],
          ['HEAD', `/v2/team-b/app/blobs/${existing.blobs[0]}`, `/v2/team-b/missing/blobs/${existing.blobs[0]}`],
          ['GET', `/v2/team-b/app/referrers/${existing.digest}`, `/v2/team-b/missing/referrers/${existing.digest}`],
          ['DELETE', `/v2/team-b/app/manifests/${existing.digest}`, `/v2/team-b/missing/manifests/${existing.digest}`],
          ['POST', '/v2/team-b/app/blobs/uploads/', '/v2/team-b/missing/blobs/uploads/'],
        ];
        for (const [method, present, absent] of pairs) {
          const a = comparable(await caller.call(method, present));
          const b = comparable(await caller.call(method, absent));
          assert.equal(a.status, who === 'anonymous' ? 401 : 403, `${who} ${method} ${present}: ${a.body}`);
          assert.deepEqual(a, b, `${who} ${method}: ${present} and ${absent} must look the same`);
        }
        // Still there: the probes changed nothing.
        assert.equal((await client(gate, 'bob').call('HEAD', '/v2/team-b/app/manifests/1')).status, 200);
      });
    }

    // The CLI does not depend on the backend; one run of it is enough.
    // The CLI reads the same config for either backend: asked once, where the gate runs the built-in registry.
    if (kind === 'builtin')
      describe('access explain agrees with the server', () => {
        /** The server's decision, asked with a request that needs exactly this action. */
        async function serverDecides(
          user: keyof typeof PASSWORDS | undefined,
          repository: string,
          action: 'pull' | 'push' | 'delete',
        ): Promise<'allow' | 'deny'> {
          const caller = client(gate, user);
          let reply: Reply;
          if (action === 'pull') reply = await caller.call('GET', `/v2/${repository}/tags/list`);
          else if (action === 'push')
            reply = await caller.call('POST', `/v2/${repository}/blobs/uploads/`, { headers: { 'content-length': '0' } });
          else reply = await caller.call('DELETE', `/v2/${repository}/manifests/${MISSING_DIGEST}`);
          if (reply.status === 401 || reply.status === 403) return 'deny';
          // Anything else must be what the registry says to an allowed request, not a failure.
          const allowedStatuses = { pull: [200, 404], push: [202], delete: [202, 404] }[action];
          assert.ok(
            allowedStatuses.includes(reply.status),
            `${user ?? 'anonymous'} ${action} ${repository}: ${reply.status} ${reply.text()}`,
          );
          if (action === 'push') await caller.call('DELETE', RegistryClient.pathOf(reply.headers.location));
          return 'allow';
        }

        async function explain(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
          const env: NodeJS.ProcessEnv = {};
          for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('REGISTRY_GATE_')) env[name] = value;
          return runProcess(process.execPath, [CLI, 'access', 'explain', '--config', configFile, ...args], {
            cwd: dir,
            env,
            timeoutMs: 20_000,
          });
        }

        type Case = {
          user?: keyof typeof PASSWORDS;
          groups?: string[];
          repository: string;
          action: 'pull' | 'push' | 'delete';
          rules: number[];
        };
        const cases: Case[] = [
          { user: 'alice', groups: ['team-a'], repository: 'team-a/app', action: 'push', rules: [0] },
          { user: 'alice', groups: ['team-a'], repository: 'team-b/app', action: 'push', rules: [] },
          { user: 'bob', repository: 'team-b/app', action: 'delete', rules: [1] },
          { user: 'dave', repository: 'users/dave/tool', action: 'push', rules: [2] },
          { user: 'reader', repository: 'team-a/app', action: 'push', rules: [3] },
          { repository: 'team-a/app', action: 'pull', rules: [] },
        ];
        const argsOf = (c: Case) => [
          ...(c.user ? ['--user', c.user] : ['--anonymous']),
          ...(c.groups ?? []).flatMap((group) => ['--group', group]),
          '--repository',
          c.repository,
          '--action',
          c.action,
        ];
        // The CLI costs a Node start-up per run: run them all at once, assert case by case.
        let results: Map<Case, Awaited<ReturnType<typeof explain>>>;
        let erin: Awaited<ReturnType<typeof explain>>;
        let invalid: Awaited<ReturnType<typeof explain>>;
        before(async () => {
          const [caseResults, erinResult, invalidResult] = await Promise.all([
            Promise.all(cases.map(async (c) => [c, await explain(argsOf(c))] as const)),
            explain(['--user', 'erin', '--repository', 'team-a/app', '--action', 'push']),
            explain(['--user', 'alice', '--repository', 'Team-A/../x', '--action', 'pull']),
          ]);
          results = new Map(caseResults);
          erin = erinResult;
          invalid = invalidResult;
        });

        for (const c of cases) {
          const who = c.user ?? 'anonymous';
          test(`${who} ${c.action} ${c.repository}`, async () => {
            const result = results.get(c)!;
            const server = await serverDecides(c.user, c.repository, c.action);
            const cli = result.code === 0 ? 'allow' : result.code === 2 ? 'deny' : `exit ${result.code}: ${result.stderr}`;
            assert.equal(cli, server, `explain says ${cli}, the server ${server}\n${result.stdout}${result.stderr}`);
            assert.match(result.stdout, server === 'allow' ? /^ALLOW/ : /^DENY/);
            const printed = [...result.stdout.matchAll(/^\s+rule (\d+): /gm)].map((match) => Number(match[1]));
            assert.deepEqual(printed, c.rules, `matched rules printed:\n${result.stdout}`);
          });
        }

        test('a user whose group comes from auth.groupFile: explain reads the group file as the server does', async () => {
          assert.equal(await serverDecides('erin', 'team-a/app', 'push'), 'allow', 'the server grants erin push through the group file');
          const result = erin;
          assert.equal(result.code, 0, `explain must agree with the server (ALLOW, exit 0):\n${result.stdout}${result.stderr}`);
        });

        test('an invalid repository name is an error (exit 1), not a decision', () => {
          const result = invalid;
          assert.equal(result.code, 1, result.stdout + result.stderr);
          assert.match(result.stderr, /not a valid repository name/);
        });
      });
  });
}
