/**
 * What the federation tests share: three issuers (GitHub-, GitLab- and Kubernetes-shaped tokens),
 * each over TLS with its own CA, the trust policies and access rules that name them, and a gate
 * started with them.
 */
import { join } from 'node:path';
import type { AccessRuleConfig } from '../../src/config/schema.js';
import { startGate, type TestGate } from './gate.js';
import { startIssuer, type TestIssuer } from './oidc-issuer.js';
import type { TlsPair } from './tls.js';

export const AUDIENCE = 'https://registry.test';

export interface Issuers {
  readonly github: TestIssuer;
  readonly gitlab: TestIssuer;
  readonly kubernetes: TestIssuer;
  stop(): Promise<void>;
}

export async function startIssuers(dir: string): Promise<Issuers> {
  const github = await startIssuer(join(dir, 'github'));
  const gitlab = await startIssuer(join(dir, 'gitlab'), { path: '/gitlab' });
  const kubernetes = await startIssuer(join(dir, 'kubernetes'));
  return {
    github,
    gitlab,
    kubernetes,
    async stop() {
      await Promise.all([github.stop(), gitlab.stop(), kubernetes.stop()]);
    },
  };
}

/** The trust policies of the three issuers: GitHub jobs of octo-org, GitLab jobs of group `acme` on protected refs, pods of namespace `apps`. */
export function trustPolicies(issuers: Issuers): Record<string, unknown>[] {
  return [
    {
      name: 'github',
      issuer: issuers.github.url,
      audience: AUDIENCE,
      ca: issuers.github.tls.caFile,
      conditions: { repository_owner: 'octo-org', ref: 'refs/heads/*' },
      user: 'gh:${claims.repository}',
      groups: ['github-ci'],
    },
    {
      name: 'gitlab',
      issuer: issuers.gitlab.url,
      audience: AUDIENCE,
      ca: issuers.gitlab.tls.caFile,
      conditions: { namespace_path: 'acme', ref_protected: 'true' },
      user: 'gl:${claims.project_path}',
      groups: ['gitlab-ci'],
      maxTokenLifetime: '2m',
    },
    {
      name: 'kubernetes',
      issuer: issuers.kubernetes.url,
      audience: AUDIENCE,
      ca: issuers.kubernetes.tls.caFile,
      conditions: { sub: 'system:serviceaccount:apps:*' },
      user: 'k8s:${claims.sub}',
      groups: ['k8s-pull'],
    },
  ];
}

export const FEDERATION_RULES: AccessRuleConfig[] = [
  { repository: 'ci/${claims.repository}/**', actions: ['pull', 'push'], subjects: ['group:github-ci'] }, // 0
  { repository: 'gitlab/${claims.project_path}/**', actions: ['pull', 'push'], subjects: ['group:gitlab-ci'] }, // 1
  { repository: 'ci/**', actions: ['pull'], subjects: ['group:k8s-pull'] }, // 2
  { repository: '**', actions: ['pull', 'push'], subjects: ['user:admin'] }, // 3
];

export const ADMIN = { user: 'admin', password: 'admin-pw-federation' };

/** A gate trusting the three issuers, with the rules above, an audit file and `extra` config. */
export function startFederatedGate(dir: string, tls: TlsPair, issuers: Issuers, extra: Record<string, unknown> = {}): Promise<TestGate> {
  const { auth, ...rest } = extra;
  return startGate({
    dir,
    tls,
    users: { [ADMIN.user]: ADMIN.password },
    bcryptCost: 4,
    config: {
      access: FEDERATION_RULES,
      audit: { enabled: true, file: join(dir, 'audit.log') },
      auth: { federation: trustPolicies(issuers), ...(auth as Record<string, unknown> | undefined) },
      ...rest,
    },
  });
}
