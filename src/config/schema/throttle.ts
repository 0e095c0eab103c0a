/** The `auth.throttle` configuration section: brute-force protection for password checks (see auth/throttle/login-throttle.ts). */
import { z } from 'zod';
import { durationSchema } from '../duration.js';

const duration = (fallback: string) => durationSchema(fallback);

export const throttleConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Throttle failed logins; `false` turns the brute-force protection off.'),
    maxFailuresPerAccount: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(5)
      .describe("Failures of one account from one client address (IPv6: one prefix) before that client's attempts at it are delayed."),
    maxFailuresPerIp: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(20)
      .describe('Failures from one client address (IPv6: one prefix), whatever the account, before its attempts are delayed.'),
    maxFailuresPerAccountPerHour: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(100)
      .describe('Hard cap of failed password checks per account in any hour, from all clients together; at most 100 (OWASP ASVS 2.2.1).'),
    baseDelay: duration('1s').describe(
      'First delay (429 with `Retry-After`) once a threshold is reached; each further failure doubles it.',
    ),
    maxDelay: duration('15m').describe('Longest delay; not shorter than `baseDelay`.'),
    forgetAfter: duration('1h').describe('Failure counts are forgotten after this long without a new failure.'),
    rememberSuccess: duration('24h').describe(
      'A user and password pair that succeeded passes every limit for this long; `0` turns this off.',
    ),
    ipv6Prefix: z
      .number()
      .int()
      .min(32)
      .max(128)
      .default(64)
      .describe('IPv6 clients are counted per prefix of this length (one customer usually has a /64).'),
    maxTrackedKeys: z
      .number()
      .int()
      .min(10)
      .max(10_000_000)
      .default(10_000)
      .describe('Most accounts, addresses, account-and-address pairs and remembered successes tracked in memory (each).'),
  })
  .superRefine((value, ctx) => {
    if (value.maxDelay < value.baseDelay)
      ctx.addIssue({ code: 'custom', path: ['maxDelay'], message: 'must not be shorter than baseDelay' });
  });

export type ThrottleConfigInput = z.input<typeof throttleConfigSchema>;
export type ThrottleConfig = z.output<typeof throttleConfigSchema>;
