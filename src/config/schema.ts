/**
 * The configuration schema: the one source of truth for keys, defaults and their meaning. Every
 * key carries its description here, and docs/config.md is rendered from it (config/docs.ts).
 * Every object is strict (unknown keys are errors); durations become milliseconds, CIDRs and
 * rules are checked here so that a bad value is reported with its key path at start-up.
 */
import { z } from 'zod';
import { durationSchema } from './duration.js';
import { parseCidr } from '../lib/ip.js';
import { repositoryPatternProblem } from './schema/repository-pattern.js';
import { placeholderProblem } from './schema/claim-template.js';
import { ldapConfigSchema } from './schema/ldap.js';
import { throttleConfigSchema } from './schema/throttle.js';
import { authSchemeSchema, tokenConfigSchema } from './schema/token.js';
import { redisConfigSchema } from './schema/redis.js';
import { oidcConfigSchema } from './schema/oidc.js';
import { personalTokensConfigSchema } from './schema/personal-tokens.js';
import { cacheConfigSchema } from './schema/cache.js';
import { eventsConfigSchema } from './schema/events.js';
import { mirrorsSchema } from './schema/mirrors.js';
import { serverConfigSchema } from './schema/server.js';
import { filePath } from './schema/file-path.js';
import { federationSchema } from './schema/federation.js';
import { signaturesConfigSchema } from './schema/signatures.js';
import { syslogConfigSchema } from './schema/syslog.js';
import { GRANTS } from '../oci/actions.js';

const duration = (fallback: string) => durationSchema(fallback);

const hostPort = z
  .string()
  .refine((value) => /^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/.test(value), {
    error: 'expected HOST:PORT, e.g. "0.0.0.0:5043" or "[::1]:5043"',
    // A value that is no HOST:PORT has no port to range-check.
    abort: true,
  })
  .refine((value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535, { error: 'the port must be from 0 to 65535' })
  .meta({ docType: 'HOST:PORT' });

const cidr = z
  .string()
  .refine((value) => parseCidr(value) !== undefined, { error: 'not an IP address or CIDR' })
  .meta({ docType: 'IP address or CIDR' });

const subject = z
  .string()
  .refine((value) => /^(anonymous|authenticated|\*|user:.+|group:.+)$/.test(value), {
    error: 'expected anonymous, authenticated, *, user:NAME or group:NAME',
  })
  .superRefine((value, ctx) => {
    const problem = placeholderProblem(value, { claims: true });
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ docType: 'subject' });

const tagPattern = z
  .string()
  .refine((value) => /^[\w*?][\w.*?-]{0,127}$/.test(value), {
    error: 'expected a tag pattern such as v*, latest or release-?',
  })
  .meta({ docType: 'tag pattern' });

const accessRule = z.strictObject({
  repository: z
    .string()
    .min(1)
    .superRefine((value, ctx) => {
      const problem = repositoryPatternProblem(value, { claims: true });
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .meta({
      docType: 'repository pattern',
      description:
        "Repositories the rule covers: `*` matches within one path component, `**` across components; `${user}` and `${group}` stand for the caller's user name or one of its groups, `${claims.NAME}` for a claim of a federated caller's token (a value that is not a valid repository name matches nothing). Lower case.",
    }),
  actions: z
    .array(z.enum(GRANTS))
    .min(1)
    .describe("What the rule grants. `overwrite` lets a push move, and a delete remove, the rule's protected tags."),
  subjects: z
    .array(subject)
    .min(1)
    .describe(
      "Who the rule applies to: `anonymous`, `authenticated`, `*` (everyone), `user:NAME` or `group:NAME`; `${claims.NAME}` in a name stands for a claim of a federated caller's token.",
    ),
  protectedTags: z
    .array(tagPattern)
    .optional()
    .describe(
      'Tags (globs with `*` and `?`) that a push through this rule may create but not move to another manifest, and a delete may not remove, unless `actions` includes `overwrite`.',
    ),
});

const tlsFiles = z.strictObject({
  cert: filePath.describe('PEM file with the certificate (and its chain); re-read when it changes.'),
  key: filePath.describe('PEM file with the private key; re-read when it changes.'),
});

export const configSchema = z.strictObject({
  workers: z
    .union([z.literal('auto'), z.number().int().min(1).max(64)])
    .default('auto')
    .describe('Worker processes sharing the listening socket; `auto`: one per core on 3 or more cores, else one.'),
  listen: hostPort.default('0.0.0.0:5043').describe('Address and port the registry listener binds.'),
  tls: z
    .union([
      tlsFiles,
      z.literal('off'),
      z.literal(false).transform(() => 'off' as const),
      z.literal('auto'),
      z.strictObject({
        auto: z
          .strictObject({
            names: z
              .array(z.string().regex(/^[A-Za-z0-9.:*-]{1,253}$/, 'expected a host name or an IP address'))
              .default([])
              .describe("Host names or IP addresses the generated certificate names besides this machine's own."),
          })
          .describe('`auto`, with more names in the certificate.'),
      }),
    ])
    .default('auto')
    // zod's JSON Schema leaves out the default of a union with a transform in it.
    .meta({ docDefault: '`auto`' })
    .describe(
      'TLS of the registry listener: `{cert, key}` PEM files; `off` (or `false`) for plain HTTP behind a TLS load balancer; `auto` generates a self-signed pair once under `dataDir/tls`.',
    ),
  dataDir: filePath
    .default('./data')
    .describe('Where first-run files (the TLS pair, htpasswd, token keys, UI session key) and, by default, the built-in registry live.'),
  upstream: z
    .strictObject({
      url: z
        .string()
        .refine((value) => /^https?:\/\/[^/?#]+\/?$/.test(value), { error: 'expected http(s)://HOST[:PORT]' })
        .meta({ docType: 'URL', description: 'The registry to forward to: `http(s)://HOST[:PORT]`.' }),
      timeout: duration('900s').describe('Idle timeout of the upstream connection (there is no whole-request timeout).'),
      connections: z.number().int().min(1).max(1024).default(64).describe('Keep-alive connections to the upstream, at most.'),
      ca: z
        .string()
        .optional()
        .meta({ docType: 'path' })
        .describe("PEM file with the CA(s) to verify the upstream's TLS certificate against; default: the system's."),
      auth: z
        .enum(['auto', 'none', 'token'])
        .default('auto')
        .describe(
          "Whether the upstream checks tokens: `token` (Distribution `auth: token` trusting `auth.token`'s key) gets a token of the gateway's own with each request; `none` checks nothing; `auto` asks it (`GET /v2/`). Client credentials are never forwarded.",
        ),
      cache: z
        .boolean()
        .default(false)
        .describe('Keep blobs and manifests fetched from the upstream in the content cache (`cache`) and answer from it.'),
    })
    .optional()
    .meta({
      description: 'Forward requests to this registry; without this section the built-in registry serves from `storage.root`.',
      docDefault: 'none: the built-in registry',
    }),
  storage: z
    .strictObject({
      root: filePath.optional().meta({ description: 'Where the built-in registry stores images.', docDefault: '`dataDir/registry`' }),
      uploadMaxAge: duration('24h').describe('Unfinished uploads idle for this long are deleted.'),
    })
    .prefault({})
    .describe('The built-in registry (used without `upstream`).'),
  cache: cacheConfigSchema,
  events: eventsConfigSchema,
  mirrors: mirrorsSchema,
  trustedProxies: z
    .array(cidr)
    .default([])
    .describe(
      "Peers whose forwarding headers (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`, …) and SSO headers are believed; everyone else's are dropped.",
    ),
  redis: redisConfigSchema.optional().meta({
    description:
      'State replicas share (login throttle, protected-tag locks, revocations); without this section each process keeps its own.',
    docDefault: 'none: state in each process',
  }),
  auth: z
    .strictObject({
      realm: z
        .string()
        .min(1)
        .max(200)
        .refine((value) => !/["\\\r\n]/.test(value), { error: 'must not contain quotes, backslashes or newlines' })
        .default('Registry realm')
        .describe('The realm of Basic challenges; no quotes, backslashes or newlines.'),
      scheme: authSchemeSchema,
      token: tokenConfigSchema.optional().meta({
        description: 'The token service (`/auth/token`, `/auth/jwks`); on in bearer mode or when this section is present.',
        docDefault: 'off in basic mode',
      }),
      providers: z
        .array(z.enum(['htpasswd', 'ldap']))
        .min(1)
        .optional()
        .meta({
          description: 'Password providers, asked in order; the first that knows the user decides.',
          docDefault: '`[htpasswd]`, then `ldap` when `auth.ldap` is set',
        }),
      htpasswd: filePath.optional().meta({
        description: 'The htpasswd file (bcrypt, MD5, SHA, SHA-crypt); watched, a change applies within 2 seconds.',
        docDefault: '`dataDir/htpasswd`, created with an admin user on first start',
      }),
      ldap: ldapConfigSchema.optional().meta({ description: 'LDAP or Active Directory as a password provider.', docDefault: 'none' }),
      federation: federationSchema.default([]).meta({
        description:
          'Trust policies for the OIDC tokens CI jobs and Kubernetes pods are given (GitHub Actions, GitLab CI, service accounts): such a token is accepted as a password, at `/auth/token` and by token exchange, for the user its policy names.',
        docDefault: 'none',
      }),
      trustedHeader: z
        .strictObject({
          user: z
            .string()
            .regex(/^[A-Za-z0-9-]+$/, 'expected a header name')
            .describe('Header that holds the user name.'),
          groups: z
            .string()
            .regex(/^[A-Za-z0-9-]+$/, 'expected a header name')
            .optional()
            .describe("Header that holds the user's groups, comma-separated."),
        })
        .optional()
        .meta({
          description: "Users and groups from a single sign-on proxy's headers, honoured only from `trustedProxies`.",
          docDefault: 'none',
        }),
      oidc: oidcConfigSchema.optional().meta({
        description: 'OpenID Connect sign-in for the web UI, and the re-check of its users with the provider (docs/oidc.md).',
        docDefault: 'none',
      }),
      tokens: personalTokensConfigSchema
        .prefault({})
        .describe('Personal access tokens: made by signed-in users in the web UI, used as the password by registry clients.'),
      groupFile: filePath
        .optional()
        .describe('Apache `AuthGroupFile` (`group: member member` lines), merged with `groups`; re-read when it changes.'),
      throttle: throttleConfigSchema
        .prefault({})
        .describe(
          'Brute-force protection: failed logins are counted per account and client address together, per client address and per account. Counters live in each process, or in Redis with `redis`.',
        ),
      cacheTtl: duration('60s').describe('How long a verified user and password pair is trusted without a new password check.'),
      cacheSize: z.number().int().min(0).max(1_000_000).default(10_000).describe('Verified credentials kept in the cache, at most.'),
    })
    .prefault({})
    .describe('Who the caller is: password providers, tokens, SSO headers, groups, brute-force protection.'),
  groups: z
    .record(z.string().min(1), z.array(z.string().min(1)))
    .default({})
    .meta({
      docType: 'map: group → list of user names',
      description: 'Groups defined in the config, merged with those of `auth.groupFile`, LDAP and SSO headers.',
    }),
  access: z.array(accessRule).optional().meta({
    docType: 'list of rules',
    description: 'Grant-only rules: a request is allowed when any rule that matches it grants its action.',
    docDefault: 'authenticated users may pull and push, nobody else anything',
  }),
  signatures: signaturesConfigSchema,
  clients: z
    .strictObject({
      rejectLegacyDocker: z
        .boolean()
        .default(true)
        .describe("Refuse Docker clients older than 1.6 (and Go's default User-Agent), as the nginx recipe does, with 404."),
    })
    .prefault({})
    .describe('Which clients are served.'),
  catalog: z
    .strictObject({
      scanLimit: z
        .number()
        .int()
        .min(1)
        .max(1_000_000)
        .default(10_000)
        .describe('Repository names one request looks at, at most; past it the page is answered short, with a `Link` to go on.'),
    })
    .prefault({})
    .describe('The filtered catalog (`GET /v2/_catalog`).'),
  ui: z
    .strictObject({
      enabled: z.boolean().default(true).describe('Serve the web UI; `false`: no UI, and `/` is a 404.'),
      adminGroup: z.string().min(1).optional().meta({
        description: 'Members of this group manage robot accounts in the UI.',
        docDefault: '`admins` (holding the first-run `admin`) when `auth.htpasswd` is not set; else none: nobody does',
      }),
      sessionTtl: duration('12h').describe("How long a UI login lasts (the session cookie's expiry)."),
    })
    .prefault({})
    .describe('The web UI at `/ui/` on the registry listener (`/` redirects there): browse and act through the same rules as `/v2/`.'),
  metrics: z
    .strictObject({
      listen: hostPort
        .default('127.0.0.1:5044')
        .describe('Address of the metrics listener; loopback by default: to scrape from elsewhere, listen on a reachable one.'),
    })
    .optional()
    .meta({
      description: 'Prometheus metrics (`GET /metrics`) on a listener of their own, plain HTTP.',
      docDefault: 'none: metrics off',
    }),
  audit: z
    .strictObject({
      enabled: z.boolean().default(true).describe('Write the audit trail.'),
      file: z
        .string()
        .min(1)
        .default('stdout')
        .meta({ docType: 'path or `stdout`', description: '`stdout`, or a file (reopened on SIGHUP, for rotation).' }),
      syslog: syslogConfigSchema.optional().meta({
        description: 'Also send every record to a syslog collector (RFC 5424 over TCP, TLS or UDP; [docs/syslog.md](syslog.md)).',
        docDefault: 'none',
      }),
    })
    .prefault({})
    .describe('One JSON line per state-changing or refused request.'),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Least severe level logged.'),
      format: z
        .enum(['json', 'pretty'])
        .optional()
        .meta({ description: 'How log lines are written.', docDefault: '`pretty` when stdout is a terminal, else `json`' }),
      access: z.boolean().default(true).describe('Write the access log (one line per request, health probes aside).'),
    })
    .prefault({})
    .describe('Logs on stdout: the app, access and audit streams.'),
  server: serverConfigSchema,
});

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
export type AccessRuleConfig = z.output<typeof accessRule>;
