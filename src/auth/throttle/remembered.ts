/**
 * User+password pairs that succeeded within `rememberSuccess`, which pass every limit. Kept in this
 * process only, as an HMAC under a per-process key that never leaves it: neither memory nor a shared
 * store ever holds something one could test password guesses against. The same digests name
 * attempts in flight and recent wrong passwords in the counters.
 */
import { createHmac, randomBytes } from 'node:crypto';

export class RememberedSuccesses {
  private readonly secret = randomBytes(32);
  private readonly expiries = new Map<string, number>();

  constructor(
    private readonly rememberMs: number,
    private readonly maxEntries: number,
  ) {}

  /** Length-prefixed, so that no two (user, password) pairs share an input. */
  digestOf(user: string, password: string): string {
    return createHmac('sha256', this.secret)
      .update(`${Buffer.byteLength(user)}:`)
      .update(user)
      .update(password)
      .digest('base64url')
      .slice(0, 22);
  }

  has(digest: string, now: number): boolean {
    const expiresAt = this.expiries.get(digest);
    if (expiresAt === undefined) return false;
    if (expiresAt <= now) {
      this.expiries.delete(digest);
      return false;
    }
    return true;
  }

  remember(digest: string, now: number): void {
    if (this.rememberMs <= 0) return;
    this.expiries.delete(digest);
    this.expiries.set(digest, now + this.rememberMs);
    while (this.expiries.size > this.maxEntries) {
      this.expiries.delete(this.expiries.keys().next().value as string);
    }
  }

  forget(digest: string): void {
    this.expiries.delete(digest);
  }

  get size(): number {
    return this.expiries.size;
  }

  clear(): void {
    this.expiries.clear();
  }
}
