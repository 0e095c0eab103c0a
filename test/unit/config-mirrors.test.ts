/** The `mirrors` section: what a valid mirror is, and clear errors for overlaps and a misplaced stripPrefix. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig, ConfigError } from '../../src/config/load.js';

function problem(mirrors: unknown[]): string {
  try {
    buildConfig({ mirrors }, '/etc/registry-gate', undefined);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail('the config was accepted');
}

test('a mirror: paths resolved against the config, the url without its trailing slash, defaults', () => {
  const config = buildConfig(
    {
      mirrors: [
        {
          repository: 'hub/**',
          url: 'https://registry-1.docker.io/',
          stripPrefix: 'hub/',
          credentialsFile: 'hub-login',
          namespace: 'docker.io',
        },
      ],
    },
    '/etc/registry-gate',
    undefined,
  );
  const [mirror] = config.mirrors;
  assert.equal(mirror?.url, 'https://registry-1.docker.io');
  assert.equal(mirror.credentialsFile, '/etc/registry-gate/hub-login');
  assert.equal(mirror.timeout, 60_000);
  assert.equal(mirror.connections, 16);
});

test('overlapping patterns, a stripPrefix that is not the literal start, a namespace twice: each named', () => {
  assert.match(
    problem([
      { repository: 'hub/**', url: 'https://a.example' },
      { repository: 'hub/library/**', url: 'https://b.example' },
    ]),
    /mirrors\.1\.repository: hub\/library\/\*\* overlaps mirrors\[0\]\.repository hub\/\*\*/,
  );
  assert.match(
    problem([
      { repository: '**', url: 'https://a.example' },
      { repository: 'quay/**', url: 'https://b.example' },
    ]),
    /overlaps/,
  );
  assert.match(
    problem([{ repository: 'hub/**', url: 'https://a.example', stripPrefix: 'quay/' }]),
    /mirrors\.0\.stripPrefix: quay\/ is not the literal beginning/,
  );
  assert.match(
    problem([{ repository: 'hub/**', url: 'https://a.example', stripPrefix: 'hub' }]),
    /mirrors\.0\.stripPrefix: one or more name components/,
  );
  assert.match(problem([{ repository: 'hub/**', url: 'https://a.example', stripPrefix: '../' }]), /mirrors\.0\.stripPrefix/);
  assert.match(
    problem([
      { repository: 'hub/**', url: 'https://a.example', namespace: 'docker.io' },
      { repository: 'quay/**', url: 'https://b.example', namespace: 'docker.io' },
    ]),
    /mirrors\.1\.namespace: docker\.io is mirrors\[0\]'s namespace already/,
  );
  assert.match(
    problem([{ repository: 'hub/${user}/**', url: 'https://a.example' }]),
    /mirrors\.0\.repository: a mirror pattern takes no placeholders/,
  );
  assert.match(problem([{ repository: 'hub/**', url: 'https://user:pw@a.example' }]), /mirrors\.0\.url/);
  assert.match(
    problem([{ repository: 'hub/**', url: 'https://a.example/v2' }]),
    /mirrors\.0\.url: expected http\(s\):\/\/HOST\[:PORT\], without a path/,
  );
  assert.doesNotMatch(problem([{ repository: 'hub/**', url: 'https://user:pw@a.example' }]), /pw/);
});
