/**
 * The shared registry contract through the whole gateway (TLS, Basic auth, access rules, headers),
 * once with the built-in registry behind it and once with CNCF Distribution 2.8 (and again with the
 * content cache in front of it, `upstream.cache`): the same suite, so differences between the
 * backends are visible, and the cache must answer as Distribution does.
 */
import { before, after, describe } from 'node:test';
import { join } from 'node:path';
import { registerContractSuite } from '../helpers/contract.js';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';

const USER = { user: 'contract', password: 'contract-secret-9' };
const everything = [{ repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] }];

let dir: string;
let tls: TlsPair;
let distribution: RunningDistribution;
let builtinGate: TestGate;
let distributionGate: TestGate;
let cachedGate: TestGate;

before(async () => {
  dir = await makeTempDir('rg-contract-gw-');
  tls = await makeTlsPair(join(dir, 'tls'));
  distribution = await startDistribution({ dir: join(dir, 'distribution') });
  const users = { [USER.user]: USER.password };
  builtinGate = await startGate({ dir: join(dir, 'builtin'), tls, users, config: { access: everything, audit: { enabled: false } } });
  distributionGate = await startGate({
    dir: join(dir, 'upstream'),
    tls,
    users,
    config: { access: everything, audit: { enabled: false }, upstream: { url: distribution.url } },
  });
  cachedGate = await startGate({
    dir: join(dir, 'cached'),
    tls,
    users,
    config: { access: everything, audit: { enabled: false }, upstream: { url: distribution.url, cache: true } },
  });
});

after(async () => {
  await builtinGate.stop();
  await distributionGate.stop();
  await cachedGate.stop();
  await distribution.stop();
  await removeDir(dir);
});

describe('through the gateway', () => {
  registerContractSuite('gateway + built-in registry', () => ({
    baseUrl: builtinGate.url,
    authHeader: basic(USER.user, USER.password),
    dispatcher: builtinGate.dispatcher,
    backend: 'builtin',
  }));
  registerContractSuite('gateway + Distribution 2.8', () => ({
    baseUrl: distributionGate.url,
    authHeader: basic(USER.user, USER.password),
    dispatcher: distributionGate.dispatcher,
    backend: 'distribution',
  }));
  registerContractSuite('gateway with its content cache + Distribution 2.8', () => ({
    baseUrl: cachedGate.url,
    authHeader: basic(USER.user, USER.password),
    dispatcher: cachedGate.dispatcher,
    backend: 'distribution',
  }));
});
