/** What a config reload applies live, and what keeps its running value until a restart. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig } from '../../src/config/load.js';
import { planReload } from '../../src/config/changes.js';

const base = {
  listen: '127.0.0.1:5043',
  tls: 'off',
  dataDir: '/srv/gate',
  upstream: { url: 'http://127.0.0.1:5000' },
  access: [{ repository: '**', actions: ['pull'], subjects: ['authenticated'] }],
  groups: { pushers: ['alice'] },
};
const config = (changes: Record<string, unknown> = {}) => buildConfig({ ...base, ...changes }, '/etc/gate', '/etc/gate/gate.yaml');

test('an unchanged config changes nothing', () => {
  const plan = planReload(config(), config());
  assert.deepEqual(plan.changed, []);
  assert.deepEqual(plan.needsRestart, []);
});

test('rules, groups, upstream and token settings apply live', () => {
  const next = config({
    access: [{ repository: '**', actions: ['pull', 'push'], subjects: ['group:pushers'] }],
    groups: { pushers: ['bob'] },
    upstream: { url: 'http://127.0.0.1:5001' },
    auth: { token: { service: 'other' } },
  });
  const plan = planReload(config(), next);
  assert.deepEqual([...plan.changed].sort(), ['access', 'auth', 'groups', 'upstream']);
  assert.deepEqual(plan.needsRestart, []);
  assert.equal(plan.effective.upstream?.url, 'http://127.0.0.1:5001');
  // No auth.htpasswd: the first-run admin stays in admins beside the new group.
  assert.deepEqual(plan.effective.groups, { admins: ['admin'], pushers: ['bob'] });
  assert.equal(plan.effective.auth.token.service, 'other');
});

test('listen, workers, tls, dataDir, storage, server, metrics and log setup need a restart and keep their running values', () => {
  const running = config();
  const next = config({
    listen: '127.0.0.1:6043',
    workers: 2,
    tls: { cert: 'cert.pem', key: 'key.pem' },
    dataDir: '/srv/other',
    storage: { uploadMaxAge: '1h' },
    server: { shutdownGrace: '5s' },
    metrics: { listen: '127.0.0.1:9999' },
    log: { level: 'debug', format: 'pretty', access: false },
    access: [{ repository: 'x/**', actions: ['pull'], subjects: ['*'] }],
  });
  const plan = planReload(running, next);
  assert.deepEqual([...plan.needsRestart].sort(), [
    'dataDir',
    'listen',
    'log.format',
    'log.level',
    'metrics',
    'server',
    'storage',
    'tls',
    'workers',
  ]);
  const { effective } = plan;
  assert.equal(effective.listen, running.listen);
  assert.equal(effective.workers, running.workers);
  assert.deepEqual(effective.tls, running.tls);
  assert.equal(effective.dataDir, running.dataDir);
  assert.deepEqual(effective.storage, running.storage);
  assert.deepEqual(effective.server, running.server);
  assert.equal(effective.metrics, undefined);
  assert.equal(effective.log.level, running.log.level);
  assert.equal(effective.log.format, running.log.format);
  // …and the rest of the new config applies.
  assert.equal(effective.log.access, false);
  assert.deepEqual(effective.access, next.access);
  assert.ok(plan.changed.includes('access') && plan.changed.includes('log.access'));
});

test('switching between an upstream and the built-in registry needs a restart', () => {
  const running = config();
  const { upstream: _dropped, ...builtin } = base;
  const plan = planReload(running, buildConfig(builtin, '/etc/gate', '/etc/gate/gate.yaml'));
  assert.ok(plan.needsRestart.includes('upstream'));
  assert.deepEqual(plan.effective.upstream, running.upstream);
});
