/**
 * The configuration schema: the one source of truth for keys, defaults and their meaning.
 * Every object is strict (unknown keys are errors); durations become milliseconds, CIDRs and
 * rules are checked here so that a bad value is reported with its key path at start-up.
 */
import { z } from 'zod';
import { durationSchema } from './duration.js';
import { parseCidr } from '../lib/ip.js';
import { repositoryPatternProblem } from '../access/pattern.js';
import { ldapConfigSchema } from '../auth/ldap/config.js';
import { throttleConfigSchema } from '../auth/throttle/config.js';
import { authSchemeSchema, tokenConfigSchema } from '../auth/token/config.js';
import { redisConfigSchema } from '../redis/config.js';

const duration = (fallback: string) => durationSchema(fallback);

const hostPort = z
  .string()
  .refine((value) => /^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/.test(value), {
    message: 'expected HOST:PORT, e.g. "0.0.0.0:5043" or "[::1]:5043"',
  })
  .refine((value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535, { message: 'the port must be from 0 to 65535' });

const cidr = z.string().refine((value) => parseCidr(value) !== undefined, { message: 'not an IP address or CIDR' });

const subject = z.string().refine((value) => /^(anonymous|authenticated|\*|user:.+|group:.+)$/.test(value), {
  message: 'expected anonymous, authenticated, *, user:NAME or group:NAME',
});

export const ACTIONS = ['pull', 'push', 'delete'] as const;
export type Action = (typeof ACTIONS)[number];
/** What a rule may grant: the request actions, and `overwrite` for its protected tags. */
export const GRANTS = [...ACTIONS, 'overwrite'] as const;
export type Grant = (typeof GRANTS)[number];

const tagPattern = z.string().refine((value) => /^[\w*?][\w.*?-]{0,127}$/.test(value), {
  message: 'expected a tag pattern such as v*, latest or release-?',
});

const accessRule = z.strictObject({
  repository: z
    .string()
    .min(1)
    .superRefine((value, ctx) => {
      const problem = repositoryPatternProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  actions: z.array(z.enum(GRANTS)).min(1),
  subjects: z.array(subject).min(1),
  /** Tags that a push through this rule may create but not move, and a delete may not remove, unless it grants `overwrite`. */
  protectedTags: z.array(tagPattern).optional(),
});

const tlsFiles = z.strictObject({ cert: z.string().min(1), key: z.string().min(1) });

export const configSchema = z.strictObject({
  /** Worker processes sharing the listening socket; `auto`: one per core on 3+ cores, else one (see autoWorkers). */
  workers: z.union([z.literal('auto'), z.number().int().min(1).max(64)]).default('auto'),
  /** Address to listen on. */
  listen: hostPort.default('0.0.0.0:5043'),
  /** `{cert, key}` PEM files; `off` for plain HTTP behind a TLS load balancer; `auto` generates a self-signed pair once under dataDir/tls. */
  tls: z
    .union([
      tlsFiles,
      z.literal('off'),
      z.literal(false).transform(() => 'off' as const),
      z.literal('auto'),
      /** `auto` with more names (host names or IP addresses) than this machine's own in the certificate. */
      z.strictObject({
        auto: z.strictObject({
          names: z.array(z.string().regex(/^[A-Za-z0-9.:*-]{1,253}$/, 'expected a host name or an IP address')).default([]),
        }),
      }),
    ])
    .default('auto'),
  /** Where first-run files (TLS pair, htpasswd) and, by default, the built-in registry live. */
  dataDir: z.string().min(1).default('./data'),
  /** Forward to this registry; without it the built-in registry serves from storage.root. */
  upstream: z
    .strictObject({
      url: z.string().refine((value) => /^https?:\/\/[^/?#]+\/?$/.test(value), { message: 'expected http(s)://HOST[:PORT]' }),
      /** Idle timeout for the upstream connection (no whole-request timeout). */
      timeout: duration('900s'),
      /** Keep-alive connections per upstream. */
      connections: z.number().int().min(1).max(1024).default(64),
      /** Verify the upstream's TLS certificate against this CA file (PEM). */
      ca: z.string().optional(),
      /**
       * `token`: the upstream checks tokens (Distribution `auth: token` trusting auth.token's key), and
       * gets the gateway's own for each request; `none`: it checks nothing; `auto`: ask it (GET /v2/).
       * Client credentials are never forwarded.
       */
      auth: z.enum(['auto', 'none', 'token']).default('auto'),
    })
    .optional(),
  storage: z
    .strictObject({
      root: z.string().min(1).optional(),
      /** Unfinished uploads older than this are deleted. */
      uploadMaxAge: duration('24h'),
    })
    .prefault({}),
  /** Peers whose forwarding headers (X-Forwarded-*, Forwarded, X-Real-IP, …) are kept; everyone else's are dropped. */
  trustedProxies: z.array(cidr).default([]),
  /** State replicas share (login throttle, protected-tag locks, revocations); without it, each process keeps its own. */
  redis: redisConfigSchema.optional(),
  auth: z
    .strictObject({
      realm: z
        .string()
        .min(1)
        .max(200)
        .refine((value) => !/["\\\r\n]/.test(value), { message: 'must not contain quotes, backslashes or newlines' })
        .default('Registry realm'),
      /** `basic`: Basic credentials on every request; `bearer`: clients get tokens from /auth/token (the Docker token flow). */
      scheme: authSchemeSchema,
      /** The token service (/auth/token, /auth/jwks); on in bearer mode or when this section is present. */
      token: tokenConfigSchema.optional(),
      /** Password providers, asked in order; the first that knows the user decides. Default: htpasswd, then ldap when configured. */
      providers: z
        .array(z.enum(['htpasswd', 'ldap']))
        .min(1)
        .optional(),
      htpasswd: z.string().min(1).optional(),
      ldap: ldapConfigSchema.optional(),
      /** Users and groups from an SSO proxy, honoured only from trustedProxies. */
      trustedHeader: z
        .strictObject({
          user: z.string().regex(/^[A-Za-z0-9-]+$/, 'expected a header name'),
          groups: z
            .string()
            .regex(/^[A-Za-z0-9-]+$/, 'expected a header name')
            .optional(),
        })
        .optional(),
      /** Apache AuthGroupFile (`group: member member`), merged with `groups`, re-read on change. */
      groupFile: z.string().min(1).optional(),
      throttle: throttleConfigSchema.prefault({}),
      /** How long a verified user+password pair is trusted without a new hash check. */
      cacheTtl: duration('60s'),
      cacheSize: z.number().int().min(0).max(1_000_000).default(10_000),
    })
    .prefault({}),
  groups: z.record(z.string().min(1), z.array(z.string().min(1))).default({}),
  /** Grant-only rules; omitted: authenticated users may pull and push, nobody else anything. */
  access: z.array(accessRule).optional(),
  clients: z.strictObject({ rejectLegacyDocker: z.boolean().default(true) }).prefault({}),
  /** The filtered catalog (GET /v2/_catalog). */
  catalog: z
    .strictObject({
      /** Repository names one request looks at, at most; past it the page is answered short, with a Link to go on. */
      scanLimit: z.number().int().min(1).max(1_000_000).default(10_000),
    })
    .prefault({}),
  /** The web UI at /ui/ on the main listener (`/` redirects there): browse and act through the same rules as /v2/. */
  ui: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Members of this group manage robot accounts in the UI; without it nobody does. */
      adminGroup: z.string().min(1).optional(),
      /** How long a UI login lasts (the session cookie's expiry). */
      sessionTtl: duration('12h'),
    })
    .prefault({}),
  /**
   * Prometheus metrics (`GET /metrics`) on a listener of their own, plain HTTP; off without this
   * section. The default address is loopback: to scrape from elsewhere, listen on a reachable one.
   */
  metrics: z.strictObject({ listen: hostPort.default('127.0.0.1:5044') }).optional(),
  /** One JSON line per state-changing or denied request: `stdout`, or a file (reopened on SIGHUP for rotation). */
  audit: z
    .strictObject({
      enabled: z.boolean().default(true),
      file: z.string().min(1).default('stdout'),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      format: z.enum(['json', 'pretty']).optional(),
      /** Access log on/off. */
      access: z.boolean().default(true),
    })
    .prefault({}),
  server: z
    .strictObject({
      /** How long in-flight requests may run after SIGTERM. */
      shutdownGrace: duration('30s'),
      /** Time allowed for a client to send request headers (slow-header attacks). */
      headersTimeout: duration('20s'),
      /** Idle socket timeout while a request is in progress (no whole-request limit). */
      idleTimeout: duration('900s'),
      keepAliveTimeout: duration('65s'),
    })
    .prefault({}),
});

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
export type AccessRuleConfig = z.output<typeof accessRule>;
