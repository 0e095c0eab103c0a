/**
 * docs/config.md is rendered from the config schema (src/config/docs.ts). These tests keep the
 * two together: the committed file is what the schema renders now, every key has a meaning, and
 * every key a real config uses — a full example, and each example of README.md and the guide in
 * docs/ — has its row.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parse } from 'yaml';
import { CONFIG_DOCS_COMMAND, CONFIG_DOCS_FILE, configSections, renderConfigDocs } from '../../src/config/docs.js';
import { configSchema } from '../../src/config/schema.js';

const ROOT = new URL('../../../', import.meta.url);

/** Every key as the docs' tables show it: path → type. */
function documentedKeys(markdown: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const match of markdown.matchAll(/^\| `([^`]+)` \| ([^|]*(?:\\\|[^|]*)*) \|/gm)) keys.set(match[1]!, match[2]!.trim());
  return keys;
}

/** The key paths a config value uses; list elements are `[]`, and a map's own keys (group names) are values, not keys. */
function keyPaths(value: unknown, documented: ReadonlyMap<string, string>, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((element) => (isMapping(element) ? keyPaths(element, documented, `${path}[]`) : []));
  if (!isMapping(value)) return [];
  if (documented.get(path)?.startsWith('map')) return [];
  return Object.entries(value).flatMap(([key, inner]) => {
    const innerPath = path === '' ? key : `${path}.${key}`;
    return [innerPath, ...keyPaths(inner, documented, innerPath)];
  });
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function assertValidAndDocumented(config: unknown, documented: ReadonlyMap<string, string>, what: string): void {
  const parsed = configSchema.safeParse(config);
  assert.ok(parsed.success, `${what} does not validate: ${parsed.error?.message ?? ''}`);
  const missing = keyPaths(config, documented).filter((path) => !documented.has(path));
  assert.deepEqual(missing, [], `${what}: keys missing from ${CONFIG_DOCS_FILE}`);
}

/** Sets every key the schema has, save the alternatives of one choice (those are in ALTERNATIVES). */
const FULL_EXAMPLE = `
workers: 4
listen: "0.0.0.0:5043"
tls: { cert: auth/domain.crt, key: auth/domain.key }
dataDir: ./data
upstream: { url: "https://registry.internal:5000", timeout: 900s, connections: 64, ca: auth/upstream-ca.pem, auth: token, cache: true }
storage: { root: ./data/registry, uploadMaxAge: 24h }
cache: { dir: ./data/cache, maxSize: 20GiB, tagTtl: 30s }
events:
  webhooks:
    - { name: ci, url: "https://ci.internal/hook", secretFile: auth/ci.secret, actions: [push, delete], repositories: ["team-a/**"], format: distribution, ca: auth/ci-ca.pem, timeout: 10s }
  queue: { maxEvents: 100000 }
  maxAttempts: 12
  retryDelay: 1s
  maxRetryDelay: 5m
  maxDeadLetters: 10000
  source: "registry-gate://gate-1"
mirrors:
  - { repository: "hub/**", url: "https://registry-1.docker.io", stripPrefix: hub/, namespace: docker.io, credentialsFile: auth/hub-login, ca: auth/hub-ca.pem, timeout: 60s, connections: 16 }
trustedProxies: ["10.0.0.0/8", "::1"]
redis:
  url: "rediss://redis.internal:6379/0"
  tls: { ca: auth/redis-ca.pem, servername: redis.internal }
  keyPrefix: "registry-gate:"
  commandTimeout: 1s
auth:
  realm: Registry realm
  scheme: bearer
  token:
    issuer: registry-gate
    service: registry.example.com
    realm: https://registry.example.com/auth/token
    keyDir: ./data/token
    algorithm: ES256
    expiresIn: 300s
    refreshExpiresIn: 30d
    robots: ./data/token/robots.json
  providers: [htpasswd, ldap]
  htpasswd: auth/nginx.htpasswd
  ldap:
    url: ldap://ldap.example.com
    startTls: true
    bindDN: "cn=registry,ou=services,dc=example,dc=com"
    bindPasswordFile: auth/ldap-bind-password
    userBase: "ou=people,dc=example,dc=com"
    userFilter: "(&(objectClass=inetOrgPerson)(uid={user}))"
    userNameAttribute: uid
    groupAttribute: memberOf
    groupSearch: { base: "ou=groups,dc=example,dc=com", filter: "(&(objectClass=groupOfNames)(member={dn}))", nameAttribute: cn }
    tls: { ca: auth/ldap-ca.pem, rejectUnauthorized: true, servername: ldap.example.com }
    timeout: 5s
    poolSize: 4
  trustedHeader: { user: X-Forwarded-User, groups: X-Forwarded-Groups }
  oidc:
    issuer: https://sso.example.com/realms/main
    clientId: registry-gate
    clientSecretFile: auth/oidc-client-secret
    scopes: [openid, profile, groups, offline_access]
    usernameClaim: preferred_username
    groupsClaim: groups
    ca: auth/sso-ca.pem
    name: Example SSO
    redirectUrl: https://registry.example.com/ui/oidc/callback
    passwordLogin: false
    recheckInterval: 15m
    timeout: 10s
    stateDir: /srv/registry-gate/shared/oidc
  tokens: { enabled: true, maxLifetime: 90d, maxPerUser: 50, store: ./data/tokens/personal-tokens.json }
  groupFile: auth/groups
  federation:
    - name: github
      issuer: https://token.actions.githubusercontent.com
      audience: https://registry.example.com
      ca: auth/issuer-ca.pem
      conditions: { repository_owner: octo-org, ref: "refs/heads/*" }
      user: "gh:\${claims.repository}"
      groups: [github-ci, "gh-\${claims.repository_owner}"]
      maxTokenLifetime: 10m
  throttle:
    enabled: true
    maxFailuresPerAccount: 5
    maxFailuresPerIp: 20
    maxFailuresPerAccountPerHour: 100
    baseDelay: 1s
    maxDelay: 15m
    forgetAfter: 1h
    rememberSuccess: 24h
    ipv6Prefix: 64
    maxTrackedKeys: 10000
  cacheTtl: 60s
  cacheSize: 10000
groups: { pushers: [alice], release-managers: [carol] }
access:
  - { repository: "\${group}/**", actions: [pull, push], subjects: [authenticated], protectedTags: ["v*", latest] }
signatures:
  - { name: production, repository: "prod/**", keys: [keys/cosign.pub], mode: enforce, referrers: true }
clients: { rejectLegacyDocker: true }
catalog: { scanLimit: 10000 }
ui: { enabled: true, adminGroup: admins, sessionTtl: 12h }
metrics: { listen: "127.0.0.1:5044" }
audit:
  enabled: true
  file: stdout
  syslog:
    { address: "siem.example.com:6514", transport: tls, ca: siem-ca.pem, format: structured, facility: authpriv, appName: registry-gate, hostname: gate-1, maxMessageSize: 8192, bufferSize: 8MiB }
log: { level: info, format: json, access: true }
server:
  shutdownGrace: 30s
  headersTimeout: 20s
  handshakeTimeout: 10s
  bodyTimeout: 10s
  requestTimeout: 60s
  idleTimeout: 900s
  keepAliveTimeout: 65s
  maxConnections: 4096
  maxConnectionsPerClient: 256
`;

/** The other side of each choice FULL_EXAMPLE makes. */
const ALTERNATIVES = `
tls: { auto: { names: [registry.example.com, 10.0.0.5] } }
auth:
  ldap: { url: "ldaps://dc1.corp.example.com:636", bindDN: "cn=registry", bindPasswordEnv: LDAP_BIND_PASSWORD, userBase: "dc=corp" }
`;

test(`${CONFIG_DOCS_FILE} is what the schema renders (regenerate it with ${CONFIG_DOCS_COMMAND})`, async () => {
  const committed = await readFile(new URL(CONFIG_DOCS_FILE, ROOT), 'utf8');
  assert.ok(
    committed === renderConfigDocs(),
    `${CONFIG_DOCS_FILE} differs from what the config schema renders: run \`${CONFIG_DOCS_COMMAND}\` and commit the result`,
  );
});

test('the document says it is generated, and by which command', () => {
  const [title, , generated] = renderConfigDocs().split('\n');
  assert.equal(title, '# Configuration reference');
  assert.match(generated ?? '', new RegExp(`^Generated from the config schema .* by \`${CONFIG_DOCS_COMMAND}\``));
});

test('every key of the schema has a meaning and a type, and appears once', () => {
  const keys = configSections().flatMap((section) => section.keys);
  const undescribed = keys.filter((key) => key.description.trim() === '').map((key) => key.path);
  assert.deepEqual(undescribed, [], 'keys without a description in the schema');
  assert.deepEqual(
    keys.filter((key) => key.type === '' || key.type === 'any').map((key) => key.path),
    [],
  );
  assert.equal(new Set(keys.map((key) => key.path)).size, keys.length, 'a key in two tables');
});

test('sections: the top level, each top-level section and the sections inside those, each its own table', () => {
  const sections = configSections().map((section) => section.path);
  assert.equal(sections[0], '');
  for (const expected of ['upstream', 'storage', 'redis', 'auth', 'auth.token', 'auth.ldap', 'auth.throttle', 'access', 'ui', 'server'])
    assert.ok(sections.includes(expected), `no table for ${expected}`);
  // Deeper objects stay in their parent's table, and a union's objects (tls: {cert, key}) in the key's.
  assert.ok(!sections.includes('auth.ldap.tls') && !sections.includes('tls.auto'));
  const markdown = renderConfigDocs();
  assert.equal((markdown.match(/^## /gm) ?? []).length, sections.length);
});

test('types, defaults and units read as in YAML', () => {
  const keys = documentedKeys(renderConfigDocs());
  const row = (path: string) =>
    configSections()
      .flatMap((section) => section.keys)
      .find((key) => key.path === path);
  assert.equal(keys.get('server.idleTimeout'), 'duration');
  assert.equal(row('server.idleTimeout')?.default, '`900s`');
  assert.equal(keys.get('listen'), 'HOST:PORT');
  assert.equal(row('listen')?.default, '`0.0.0.0:5043`');
  assert.equal(row('auth.ldap.url')?.default, 'required');
  assert.equal(row('storage.root')?.default, '`dataDir/registry`');
  assert.equal(row('tls')?.default, '`auto`');
  assert.equal(keys.get('log.level'), '`fatal`, `error`, `warn`, `info`, `debug`, `trace`, `silent`');
  assert.equal(keys.get('auth.throttle.ipv6Prefix'), 'integer, 32–128');
});

test('every key of a full example config, and of its alternatives, is documented', () => {
  const documented = documentedKeys(renderConfigDocs());
  assertValidAndDocumented(parse(FULL_EXAMPLE), documented, 'the full example');
  assertValidAndDocumented(parse(ALTERNATIVES), documented, 'the alternatives');
  // The example is full: every documented key is one it (or its alternatives) sets.
  const used = new Set([...keyPaths(parse(FULL_EXAMPLE), documented), ...keyPaths(parse(ALTERNATIVES), documented)]);
  assert.deepEqual(
    [...documented.keys()].filter((path) => !used.has(path)),
    [],
  );
});

/** README.md and every page of the guide (docs/*.md), as [path, text]. */
async function guidePages(): Promise<Array<[string, string]>> {
  const pages = [
    'README.md',
    ...(await readdir(new URL('docs/', ROOT))).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`),
  ];
  return Promise.all(pages.map(async (page): Promise<[string, string]> => [page, await readFile(new URL(page, ROOT), 'utf8')]));
}

test('every registry-gate config among the examples of README.md and docs/ validates, and its keys are documented', async () => {
  const documented = documentedKeys(renderConfigDocs());
  const blocks = (await guidePages()).flatMap(([page, markdown]) =>
    [...markdown.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((match, index) => ({
      where: `${page}, yaml block ${index + 1}`,
      config: parse(match[1]!) as unknown,
    })),
  );
  // Other tools' files (a CI workflow, the kubelet's config) are fenced ```yml and not read here.
  // Two examples are Distribution's config.yml, not registry-gate's.
  const isDistributionConfig = (block: unknown) =>
    isMapping(block) &&
    ('version' in block || (isMapping(block.auth) && isMapping(block.auth.token) && 'rootcertbundle' in block.auth.token));
  const ours = blocks.filter((block) => !isDistributionConfig(block.config));
  assert.equal(blocks.length - ours.length, 2);
  assert.ok(ours.length >= 8, `only ${ours.length} examples found`);
  for (const { where, config } of ours) assertValidAndDocumented(config, documented, where);
});
