/**
 * An AuthProvider that asks the throttle before each password check: put it inside the credential
 * cache (`new CachedVerifier(new ThrottledProvider(chain, throttle), …)`) so that cached pairs never
 * reach it. The client address comes from `credentials.clientIp`. A provider that throws (the
 * directory is down: 503) settles the attempt as cancelled. The outcome is counted before the
 * answer goes out, so that the client's next guess, through whichever replica, finds it counted.
 */
import type { AuthProvider, Credentials, Identity } from '../identity.js';
import type { LoginThrottle } from './login-throttle.js';

export class ThrottledProvider implements AuthProvider {
  readonly name: string;

  constructor(
    private readonly provider: AuthProvider,
    private readonly throttle: LoginThrottle,
  ) {
    this.name = provider.name;
  }

  async verify(credentials: Credentials): Promise<Identity | null> {
    const attempt = await this.throttle.check(credentials.user, credentials.clientIp ?? 'unknown', credentials.password);
    let identity: Identity | null;
    try {
      identity = await this.provider.verify(credentials);
    } catch (error) {
      await attempt.cancel();
      throw error;
    }
    if (identity) await attempt.success();
    else await attempt.failure();
    return identity;
  }

  async close(): Promise<void> {
    await this.provider.close?.();
  }
}
