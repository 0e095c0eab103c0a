/** The `auth.throttle` configuration section: brute-force protection for password checks (see login-throttle.ts). */
import { z } from 'zod';
import { durationSchema } from '../duration.js';

const duration = (fallback: string) => durationSchema(fallback);

export const throttleConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Failures of one account from one client address (IPv6: one prefix) before that client's attempts at it are delayed. */
    maxFailuresPerAccount: z.number().int().min(1).max(1000).default(5),
    /** Failures from one client address (IPv6: one prefix), whatever the account, before its attempts are delayed. */
    maxFailuresPerIp: z.number().int().min(1).max(100_000).default(20),
    /** Hard cap of failed password checks per account in any hour, from all clients together; at most 100 (OWASP ASVS 2.2.1). */
    maxFailuresPerAccountPerHour: z.number().int().min(1).max(100).default(100),
    /** First delay once a threshold is reached; each further failure doubles it. */
    baseDelay: duration('1s'),
    maxDelay: duration('15m'),
    /** Failure counts are forgotten after this long without a new failure. */
    forgetAfter: duration('1h'),
    /** A user+password pair that succeeded is let through every limit for this long. 0 turns this off. */
    rememberSuccess: duration('24h'),
    /** IPv6 clients are counted per prefix of this length (one customer usually has a /64). */
    ipv6Prefix: z.number().int().min(32).max(128).default(64),
    /** Most accounts, addresses, account-and-address pairs and remembered successes tracked (each). */
    maxTrackedKeys: z.number().int().min(10).max(10_000_000).default(10_000),
  })
  .superRefine((value, ctx) => {
    if (value.maxDelay < value.baseDelay)
      ctx.addIssue({ code: 'custom', path: ['maxDelay'], message: 'must not be shorter than baseDelay' });
  });

export type ThrottleConfigInput = z.input<typeof throttleConfigSchema>;
export type ThrottleConfig = z.output<typeof throttleConfigSchema>;
