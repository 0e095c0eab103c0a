/**
 * What `serve` would refuse or trip over, found without starting anything (`check-config`): files
 * the config names that cannot be read, groups that rules name and no source defines, an LDAP
 * filter that matches users by more than their name, and what a public rule means for clients in
 * Basic mode. Each finding names the key it is about. It reads files only to see that they can be
 * read (and the group file, for its group names).
 */
import { access, constants, readFile, stat } from 'node:fs/promises';
import { errnoCode } from '../lib/errno.js';
import type { Config } from '../config/load.js';
import { namingAttributeOf, type LdapConfig } from '../config/schema/ldap.js';
import { userNameComparisons } from '../config/schema/ldap-filter.js';
import { parseGroupFile } from '../auth/group-file.js';

export interface Finding {
  readonly level: 'error' | 'warning' | 'note';
  /** The config key, as a dotted path. */
  readonly key: string;
  readonly message: string;
}

async function unreadable(path: string): Promise<string | undefined> {
  try {
    if (!(await stat(path)).isFile()) return 'is not a file';
    await access(path, constants.R_OK);
    return undefined;
  } catch (error) {
    const code = errnoCode(error);
    return code === 'ENOENT'
      ? 'does not exist'
      : code === 'EACCES'
        ? 'cannot be read (permission denied)'
        : `cannot be read (${code ?? String(error)})`;
  }
}

/** The files the config names that must exist before start-up (first-run files are made by serve). */
function requiredFiles(config: Config): Array<{ key: string; path: string }> {
  const files: Array<{ key: string; path: string }> = [];
  if (config.tls.mode === 'files') files.push({ key: 'tls.cert', path: config.tls.cert }, { key: 'tls.key', path: config.tls.key });
  if (!config.auth.htpasswdIsDefault) files.push({ key: 'auth.htpasswd', path: config.auth.htpasswd });
  if (config.auth.groupFile) files.push({ key: 'auth.groupFile', path: config.auth.groupFile });
  if (config.upstream?.ca) files.push({ key: 'upstream.ca', path: config.upstream.ca });
  const ldap = config.auth.ldap;
  if (ldap?.bindPasswordFile) files.push({ key: 'auth.ldap.bindPasswordFile', path: ldap.bindPasswordFile });
  if (ldap?.tls.ca) files.push({ key: 'auth.ldap.tls.ca', path: ldap.tls.ca });
  if (config.audit.syslog?.ca) files.push({ key: 'audit.syslog.ca', path: config.audit.syslog.ca });
  return files;
}

async function groupFileNames(file: string): Promise<readonly string[]> {
  return [...parseGroupFile(await readFile(file, 'utf8')).groups.keys()];
}

/** Groups named by `group:NAME` subjects that no source defines; LDAP and SSO headers may define any. */
async function undefinedGroups(config: Config): Promise<Array<{ key: string; group: string }>> {
  if (config.auth.ldap || config.auth.trustedHeader?.groups) return [];
  const known = new Set(Object.keys(config.groups));
  if (config.auth.groupFile) for (const name of await groupFileNames(config.auth.groupFile).catch(() => [])) known.add(name);
  const found: Array<{ key: string; group: string }> = [];
  (config.access ?? []).forEach((rule, index) =>
    rule.subjects.forEach((subject, position) => {
      const group = subject.startsWith('group:') ? subject.slice('group:'.length) : undefined;
      if (group !== undefined && !known.has(group)) found.push({ key: `access.${index}.subjects.${position}`, group });
    }),
  );
  return found;
}

/**
 * Warnings, not errors: the provider names every LDAP user by the naming attribute and refuses any
 * other match, so these configs are safe; they refuse logins their authors may expect to work
 * (by e-mail address), or name users by an attribute that a change of the filter would change.
 */
function ldapNamingFindings(ldap: LdapConfig): Finding[] {
  const findings: Finding[] = [];
  const naming = namingAttributeOf(ldap);
  if (ldap.userNameAttribute === undefined) {
    findings.push({
      level: 'warning',
      key: 'auth.ldap.userNameAttribute',
      message: `not set: user names are the values of ${naming}, the attribute userFilter compares {user} with; set userNameAttribute: ${naming} so that editing the filter cannot rename users`,
    });
  }
  const others = new Set(
    userNameComparisons(ldap.userFilter)
      .filter((comparison) => !comparison.exact || comparison.attribute.toLowerCase() !== naming.toLowerCase())
      .map(({ attribute, exact }) => (exact ? attribute : `${attribute || 'any attribute'} (not as the whole value)`)),
  );
  if (others.size > 0) {
    findings.push({
      level: 'warning',
      key: 'auth.ldap.userFilter',
      message:
        `compares {user} with ${[...others].join(', ')} besides ${naming}, the user name: logins under such a match are refused ` +
        `(users log in with their ${naming}; a login by another attribute would let whoever has the value "carol" there log in as carol); remove those comparisons`,
    });
  }
  return findings;
}

export async function preflight(config: Config): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const { key, path } of requiredFiles(config)) {
    const problem = await unreadable(path);
    if (problem) findings.push({ level: 'error', key, message: `${path} ${problem}` });
  }
  if (config.auth.ldap) findings.push(...ldapNamingFindings(config.auth.ldap));
  for (const { key, group } of await undefinedGroups(config)) {
    findings.push({
      level: 'warning',
      key,
      message: `the group ${group} is defined nowhere (groups, auth.groupFile): this subject matches nobody`,
    });
  }
  if (config.auth.scheme === 'basic') {
    const publicRule = (config.access ?? []).findIndex((rule) =>
      rule.subjects.some((subject) => subject === '*' || subject === 'anonymous'),
    );
    if (publicRule !== -1) {
      findings.push({
        level: 'note',
        key: `access.${publicRule}`,
        message:
          'anonymous pulls in Basic mode: GET /v2/ still answers 401 with the Basic challenge (so clients send credentials they have); ' +
          'skopeo, podman and containerd then pull public repositories without credentials, the docker CLI does not (use auth.scheme: bearer for that)',
      });
    }
  }
  return findings;
}
