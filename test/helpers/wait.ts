/**
 * Waiting on an observable effect instead of sleeping: `waitFor` polls a probe until it reports the
 * condition, and fails at its deadline with a message naming what was awaited and what was last seen.
 * Every wait in the tests is bounded by it; a fixed sleep would either be too short on a busy machine
 * or waste time on an idle one.
 */
import { setTimeout as pause } from 'node:timers/promises';

export interface WaitOptions {
  /** The deadline (default 5 s). */
  timeoutMs?: number;
  /** Time between probes (default 25 ms). */
  intervalMs?: number;
}

/**
 * Resolves with the probe's first value that is not `undefined`, `null` or `false`; throws
 * `"<what>: not within N ms (last: …)"` at the deadline. A probe that throws counts as not yet,
 * its error is reported if the deadline passes.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 25;
  const deadline = performance.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<T, undefined | null | false>;
      last = String(value);
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (performance.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${last})`);
    await pause(intervalMs);
  }
}

/**
 * Polls `read` until `done(value)` holds and returns that value; at the deadline returns the last
 * value read, so the caller's assertion on it states what was expected and what was seen.
 */
export async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 25;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || performance.now() >= deadline) return value;
    await pause(intervalMs);
  }
}

/** `pollUntil` for one expected value: polls until `read` returns `expected` (compared with `===`), else returns the last value read. */
export function pollUntilEqual<T>(read: () => Promise<T>, expected: T, options: WaitOptions = {}): Promise<T> {
  return pollUntil(read, (value) => value === expected, options);
}

/**
 * `work`'s result, or a failure `"<what>: not within N ms"` once `timeoutMs` have passed first: for
 * a promise of the code under test to settle "at once" or "within its timeout".
 */
export async function within<T>(timeoutMs: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
