/**
 * UI sessions: a signed cookie, not a server-side store, so that every worker process accepts it.
 *
 *   <base64url(JSON {v: 2, sid, sub, via, id?, cs?, iat, exp})>.<base64url(HMAC-SHA256(key, "session\n" + payload))>
 *
 * The cookie says who logged in, with which credential (`cs`, the credential stamp: an HMAC under
 * the deployment key that reveals nothing of it) and when; it holds no password, token or group.
 * Each request re-checks the subject with its provider (as a refresh token is re-checked) and reads
 * its groups afresh, so a deleted user, a changed password, a revoked robot or a `token revoke
 * --user` logs the session out at once. Logout revokes the session id (RevokedSessions). Cookies of
 * version 1 carried no stamp: they are no longer accepted. CSRF tokens are HMACs of the browser's nonce cookie, the session id and the
 * user, under the same key: a page can put them in its forms, another site cannot make them.
 *
 * The key (32 random bytes, hex) lives in `dataDir/ui/session.key` (0600), made once by whichever
 * process starts first, so sessions survive restarts and work across workers.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileAtomic } from '../lib/atomic-write.js';
import type { RefreshSubject } from '../auth/token/refresh-subject.js';
import { InternalError } from '../lib/internal-errors.js';

export interface Session extends RefreshSubject {
  readonly sid: string;
  /** Expiry, ms since the epoch. */
  readonly expiresAt: number;
}

const KEY_FILE = 'session.key';

function optionalString(value: unknown): value is string | undefined {
  return value === undefined || typeof value === 'string';
}

function base64url(bytes: Buffer): string {
  return bytes.toString('base64url');
}

export class SessionKeys {
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
  }

  /** Loads the key from `dir`, making it first if there is none. */
  static async open(dir: string): Promise<SessionKeys> {
    const file = join(dir, KEY_FILE);
    await createFileAtomic(file, randomBytes(32).toString('hex') + '\n');
    const text = (await readFile(file, 'utf8')).trim();
    if (!/^[0-9a-f]{64}$/.test(text)) {
      throw new InternalError('RG_ERR_FILE_INVALID', `${file} is not a UI session key (64 hex digits); delete it to make a new one`);
    }
    return new SessionKeys(Buffer.from(text, 'hex'));
  }

  #mac(purpose: string, text: string): Buffer {
    return createHmac('sha256', this.#key).update(`${purpose}\n${text}`).digest();
  }

  /** A new session for the subject, as a cookie value. */
  issue(subject: RefreshSubject, ttlMs: number, now = Date.now()): { value: string; session: Session } {
    const session: Session = {
      sid: base64url(randomBytes(16)),
      user: subject.user,
      via: subject.via,
      subjectId: subject.subjectId,
      credentialStamp: subject.credentialStamp,
      issuedAt: now,
      expiresAt: now + ttlMs,
    };
    const claims = {
      v: 2,
      sid: session.sid,
      sub: session.user,
      via: session.via,
      id: session.subjectId,
      cs: session.credentialStamp,
      iat: now,
      exp: session.expiresAt,
    };
    const payload = base64url(Buffer.from(JSON.stringify(claims)));
    return { value: `${payload}.${base64url(this.#mac('session', payload))}`, session };
  }

  /** The session a cookie value names, if its signature holds and it has not expired. */
  verify(value: string | undefined, now = Date.now()): Session | undefined {
    if (value === undefined || value.length > 4096) return undefined;
    const dot = value.indexOf('.');
    if (dot === -1) return undefined;
    const payload = value.slice(0, dot);
    const signature = Buffer.from(value.slice(dot + 1), 'base64url');
    const expected = this.#mac('session', payload);
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return undefined;
    let claims: Record<string, unknown>;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    const { v, sid, sub, via, id, cs, iat, exp } = claims;
    if (v !== 2 || typeof sid !== 'string' || typeof sub !== 'string' || typeof iat !== 'number' || typeof exp !== 'number' || exp <= now)
      return undefined;
    if (!optionalString(via) || !optionalString(id) || !optionalString(cs)) return undefined;
    return { sid, user: sub, via, subjectId: id, credentialStamp: cs, issuedAt: iat, expiresAt: exp };
  }

  /** A fresh CSRF nonce for the browser's nonce cookie. */
  static newNonce(): string {
    return base64url(randomBytes(16));
  }

  /** The form token for this browser (nonce), session and user. */
  csrfToken(nonce: string, sid: string | undefined, user: string | null): string {
    return base64url(this.#mac('csrf', `${nonce}\n${sid ?? ''}\n${user ?? ''}`));
  }

  /** Whether a submitted token is the one `csrfToken` makes for the same nonce, session and user. */
  csrfTokenMatches(token: string | null, nonce: string | undefined, sid: string | undefined, user: string | null): boolean {
    if (!token || !nonce) return false;
    const given = Buffer.from(token, 'base64url');
    const expected = this.#mac('csrf', `${nonce}\n${sid ?? ''}\n${user ?? ''}`);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
