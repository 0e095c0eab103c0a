/** Durations in config: a number of seconds, or a string such as `500ms`, `90s`, `15m`, `24h`, `30d`. */
import { z } from 'zod';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * (UNIT_MS[match[2] as string] as number));
}

/** A config duration with a default, parsed to milliseconds; `positive` refuses zero. */
export function durationSchema(fallback: string, options: { positive?: boolean } = {}) {
  return z
    .union([z.string(), z.number()])
    .default(fallback)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined || (options.positive && ms === 0)) {
        ctx.addIssue({
          code: 'custom',
          message: `not a ${options.positive ? 'positive ' : ''}duration: ${JSON.stringify(value)} (use e.g. 500ms, 30s, 15m, 24h)`,
        });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ docType: 'duration' });
}
