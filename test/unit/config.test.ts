import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, ConfigError } from '../../src/config/load.js';

async function withConfig(text: string, run: (file: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rg-config-'));
  try {
    const file = join(dir, 'registry-gate.yaml');
    await writeFile(file, text);
    await run(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function problem(text: string): Promise<string> {
  let message = '';
  await withConfig(text, async (file) => {
    await assert.rejects(loadConfig({ file, env: {} }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.code, 'RG_ERR_CONFIG_INVALID');
      message = error.message;
      return true;
    });
  });
  return message;
}

test('the issue example validates, with paths resolved against the file and durations in ms', async () => {
  await withConfig(
    `listen: "0.0.0.0:5043"
tls: { cert: auth/domain.crt, key: auth/domain.key }
upstream: { url: "http://127.0.0.1:5000", timeout: 900s }
trustedProxies: ["10.0.0.0/8"]
auth: { realm: "Registry realm", htpasswd: auth/nginx.htpasswd }
groups: { pushers: [alice] }
access:
  - { repository: "**", actions: [pull], subjects: [authenticated] }
  - { repository: "**", actions: [pull, push, delete], subjects: ["group:pushers"] }
clients: { rejectLegacyDocker: true }
log: { level: info, format: json }
`,
    async (file) => {
      const config = await loadConfig({ file, env: {} });
      assert.equal(config.upstream?.timeout, 900_000);
      assert.deepEqual(config.tls, { mode: 'files', cert: join(file, '..', 'auth/domain.crt'), key: join(file, '..', 'auth/domain.key') });
      assert.equal(config.auth.htpasswd, join(file, '..', 'auth/nginx.htpasswd'));
      assert.ok(Object.isFrozen(config) && Object.isFrozen(config.auth) && Object.isFrozen(config.access));
    },
  );
});

test('unknown keys and bad values name their path', async () => {
  assert.match(await problem('listen: "x"\n'), /listen: expected HOST:PORT/);
  assert.match(await problem('auth: { realmm: x }\n'), /auth: unknown key\(s\): realmm/);
  assert.match(await problem('upstream: { url: "http://h:1", timeout: forever }\n'), /upstream\.timeout: not a duration/);
  assert.match(await problem('trustedProxies: ["10.0.0.0/99"]\n'), /trustedProxies\.0: not an IP address or CIDR/);
  assert.match(await problem('access:\n  - { repository: "**", actions: [fly], subjects: [authenticated] }\n'), /access\.0\.actions\.0/);
  assert.match(
    await problem('access:\n  - { repository: "a/${team}", actions: [pull], subjects: [authenticated] }\n'),
    /access\.0\.repository: unknown placeholder/,
  );
  assert.match(await problem('access:\n  - { repository: "**", actions: [pull], subjects: [someone] }\n'), /access\.0\.subjects\.0/);
  assert.match(await problem('listen: [\n'), /registry-gate\.yaml/);
  assert.match(await problem('auth: { realm: "a\\"b" }\n'), /auth\.realm/);
});

test('flags override environment, which overrides the file', async () => {
  await withConfig('listen: "127.0.0.1:1"\n', async (file) => {
    const env = { REGISTRY_GATE_LISTEN: '127.0.0.1:2', REGISTRY_GATE_UPSTREAM: 'http://127.0.0.1:5000' };
    assert.equal((await loadConfig({ file, env })).listen, '127.0.0.1:2');
    const config = await loadConfig({ file, env, overrides: { listen: '127.0.0.1:3' } });
    assert.equal(config.listen, '127.0.0.1:3');
    assert.equal(config.upstream?.url, 'http://127.0.0.1:5000');
  });
});

test('REGISTRY_GATE_CONFIG names the file when no --config is given; the other variables override it', async () => {
  await withConfig('listen: "127.0.0.1:1"\ndataDir: from-file\nlog: { level: warn }\n', async (file) => {
    const fromFile = await loadConfig({ env: { REGISTRY_GATE_CONFIG: file } });
    assert.equal(fromFile.source, file);
    assert.equal(fromFile.listen, '127.0.0.1:1');
    assert.equal(fromFile.dataDir, join(file, '..', 'from-file'));
    const env = {
      REGISTRY_GATE_CONFIG: file,
      REGISTRY_GATE_DATA_DIR: '/data',
      REGISTRY_GATE_LOG_LEVEL: 'debug',
      REGISTRY_GATE_LOG_FORMAT: 'json',
    };
    const overridden = await loadConfig({ env });
    assert.equal(overridden.dataDir, '/data');
    assert.equal(overridden.auth.htpasswd, '/data/htpasswd');
    assert.equal(overridden.storage.root, '/data/registry');
    assert.equal(overridden.log.level, 'debug');
    assert.equal(overridden.log.format, 'json');
    assert.equal(
      (await loadConfig({ env: { ...env, REGISTRY_GATE_DATA_DIR: '' } })).dataDir,
      join(file, '..', 'from-file'),
      'an empty variable is unset',
    );
    const flag = await loadConfig({ file: '/nonexistent/other.yaml', env }).then(
      () => 'loaded',
      (error: unknown) => (error instanceof Error ? error.message : 'not an Error'),
    );
    assert.match(flag, /other\.yaml: cannot read/, '--config wins over REGISTRY_GATE_CONFIG');
  });
  await assert.rejects(loadConfig({ env: { REGISTRY_GATE_LOG_LEVEL: 'loud' } }), { code: 'RG_ERR_CONFIG_INVALID', message: /log\.level/ });
});

test('no file: the embedded default under ./data', async () => {
  const config = await loadConfig({ env: {} });
  assert.equal(config.upstream, undefined);
  assert.equal(config.tls.mode, 'auto');
  assert.equal(config.storage.root, join(process.cwd(), 'data', 'registry'));
  assert.equal(config.auth.htpasswdIsDefault, true);
});

test('workers: auto is one per core on 3+ cores, else one; the built-in registry takes any number', async () => {
  const { autoWorkers } = await import('../../src/config/load.js');
  assert.equal(autoWorkers(8), 8);
  assert.equal(autoWorkers(3), 3);
  assert.equal(autoWorkers(2), 1);
  await withConfig('workers: 2\n', async (file) => {
    const config = await loadConfig({ file, env: {} });
    assert.equal(config.upstream, undefined);
    assert.equal(config.workers, 2);
  });
});

test('REGISTRY_GATE_CONFIG names the config file when no --config is given; --config wins; empty is unset', async () => {
  await withConfig('dataDir: ./from-env\n', async (file) => {
    const fromEnv = await loadConfig({ env: { REGISTRY_GATE_CONFIG: file } });
    assert.equal(fromEnv.source, file);
    assert.equal(fromEnv.dataDir, join(file, '..', 'from-env'));
    await withConfig('dataDir: ./from-flag\n', async (flagged) => {
      assert.equal((await loadConfig({ file: flagged, env: { REGISTRY_GATE_CONFIG: file } })).source, flagged);
    });
    assert.equal((await loadConfig({ env: { REGISTRY_GATE_CONFIG: '' } })).source, undefined);
    await assert.rejects(loadConfig({ env: { REGISTRY_GATE_CONFIG: `${file}.missing` } }), {
      code: 'RG_ERR_CONFIG_UNREADABLE',
      message: /cannot read: ENOENT/,
    });
  });
});

test('redis: optional; a bad URL is refused without repeating it (it may hold a password); tls.ca is resolved', async () => {
  await withConfig(`redis: { url: "rediss://:s3cret-pw@redis.internal:6380/2", tls: { ca: certs/redis-ca.pem } }\n`, async (file) => {
    const config = await loadConfig({ file, env: {} });
    assert.ok(config.redis);
    assert.equal(config.redis.url, 'rediss://:s3cret-pw@redis.internal:6380/2');
    assert.equal(config.redis.keyPrefix, undefined, "none given: the deployment's own is derived at start (auth/deployment-key.ts)");
    assert.equal(config.redis.commandTimeout, 1000);
    assert.deepEqual(config.redis.tls, { ca: join(file, '..', 'certs', 'redis-ca.pem') });
  });
  await withConfig('listen: "127.0.0.1:5043"\n', async (file) => {
    assert.equal((await loadConfig({ file, env: {} })).redis, undefined, 'without it, nothing is shared');
  });
  const message = await problem('redis: { url: "http://:s3cret-pw@redis.internal:6379" }\n');
  assert.match(message, /redis\.url: expected redis:\/\//);
  assert.ok(!message.includes('s3cret-pw'), message);
  assert.match(await problem('redis: { url: "redis://localhost:6379", keyPrefix: "has space" }\n'), /redis\.keyPrefix/);
  assert.match(await problem('redis: { url: "redis://localhost:6379", cluster: true }\n'), /unknown key\(s\): cluster/);
});
