/**
 * The `redis` configuration section: where replicas keep what they must agree on (login throttle
 * counters, protected-tag locks, revocations). Without it, all of that stays in the process.
 *
 *   redis:
 *     url: redis://:PASSWORD@redis.internal:6379/0   # or rediss:// for TLS
 *     tls: { ca: redis-ca.pem }                       # optional: a CA for rediss://, or `true`
 *     keyPrefix: "registry-gate:prod:"                # default: one derived from this deployment's key
 *     commandTimeout: 1s                              # past it Redis counts as unavailable
 *
 * The URL may carry a password; it is never logged nor echoed in an error (see `describeRedis`).
 */
import { z } from 'zod';
import { durationSchema } from '../duration.js';
import { filePath } from './file-path.js';

function isRedisUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '' && /^(\/\d{0,2})?$/.test(url.pathname);
  } catch {
    return false;
  }
}

export const redisConfigSchema = z.strictObject({
  // The message never repeats the value: it may hold a password.
  url: z.string().refine(isRedisUrl, { error: 'expected redis://[USER:PASSWORD@]HOST[:PORT][/DB] or rediss://…' }).meta({
    docType: 'URL',
    description: '`redis://[USER:PASSWORD@]HOST[:PORT][/DB]`, or `rediss://…` for TLS. The password is never logged.',
  }),
  tls: z
    .union([
      z.literal(true),
      z.strictObject({
        ca: filePath.optional().describe("PEM file with the CA that signed Redis's certificate; default: the system's CAs."),
        servername: z.string().min(1).optional().describe("Name to verify the certificate against when it differs from the URL's host."),
      }),
    ])
    .optional()
    .meta({ description: 'TLS to Redis (also implied by `rediss://`): `true`, or its settings.', docDefault: 'as the URL says' }),
  keyPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_.:/-]{1,100}$/, 'letters, digits and _ . : / - only')
    .optional()
    .meta({
      description:
        "Prefix of every key and channel. The default is this deployment's own, derived from `auth.token.keyDir/deployment.key` (which its workers and replicas share, like the token keys), so two gateways on one Redis never share throttle counters or revocations. Set it, the same on every replica, only when replicas do not share the key directory.",
      docDefault: '`registry-gate:` and an id of the deployment key',
    }),
  commandTimeout: durationSchema('1s', { positive: true }).describe(
    'Longest wait for one Redis command; past it (or on any connection failure) Redis counts as unavailable.',
  ),
});

export type RedisConfigInput = z.input<typeof redisConfigSchema>;
export type RedisConfig = z.output<typeof redisConfigSchema>;
/** The settings a connection is opened with: the key prefix decided (auth/deployment-key.ts). */
export type ResolvedRedisConfig = RedisConfig & { readonly keyPrefix: string };

/** `redis://host:port/db` without user name or password: what logs and errors may show. */
export function describeRedis(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return 'redis (unparsable URL)';
  }
}
