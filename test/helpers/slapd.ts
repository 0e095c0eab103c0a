/**
 * A real OpenLDAP directory for tests: Debian's `slapd`, started in the foreground (`-d 0`) as a
 * child of the test on 127.0.0.1 and free ports, from a generated slapd.conf and an mdb database in
 * a temp dir. TLS comes from a test CA (makeTlsPair); `security tls=1` makes slapd refuse every
 * operation on a connection that has not done StartTLS (or is not ldaps://), so a test passing
 * against it proves the client used TLS. Anonymous users can read nothing, so searches only work
 * after the service account's bind.
 *
 *   dir/
 *   ├── slapd.conf, slapd.pid, slapd.args
 *   ├── data/                   the mdb database
 *   ├── tls/                    ca.crt (trust this), server.crt, server.key
 *   └── service-password        the service account's password, for bindPasswordFile
 *
 * The tree (suffix dc=example,dc=test; memberOf kept by the memberof overlay):
 *
 *   ou=people      alice (pushers, readers, "ops, night"; a second uid alice.old, as a renamed
 *                  account keeps), bob (readers), carol (no group),
 *                  xavier, zoë (non-ASCII), dup, nopass (no userPassword); the ASCII ones
 *                  with mail UID@example.test (for filters that log in by e-mail address)
 *   ou=contractors dup (a second entry with the same uid)
 *   ou=groups      cn=pushers, cn=readers, cn=ops\, night  (groupOfNames)
 *   ou=services    cn=registry-gate  (the service account)
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, makeTempDir, removeDir, runProcess, startProcess, type RunningProcess } from './process.js';
import { makeTlsPair } from './tls.js';

export interface SlapdUser {
  readonly uid: string;
  readonly dn: string;
  readonly password: string;
}

export interface RunningSlapd {
  /** ldap://127.0.0.1:PORT — StartTLS required. */
  readonly url: string;
  /** ldaps://127.0.0.1:PORT */
  readonly ldapsUrl: string;
  readonly port: number;
  readonly caFile: string;
  readonly suffix: string;
  readonly peopleBase: string;
  readonly groupsBase: string;
  readonly serviceDN: string;
  readonly servicePassword: string;
  /** A file holding servicePassword followed by a newline. */
  readonly servicePasswordFile: string;
  readonly users: Readonly<Record<'alice' | 'bob' | 'carol' | 'xavier' | 'zoe' | 'dup' | 'nopass', SlapdUser>>;
  readonly dir: string;
  /** The slapd process running now (output() for debugging). */
  readonly process: RunningProcess;
  /** Stops slapd (the directory is then down); idempotent. */
  stop(): Promise<void>;
  /** Stops slapd and starts it again on the same ports and data: every open connection is closed. */
  restart(): Promise<void>;
  /** Applies an LDIF change (`changetype: delete`, `modify`, …) as the directory's administrator, with ldapmodify. */
  modify(ldif: string): Promise<void>;
  /** Stops slapd and removes the temp dir. */
  close(): Promise<void>;
}

const SUFFIX = 'dc=example,dc=test';
const ROOT_DN = `cn=admin,${SUFFIX}`;

/** `{SSHA}` as slappasswd makes it: base64(SHA-1(password + salt) + salt). */
export function sshaHash(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password, 'utf8').update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

const secret = (): string => randomBytes(12).toString('base64url');

export async function startSlapd(): Promise<RunningSlapd> {
  const dir = await makeTempDir('registry-gate-slapd-');
  try {
    return await startIn(dir);
  } catch (error) {
    await removeDir(dir);
    throw error;
  }
}

async function startIn(dir: string): Promise<RunningSlapd> {
  const [port, ldapsPort, tls] = await Promise.all([freePort(), freePort(), makeTlsPair(join(dir, 'tls'))]);
  await mkdir(join(dir, 'data'));
  const rootPassword = secret();
  const servicePassword = secret();
  const servicePasswordFile = join(dir, 'service-password');
  await writeFile(servicePasswordFile, `${servicePassword}\n`, { mode: 0o600 });

  const conf = join(dir, 'slapd.conf');
  await writeFile(
    conf,
    [
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      'moduleload memberof',
      `pidfile ${join(dir, 'slapd.pid')}`,
      `argsfile ${join(dir, 'slapd.args')}`,
      `TLSCACertificateFile ${tls.caFile}`,
      `TLSCertificateFile ${tls.certFile}`,
      `TLSCertificateKeyFile ${tls.keyFile}`,
      'TLSVerifyClient never',
      // No operation without TLS (StartTLS itself excepted).
      'security tls=1',
      'database mdb',
      'maxsize 10485760',
      `suffix "${SUFFIX}"`,
      `rootdn "${ROOT_DN}"`,
      `rootpw ${sshaHash(rootPassword)}`,
      `directory ${join(dir, 'data')}`,
      'overlay memberof',
      'access to attrs=userPassword by anonymous auth by self read by * none',
      'access to * by users read by * none',
      '',
    ].join('\n'),
  );

  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = `ldaps://127.0.0.1:${ldapsPort}`;
  const launch = async (): Promise<RunningProcess> => {
    const child = await startProcess('slapd', ['-d', '0', '-h', `${url}/ ${ldapsUrl}/`, '-f', conf], {
      redact: [rootPassword, servicePassword],
    });
    await waitForPort(port, child);
    return child;
  };
  let slapd = await launch();
  try {
    const person = (uid: string, ou = 'people') => `uid=${uid},ou=${ou},${SUFFIX}`;
    const users = {
      alice: { uid: 'alice', dn: person('alice'), password: secret() },
      bob: { uid: 'bob', dn: person('bob'), password: secret() },
      carol: { uid: 'carol', dn: person('carol'), password: secret() },
      xavier: { uid: 'xavier', dn: person('xavier'), password: secret() },
      zoe: { uid: 'zoë', dn: person('zoë'), password: 'pässwörd ✓ ' + secret() },
      dup: { uid: 'dup', dn: person('dup'), password: secret() },
      nopass: { uid: 'nopass', dn: person('nopass'), password: secret() },
    };
    const serviceDN = `cn=registry-gate,ou=services,${SUFFIX}`;
    const entries: Array<Array<[string, string]>> = [
      [
        ['dn', SUFFIX],
        ['objectClass', 'dcObject'],
        ['objectClass', 'organization'],
        ['dc', 'example'],
        ['o', 'Example'],
      ],
      ...['people', 'contractors', 'groups', 'services'].map((ou): Array<[string, string]> => [
        ['dn', `ou=${ou},${SUFFIX}`],
        ['objectClass', 'organizationalUnit'],
        ['ou', ou],
      ]),
      [
        ['dn', serviceDN],
        ['objectClass', 'organizationalRole'],
        ['objectClass', 'simpleSecurityObject'],
        ['cn', 'registry-gate'],
        ['userPassword', sshaHash(servicePassword)],
      ],
      ...Object.values(users).map((user) =>
        inetOrgPerson(user.dn, user.uid, user.uid === 'nopass' ? undefined : user.password, user.uid === 'alice' ? ['alice.old'] : []),
      ),
      inetOrgPerson(person('dup', 'contractors'), 'dup', users.dup.password),
      groupOfNames(`cn=pushers,ou=groups,${SUFFIX}`, 'pushers', [users.alice.dn]),
      groupOfNames(`cn=readers,ou=groups,${SUFFIX}`, 'readers', [users.alice.dn, users.bob.dn]),
      groupOfNames(`cn=ops\\2C night,ou=groups,${SUFFIX}`, 'ops, night', [users.alice.dn]),
    ];
    const rootPasswordFile = await passwordFile(dir, rootPassword);
    const asAdministrator = (command: 'ldapadd' | 'ldapmodify', ldif: string) =>
      runProcess(command, ['-x', '-ZZ', '-H', url, '-D', ROOT_DN, '-y', rootPasswordFile], {
        input: ldif,
        env: {
          ...process.env,
          LDAPCONF: join(dir, 'no-ldap.conf'),
          LDAPRC: join(dir, 'no-ldaprc'),
          LDAPTLS_CACERT: tls.caFile,
          LDAPTLS_REQCERT: 'demand',
        },
        timeoutMs: 15_000,
      });
    const added = await asAdministrator('ldapadd', entries.map(toLdif).join('\n'));
    if (added.code !== 0) throw new Error(`ldapadd failed (code ${added.code}): ${added.stderr.trim()}`);

    let closed: Promise<void> | undefined;
    const running: RunningSlapd = {
      url,
      ldapsUrl,
      port,
      caFile: tls.caFile,
      suffix: SUFFIX,
      peopleBase: `ou=people,${SUFFIX}`,
      groupsBase: `ou=groups,${SUFFIX}`,
      serviceDN,
      servicePassword,
      servicePasswordFile,
      users,
      dir,
      get process() {
        return slapd;
      },
      stop: () => slapd.stop(),
      restart: async () => {
        await slapd.stop();
        slapd = await launch();
      },
      modify: async (ldif) => {
        const modified = await asAdministrator('ldapmodify', ldif);
        if (modified.code !== 0) throw new Error(`ldapmodify failed (code ${modified.code}): ${modified.stderr.trim()}`);
      },
      close: () => {
        closed ??= slapd.stop().then(() => removeDir(dir));
        return closed;
      },
    };
    return running;
  } catch (error) {
    await slapd.stop();
    throw error;
  }
}

/** ldapadd -y reads the password from a file, so it never shows in a process listing. */
async function passwordFile(dir: string, password: string): Promise<string> {
  const file = join(dir, 'root-password');
  await writeFile(file, password, { mode: 0o600 });
  return file;
}

function inetOrgPerson(dn: string, uid: string, password: string | undefined, otherUids: readonly string[] = []): Array<[string, string]> {
  const entry: Array<[string, string]> = [
    ['dn', dn],
    ['objectClass', 'inetOrgPerson'],
    ['uid', uid],
    ...otherUids.map((other): [string, string] => ['uid', other]),
    ['cn', uid],
    ['sn', uid],
  ];
  // mail is IA5 (ASCII) only.
  if (/^[\x20-\x7e]+$/.test(uid)) entry.push(['mail', `${uid}@example.test`]);
  if (password !== undefined) entry.push(['userPassword', sshaHash(password)]);
  return entry;
}

function groupOfNames(dn: string, cn: string, members: string[]): Array<[string, string]> {
  return [['dn', dn], ['objectClass', 'groupOfNames'], ['cn', cn], ...members.map((member): [string, string] => ['member', member])];
}

/** One LDIF record; values that are not RFC 2849 SAFE-STRINGs are base64 (`attr:: …`). */
function toLdif(entry: Array<[string, string]>): string {
  // eslint-disable-next-line no-control-regex -- RFC 2849's SAFE-STRING is defined by control-character ranges
  const safe = /^[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*$/;
  return entry
    .map(([name, value]) =>
      safe.test(value) && !value.endsWith(' ') ? `${name}: ${value}` : `${name}:: ${Buffer.from(value, 'utf8').toString('base64')}`,
    )
    .join('\n')
    .concat('\n');
}

async function waitForPort(port: number, slapd: RunningProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (slapd.child.exitCode !== null || slapd.child.signalCode !== null) {
      throw new Error(`slapd exited early (code ${slapd.child.exitCode}):\n${slapd.output()}`);
    }
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) {
      await slapd.stop();
      throw new Error(`slapd did not listen on ${port} within ${timeoutMs} ms:\n${slapd.output()}`);
    }
    await sleep(25);
  }
}
