/**
 * A small OIDC issuer for the federation tests, built on `jose` and served over TLS (`node:https`,
 * a certificate from its own test CA, tls.ts): `/.well-known/openid-configuration` and the JWKS it
 * names, and tokens minted in the shapes GitHub Actions, GitLab CI and Kubernetes (a projected
 * service-account token) hand a job. Its signing key can be rotated mid-test; it counts the
 * requests it answers (so a test can see how often the gateway asks), and can be made slow.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';
import { makeTlsPair, type TlsPair } from './tls.js';

interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export interface MintOptions {
  /** Seconds from now; default 300. */
  readonly expiresIn?: number;
  /** Seconds from now (negative: in the past); default -5. */
  readonly issuedAt?: number;
  readonly notBefore?: number;
  /** The header's kid; default the current key's. */
  readonly kid?: string;
  /** Sign with this key instead of the issuer's current one. */
  readonly key?: CryptoKey;
  readonly alg?: string;
  /** Overrides the issuer's own `iss`. */
  readonly issuer?: string;
}

export interface TestIssuer {
  /** https://127.0.0.1:PORT/… (the `iss` of its tokens). */
  readonly url: string;
  readonly tls: TlsPair;
  /** Requests answered, by path. */
  readonly requests: Map<string, number>;
  /** Delay every answer by this long (ms); 0 by default. */
  delayMs: number;
  /** Signs `claims` (plus iss, iat, exp, nbf unless overridden) with the current key. */
  mint(claims: JWTPayload, options?: MintOptions): Promise<string>;
  /** A new current key; the JWKS serves it, and the old one too unless `dropOld`. */
  rotate(dropOld?: boolean): Promise<void>;
  /** The current key's public JWK. */
  publicJwk(): JWK;
  /** The current private key (to sign a token "from" another issuer with it). */
  signingKey(): CryptoKey;
  /** Shaped as GitHub Actions' ID token for `repository` (owner/name) on `ref`. */
  github(repository: string, audience: string, extra?: JWTPayload, options?: MintOptions): Promise<string>;
  /** Shaped as GitLab CI's `id_tokens` for `projectPath` (group/project). */
  gitlab(projectPath: string, audience: string, extra?: JWTPayload, options?: MintOptions): Promise<string>;
  /** Shaped as a Kubernetes projected service-account token. */
  kubernetes(namespace: string, serviceAccount: string, audience: string, options?: MintOptions): Promise<string>;
  stop(): Promise<void>;
}

async function newKey(index: number): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid: `key-${index}`, alg: 'RS256', use: 'sig' };
  return { kid: `key-${index}`, privateKey, publicJwk };
}

/** `path` (under the issuer URL, which may itself have a path) → the issuer's server. */
export async function startIssuer(dir: string, options: { path?: string } = {}): Promise<TestIssuer> {
  const tls = await makeTlsPair(join(dir, 'issuer-tls'));
  let keys: SigningKey[] = [await newKey(0)];
  let rotations = 0;
  const requests = new Map<string, number>();
  const state = { delayMs: 0 };
  let url = '';
  const server: Server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const base = new URL(url).pathname.replace(/\/$/, '');
    const answer = () => {
      if (path === `${base}/.well-known/openid-configuration`) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/jwks`, id_token_signing_alg_values_supported: ['RS256'] }));
      } else if (path === `${base}/jwks`) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keys: keys.map((key) => key.publicJwk) }));
      } else {
        res.statusCode = 404;
        res.end();
      }
    };
    if (state.delayMs > 0) setTimeout(answer, state.delayMs).unref();
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}${options.path ?? ''}`;

  const mint = async (claims: JWTPayload, mintOptions: MintOptions = {}): Promise<string> => {
    const current = keys[keys.length - 1] as SigningKey;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ nbf: now + (mintOptions.notBefore ?? -5), ...claims })
      .setProtectedHeader({ alg: mintOptions.alg ?? 'RS256', typ: 'JWT', kid: mintOptions.kid ?? current.kid })
      .setIssuer(mintOptions.issuer ?? url)
      .setIssuedAt(now + (mintOptions.issuedAt ?? -5))
      .setExpirationTime(now + (mintOptions.expiresIn ?? 300))
      .sign(mintOptions.key ?? current.privateKey);
  };

  return {
    url,
    tls,
    requests,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(value: number) {
      state.delayMs = value;
    },
    mint,
    async rotate(dropOld = false) {
      rotations += 1;
      const next = await newKey(rotations);
      keys = dropOld ? [next] : [...keys, next];
    },
    publicJwk: () => (keys[keys.length - 1] as SigningKey).publicJwk,
    signingKey: () => (keys[keys.length - 1] as SigningKey).privateKey,
    github: (repository, audience, extra = {}, mintOptions) =>
      mint(
        {
          sub: `repo:${repository}:ref:refs/heads/main`,
          aud: audience,
          repository,
          repository_owner: repository.split('/')[0],
          repository_id: '123456',
          ref: 'refs/heads/main',
          ref_type: 'branch',
          workflow: 'build',
          event_name: 'push',
          actor: 'octocat',
          run_id: '42',
          job_workflow_ref: `${repository}/.github/workflows/build.yml@refs/heads/main`,
          runner_environment: 'github-hosted',
          ...extra,
        },
        mintOptions,
      ),
    gitlab: (projectPath, audience, extra = {}, mintOptions) =>
      mint(
        {
          sub: `project_path:${projectPath}:ref_type:branch:ref:main`,
          aud: audience,
          project_path: projectPath,
          namespace_path: projectPath.split('/')[0],
          project_id: '22',
          ref: 'main',
          ref_type: 'branch',
          ref_protected: 'true',
          pipeline_source: 'push',
          user_login: 'jdoe',
          ...extra,
        },
        mintOptions,
      ),
    kubernetes: (namespace, serviceAccount, audience, mintOptions) =>
      mint(
        {
          sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
          aud: [audience],
          'kubernetes.io': {
            namespace,
            serviceaccount: { name: serviceAccount, uid: '3c9a1f0e-0000-4000-8000-000000000001' },
            pod: { name: 'app-7d9c', uid: '3c9a1f0e-0000-4000-8000-000000000002' },
          },
        },
        mintOptions,
      ),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
