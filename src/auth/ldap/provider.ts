/**
 * The LDAP / Active Directory auth provider: search-then-bind.
 *
 *   1. A pooled connection bound as the service account searches `userBase` for the entry named
 *      as typed: the configured filter AND `(NAMING_ATTRIBUTE=typed)`, the typed user name escaped
 *      per RFC 4515. Exactly one entry must match.
 *   2. A fresh, short-lived connection binds as that entry's DN with the typed password. Only a bind
 *      the directory accepts proves the password; an empty password is never sent (it would be an
 *      unauthenticated bind, which directories accept as anonymous).
 *   3. Groups come from the entry's memberOf (the leading RDN of each DN) or from a group search.
 *   4. The identity's name is the entry's own spelling of its naming attribute (`userNameAttribute`,
 *      else the attribute the filter names users by; config/schema/ldap.ts), never the name as
 *      typed: a filter that also matches `mail` must not let the user whose address is `carol` log
 *      in as carol, nor make the directory answer for a carol another provider holds. The typed
 *      name must be that value as directories compare names (entry.ts); an entry found otherwise
 *      is not the user's (an unknown user, so a later provider of the chain may have the name).
 *      The directory's spelling may still differ from the typed one (`CAROL` for `carol`): the
 *      provider chain refuses it when an earlier provider owns it (see chain.ts).
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
import { readBindPassword } from './bind-password.js';
import { namingAttributeOf } from '../../config/schema/ldap.js';
import { userNameComparisons } from '../../config/schema/ldap-filter.js';
import { CREDENTIAL_ATTRIBUTES, directoryCredential } from './credential.js';
import { leadingRdnValue } from './dn.js';
import { attributeValues, entryName } from './entry.js';
import { fillFilterTemplate, isAcceptableUserName, userSearchFilter } from './filter.js';
import { InternalError } from '../../lib/internal-errors.js';

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
  /**
   * No entry named so (one matched by another attribute is not), more than one, an entry with
   * several spellings of the name, or a name that is never looked up (control characters, too long).
   */
  | { readonly result: 'unknown' };

/** The one entry named as typed, and its own spelling of that name. */
interface NamedEntry {
  readonly entry: Entry;
  readonly name: string;
}

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

class DirectoryTimeout extends InternalError {
  constructor(ms: number) {
    super('RG_ERR_DIRECTORY_TIMEOUT', `no answer from the directory within ${ms} ms`);
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
  /** The attribute whose value is a user's name. */
  private readonly namingAttribute: string;
  /** Whether the user filter compares the typed name with more than the naming attribute (then a refusal is explained). */
  private readonly filterMatchesOtherAttributes: boolean;
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
        throw new InternalError(
          'RG_ERR_FILE_UNREADABLE',
          `cannot read the LDAP CA file ${config.tls.ca}: ${errnoCode(error) ?? String(error)}`,
          {
            cause: error,
          },
        );
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
    this.namingAttribute = namingAttributeOf(config);
    const naming = this.namingAttribute.toLowerCase();
    this.filterMatchesOtherAttributes = userNameComparisons(config.userFilter).some(
      (comparison) => !comparison.exact || comparison.attribute.toLowerCase() !== naming,
    );
    // Operational attributes come only when named; a directory ignores names it does not know.
    this.userAttributes = [
      ...(config.groupSearch ? [this.namingAttribute] : [this.namingAttribute, config.groupAttribute]),
      ...CREDENTIAL_ATTRIBUTES,
    ];
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
      const found = await this.findUser(user, signal);
      if (!found) {
        // Cost about what a wrong password costs, so response times do not list the users.
        if (password !== '') await this.decoyBind(password, signal);
        return UNKNOWN;
      }
      if (password === '' || !(await this.bindAsUser(found.entry.dn, password, signal))) return REJECTED;
      return accepted(found.entry, await this.identityOf(found, signal));
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
      const found = await this.findUser(user, signal);
      return found ? accepted(found.entry, await this.identityOf(found, signal)) : UNKNOWN;
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

  /** The one entry named `user` (its naming attribute, as the directory compares it), with its spelling of the name. */
  private async findUser(user: string, signal: AbortSignal): Promise<NamedEntry | undefined> {
    // Two are enough to know that the name is ambiguous.
    const entries = await this.search(userSearchFilter(this.config.userFilter, this.namingAttribute, user), signal, 2);
    if (entries.length === 0 && this.filterMatchesOtherAttributes) await this.explainNoEntry(user, signal);
    if (entries.length > 1) {
      this.logger.warn({ user, base: this.config.userBase }, 'LDAP user filter matches more than one entry; refusing the login');
    }
    const entry = entries.length === 1 ? entries[0] : undefined;
    if (!entry) return undefined;
    const named = entryName(entry, this.namingAttribute, user);
    if ('name' in named) return { entry, name: named.name };
    this.logger.warn(
      { dn: entry.dn, attribute: this.namingAttribute, why: named.refused },
      'LDAP login refused: the entry has no single value of its naming attribute that is the name typed',
    );
    return undefined;
  }

  /**
   * Says in the log why a name the user filter alone would match is refused (a login by e-mail
   * address, or under someone else's address): one more search, only for names that found no
   * entry, only with a filter that compares the name with another attribute. The name typed is not
   * logged (it may be a password typed in the wrong field); the entry's DN is.
   */
  private async explainNoEntry(user: string, signal: AbortSignal): Promise<void> {
    // "1.1" asks for no attributes at all (RFC 4511 §4.5.1.8): the DN is all the log needs.
    const [entry] = await this.search(fillFilterTemplate(this.config.userFilter, { user }), signal, 1, ['1.1']);
    if (!entry) return;
    this.logger.warn(
      { dn: entry.dn, attribute: this.namingAttribute },
      'LDAP login refused: the name typed matches this entry only through another attribute of userFilter than its name; users log in with their name',
    );
  }

  /** At most `sizeLimit` entries under userBase that `filter` matches, with `attributes` (by default what a login reads). */
  private async search(filter: string, signal: AbortSignal, sizeLimit: number, attributes = this.userAttributes): Promise<Entry[]> {
    const { searchEntries } = await this.pool.use(signal, (client) =>
      client.search(this.config.userBase, { scope: 'sub', filter, sizeLimit, timeLimit: this.timeLimitSeconds(), attributes }),
    );
    return searchEntries;
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
  private async identityOf({ entry, name }: NamedEntry, signal: AbortSignal): Promise<Identity> {
    const groups = await this.groupsOf(entry, name, signal);
    return Object.freeze({ user: name, groups: Object.freeze(groups), via: 'ldap' as const });
  }

  /** `user` is the entry's name, never the typed spelling: a group filter compares it too (`memberUid={user}`). */
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
