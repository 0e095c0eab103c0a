/**
 * The LDAP / Active Directory auth provider: search-then-bind.
 *
 *   1. A pooled connection bound as the service account searches `userBase` with the configured
 *      filter, the typed user name escaped per RFC 4515. Exactly one entry must match.
 *   2. A fresh, short-lived connection binds as that entry's DN with the typed password. Only a bind
 *      the directory accepts proves the password; an empty password is never sent (it would be an
 *      unauthenticated bind, which directories accept as anonymous).
 *   3. Groups come from the entry's memberOf (the leading RDN of each DN) or from a group search.
 *   4. The identity's name is the entry's own spelling (`userNameAttribute`), or what was typed
 *      when that is not configured. The directory matches names its own way (case- and
 *      width-insensitively, or by e-mail address with such a filter), so the name that comes back
 *      may differ from the one typed: the provider chain refuses it when an earlier provider owns
 *      it (see chain.ts). An entry with several values of the attribute is named by the one that
 *      folds to the typed name; when none or several do, the login is refused.
 *
 * Every connection is TLS (ldaps:// or StartTLS) unless the config explicitly turns StartTLS off.
 * A directory that cannot be reached, or does not answer within `timeout`, makes verification
 * throw RegistryError UNAVAILABLE (503, Retry-After) rather than return null: the client must not
 * be told its password is wrong, and the attempt must not count as a failed login.
 *
 * The service account's password lives in a private field; it is never logged, and it is scrubbed
 * from any directory error text before that text is logged. Thrown errors carry fixed messages.
 */
import { readFile } from 'node:fs/promises';
import { errnoCode } from '../../lib/errno.js';
import type { Logger } from 'pino';
import { ResultCodeError, type Entry } from 'ldapts';
import { RegistryError } from '../../oci/errors.js';
import type { AuthProvider, Credentials, Identity } from '../identity.js';
import {
  abortReason,
  openConnection,
  ServiceConnectionPool,
  tlsOptionsFor,
  type DirectoryConnection,
  type DirectoryEndpoint,
} from './_connection.js';
import type { LdapConfig } from '../../config/schema/ldap.js';
import { CREDENTIAL_ATTRIBUTES, directoryCredential } from './credential.js';
import { leadingRdnValue } from './dn.js';
import { fillFilterTemplate, isAcceptableUserName } from './filter.js';
import { foldUserName } from '../user-name.js';

export interface LdapProviderOptions {
  readonly config: LdapConfig;
  readonly logger: Logger;
  /** Where `bindPasswordEnv` is looked up; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** What the directory said about a user name and password, for chains that let the provider that knows the user decide. */
export type LdapOutcome =
  | { readonly result: 'accepted'; readonly identity: Identity; readonly credential: string }
  /** Exactly one entry has this name, and the password is wrong (or empty). */
  | { readonly result: 'rejected' }
  /** No entry, more than one entry, or a name that is never looked up (control characters, too long). */
  | { readonly result: 'unknown' };

const ACCEPTED = 'accepted';
const REJECTED: LdapOutcome = Object.freeze({ result: 'rejected' });
const UNKNOWN: LdapOutcome = Object.freeze({ result: 'unknown' });

/**
 * Result codes of a user's bind that mean "these credentials do not log in" rather than "the
 * directory has a problem": invalidCredentials (49; AD's locked/expired/disabled accounts too),
 * inappropriateAuthentication (48), insufficientAccessRights (50), unwillingToPerform (53),
 * constraintViolation (19, password-policy lockouts).
 */
const REFUSED_BIND_CODES = new Set([19, 48, 49, 50, 53]);

const RETRY_AFTER_SECONDS = '10';

/** The one error a directory problem becomes: 503 with Retry-After, nothing about the cause. */
export function directoryUnavailable(): RegistryError {
  return new RegistryError('UNAVAILABLE', 'the directory is unavailable', { headers: { 'Retry-After': RETRY_AFTER_SECONDS } });
}

class DirectoryTimeout extends Error {
  constructor(ms: number) {
    super(`no answer from the directory within ${ms} ms`);
    this.name = 'DirectoryTimeout';
  }
}

export class LdapProvider implements AuthProvider {
  readonly name = 'ldap';
  readonly #bindPassword: string;
  private readonly config: LdapConfig;
  private readonly logger: Logger;
  private readonly endpoint: DirectoryEndpoint;
  private readonly pool: ServiceConnectionPool;
  private readonly userAttributes: string[];
  private lastFailure: string | undefined;
  private closed = false;

  /**
   * Reads the service account's password and the CA file (throwing a clear error naming the file
   * or variable, never its content). Does not contact the directory: a directory that is down at
   * start-up makes logins fail with 503 until it is back, it does not stop the gateway. Call
   * `probe()` to check the connection and the service account now.
   */
  static async open(options: LdapProviderOptions): Promise<LdapProvider> {
    const { config, logger } = options;
    const bindPassword = await readBindPassword(config, options.env ?? process.env);
    let ca: Buffer | undefined;
    if (config.tls.ca !== undefined) {
      try {
        ca = await readFile(config.tls.ca);
      } catch (error) {
        throw new Error(`cannot read the LDAP CA file ${config.tls.ca}: ${errnoCode(error) ?? String(error)}`, { cause: error });
      }
    }
    if (config.url.toLowerCase().startsWith('ldap:') && !config.startTls) {
      logger.warn({ url: config.url }, 'LDAP without TLS: passwords cross the network in clear text; use ldaps:// or StartTLS');
    }
    if (!config.tls.rejectUnauthorized) {
      logger.warn({ url: config.url }, "LDAP TLS certificate verification is off: anyone on the path can read the users' passwords");
    }
    return new LdapProvider(config, logger, bindPassword, ca);
  }

  private constructor(config: LdapConfig, logger: Logger, bindPassword: string, ca: Buffer | undefined) {
    this.config = config;
    this.logger = logger;
    this.#bindPassword = bindPassword;
    this.endpoint = {
      url: config.url,
      startTls: config.startTls,
      timeoutMs: config.timeout,
      tls: tlsOptionsFor(config.url, {
        ...(ca !== undefined ? { ca } : {}),
        rejectUnauthorized: config.tls.rejectUnauthorized,
        ...(config.tls.servername !== undefined ? { servername: config.tls.servername } : {}),
      }),
    };
    this.pool = new ServiceConnectionPool(
      (signal) => openConnection(this.endpoint, signal, { dn: config.bindDN, password: this.#bindPassword }),
      config.poolSize,
      (error) => error instanceof ResultCodeError,
    );
    const attributes = [config.groupSearch ? undefined : config.groupAttribute, config.userNameAttribute].filter(
      (name): name is string => name !== undefined,
    );
    // Operational attributes come only when named; a directory ignores names it does not know.
    this.userAttributes = [...attributes, ...CREDENTIAL_ATTRIBUTES];
  }

  async verify(credentials: Credentials): Promise<Identity | null> {
    const outcome = await this.authenticate(credentials);
    return outcome.result === ACCEPTED ? outcome.identity : null;
  }

  /**
   * Like verify, but tells an unknown user from a wrong password, so that a chain of providers can
   * let the one that knows the user decide. Throws RegistryError UNAVAILABLE when the directory
   * cannot answer. The distinction must never reach the client.
   */
  async authenticate(credentials: Credentials): Promise<LdapOutcome> {
    const { user, password } = credentials;
    if (!isAcceptableUserName(user)) return UNKNOWN;
    return this.ask('authentication', async (signal) => {
      const entry = await this.findUser(user, signal);
      if (!entry) {
        // Cost about what a wrong password costs, so response times do not list the users.
        if (password !== '') await this.decoyBind(password, signal);
        return UNKNOWN;
      }
      if (password === '' || !(await this.bindAsUser(entry.dn, password, signal))) return REJECTED;
      const identity = await this.identityOf(entry, user, signal);
      return identity ? accepted(entry, identity) : REJECTED;
    });
  }

  /**
   * Whether exactly one directory entry has this user name, searched as the service account with
   * no bind (how a refresh token's subject is re-checked): its identity with the groups the
   * directory gives now, or 'unknown'. Throws UNAVAILABLE like verify.
   */
  async lookup(user: string): Promise<LdapOutcome> {
    if (!isAcceptableUserName(user)) return UNKNOWN;
    return this.ask('lookup', async (signal) => {
      const entry = await this.findUser(user, signal);
      if (!entry) return UNKNOWN;
      const identity = await this.identityOf(entry, user, signal);
      return identity ? accepted(entry, identity) : REJECTED;
    });
  }

  /** Connects and binds as the service account now (start-up check, check-config). Throws UNAVAILABLE on failure, after logging why. */
  async probe(): Promise<void> {
    await this.ask('probe', (signal) => this.pool.use(signal, () => Promise.resolve(undefined)));
  }

  close(): Promise<void> {
    this.closed = true;
    this.pool.close();
    return Promise.resolve();
  }

  /** Runs one exchange with the directory under the overall deadline; any failure becomes UNAVAILABLE. */
  private async ask<T>(what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.closed) throw directoryUnavailable();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DirectoryTimeout(this.config.timeout)), this.config.timeout);
    const deadline = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(abortReason(controller.signal)), { once: true });
    });
    try {
      const result = await Promise.race([work(controller.signal), deadline]);
      this.reportHealthy();
      return result;
    } catch (error) {
      this.reportFailure(what, error);
      throw directoryUnavailable();
    } finally {
      clearTimeout(timer);
    }
  }

  private async findUser(user: string, signal: AbortSignal): Promise<Entry | undefined> {
    const filter = fillFilterTemplate(this.config.userFilter, { user });
    const { searchEntries } = await this.pool.use(signal, (client) =>
      client.search(this.config.userBase, {
        scope: 'sub',
        filter,
        // Two are enough to know that the name is ambiguous.
        sizeLimit: 2,
        timeLimit: this.timeLimitSeconds(),
        attributes: this.userAttributes,
      }),
    );
    if (searchEntries.length > 1) {
      this.logger.warn({ user, base: this.config.userBase }, 'LDAP user filter matches more than one entry; refusing the login');
    }
    return searchEntries.length === 1 ? searchEntries[0] : undefined;
  }

  /** The entry's spelling of its name (`userNameAttribute`; the typed name without one); undefined when ambiguous. */
  private nameOf(entry: Entry, typed: string): string | undefined {
    const attribute = this.config.userNameAttribute;
    if (attribute === undefined) return typed;
    const values = attributeValues(entry, attribute);
    if (values.length <= 1) return values[0] ?? typed;
    const matching = values.filter((value) => foldUserName(value) === foldUserName(typed));
    if (matching.length === 1) return matching[0];
    this.logger.warn(
      { dn: entry.dn, attribute },
      'LDAP entry has several names (userNameAttribute values) and the typed name picks none of them; refusing the login',
    );
    return undefined;
  }

  /** True when the directory accepts the password for `dn`, false when it refuses it; throws when it cannot say. */
  private async bindAsUser(dn: string, password: string, signal: AbortSignal): Promise<boolean> {
    let connection: DirectoryConnection;
    try {
      connection = await openConnection(this.endpoint, signal, { dn, password });
    } catch (error) {
      if (error instanceof ResultCodeError && REFUSED_BIND_CODES.has(error.code)) return false;
      throw error;
    }
    connection.close();
    return true;
  }

  private async decoyBind(password: string, signal: AbortSignal): Promise<void> {
    try {
      await this.bindAsUser(`cn=registry-gate-decoy,${this.config.userBase}`, password, signal);
    } catch {
      // Only its duration matters.
    }
  }

  /** The identity an entry stands for: the directory's spelling of the name, and its groups now. */
  /** The entry's identity: its name as nameOf spells it (undefined when none fits) and its groups now. */
  private async identityOf(entry: Entry, user: string, signal: AbortSignal): Promise<Identity | undefined> {
    const name = this.nameOf(entry, user);
    if (name === undefined) return undefined;
    const groups = await this.groupsOf(entry, user, signal);
    return Object.freeze({ user: name, groups: Object.freeze(groups), via: 'ldap' as const });
  }

  private async groupsOf(entry: Entry, user: string, signal: AbortSignal): Promise<string[]> {
    const names = new Set<string>();
    const search = this.config.groupSearch;
    if (search) {
      const filter = fillFilterTemplate(search.filter, { dn: entry.dn, user });
      const { searchEntries } = await this.pool.use(signal, (client) =>
        client.search(search.base, {
          scope: 'sub',
          filter,
          attributes: [search.nameAttribute],
          timeLimit: this.timeLimitSeconds(),
          paged: { pageSize: 500 },
        }),
      );
      for (const group of searchEntries) {
        const name = attributeValues(group, search.nameAttribute)[0];
        if (name) names.add(name);
      }
    } else {
      for (const dn of attributeValues(entry, this.config.groupAttribute)) {
        const name = leadingRdnValue(dn);
        if (name) names.add(name);
        else this.logger.debug({ user, group: dn }, 'LDAP group DN without a readable name; ignored');
      }
    }
    return [...names].sort();
  }

  private timeLimitSeconds(): number {
    return Math.max(1, Math.ceil(this.config.timeout / 1000));
  }

  private reportFailure(what: string, error: unknown): void {
    const reason = this.scrub(describeDirectoryError(error));
    if (reason === this.lastFailure) return;
    this.lastFailure = reason;
    this.logger.warn({ url: this.config.url, during: what, err: reason }, 'LDAP directory unavailable; logins answer 503 until it is back');
  }

  private reportHealthy(): void {
    if (this.lastFailure === undefined) return;
    this.lastFailure = undefined;
    this.logger.info({ url: this.config.url }, 'LDAP directory reachable again');
  }

  /** Directory error text never contains a password, but make sure the service account's cannot slip through. */
  private scrub(text: string): string {
    return this.#bindPassword === '' ? text : text.split(this.#bindPassword).join('[redacted]');
  }
}

function accepted(entry: Entry, identity: Identity): LdapOutcome {
  return { result: ACCEPTED, identity, credential: directoryCredential(entry.dn, (attribute) => attributeValues(entry, attribute)) };
}

function describeDirectoryError(error: unknown): string {
  if (error instanceof ResultCodeError) {
    if (error.code === 49) return 'the directory refused the service account (check bindDN and its password)';
    const text = error.message.replace(/\s*Code: 0x[0-9a-f]+$/i, '').trim();
    const hint = error.code === 32 ? ' (check userBase and groupSearch.base)' : '';
    return `${error.name}, LDAP result code ${error.code}${hint}${text ? `: ${text}` : ''}`;
  }
  if (error instanceof Error) return error.message.split('\n').join(' ');
  return String(error);
}

/** An attribute's values as strings, looked up case-insensitively (directories return their own spelling). */
function attributeValues(entry: Entry, attribute: string): string[] {
  const wanted = attribute.toLowerCase();
  for (const [key, value] of Object.entries(entry)) {
    if (key === 'dn' || key.toLowerCase() !== wanted) continue;
    const values = Array.isArray(value) ? value : [value];
    return values.map((item) => (Buffer.isBuffer(item) ? item.toString('utf8') : item));
  }
  return [];
}

async function readBindPassword(config: LdapConfig, env: NodeJS.ProcessEnv): Promise<string> {
  if (config.bindPasswordFile !== undefined) {
    let text: string;
    try {
      text = await readFile(config.bindPasswordFile, 'utf8');
    } catch (error) {
      throw new Error(`cannot read the LDAP bind password file ${config.bindPasswordFile}: ${errnoCode(error) ?? 'unreadable'}`, {
        cause: error,
      });
    }
    const password = text.replace(/\r?\n$/, '');
    if (password === '') throw new Error(`the LDAP bind password file ${config.bindPasswordFile} is empty`);
    return password;
  }
  const name = config.bindPasswordEnv as string;
  const value = env[name];
  if (value === undefined || value === '') throw new Error(`the environment variable ${name} (auth.ldap.bindPasswordEnv) is not set`);
  return value;
}
