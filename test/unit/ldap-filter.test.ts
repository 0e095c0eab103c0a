/**
 * LDAP injection: a user name is put into a search filter such as
 * `(&(objectClass=inetOrgPerson)(uid={user}))`. Unescaped, `*` turns the equality into a wildcard
 * (`xav*` finds xavier, and his password then logs in as "xav*"), and `)(` closes the component
 * and adds new ones (`alice)(uid=*` or `*)(|(uid=*` widen the filter to anyone). These tests parse
 * the filled-in filters with ldapts' own parser — what goes on the wire — and check that each
 * payload stays one literal equality value. Also: which user names are never sent, which attribute
 * names a user (a filter that also matches `mail` must not make an e-mail address a user name), the
 * config schema's checks, and group names read from DNs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AndFilter, EqualityFilter, FilterParser, SubstringFilter, type Filter } from 'ldapts';
import {
  escapeFilterValue,
  fillFilterTemplate,
  isAcceptableUserName,
  leadingRdnValue,
  MAX_USER_NAME_LENGTH,
  userSearchFilter,
} from '../../src/auth/ldap/index.js';
import { filterTemplateProblem, namingAttributeFromFilter, userNameComparisons } from '../../src/config/schema/ldap-filter.js';
import { ldapConfigSchema, namingAttributeOf } from '../../src/config/schema/ldap.js';

const OPENLDAP = '(&(objectClass=inetOrgPerson)(uid={user}))';
const ACTIVE_DIRECTORY = '(&(objectClass=user)(sAMAccountName={user}))';

const PAYLOADS = [
  '*',
  'xav*',
  '*alice*',
  'alice)(uid=*',
  'alice)(|(uid=*',
  '*)(|(uid=*',
  '*)(uid=*))(|(uid=*',
  'alice))(|(objectClass=*',
  '(uid=alice)',
  'alice\\',
  'alice\\2a',
  'alice\\29(uid=*',
  'al\\69ce',
  'alice\u0000',
  'alice\u0000)(uid=*',
  'alice)\u0000',
  '\\00',
  'zoë*',
  '😀)(uid=*',
];

/** The filter as the directory will receive it: ldapts parses the string into this tree. */
function parsed(template: string, user: string): Filter {
  return FilterParser.parseString(fillFilterTemplate(template, { user }));
}

describe('RFC 4515 escaping', () => {
  test('the reserved characters and control characters become \\XX; everything else stays', () => {
    assert.equal(escapeFilterValue('*'), '\\2a');
    assert.equal(escapeFilterValue('('), '\\28');
    assert.equal(escapeFilterValue(')'), '\\29');
    assert.equal(escapeFilterValue('\\'), '\\5c');
    assert.equal(escapeFilterValue('\u0000'), '\\00');
    assert.equal(escapeFilterValue('a\nb\u007f'), 'a\\0ab\\7f');
    assert.equal(escapeFilterValue('alice)(uid=*'), 'alice\\29\\28uid=\\2a');
    assert.equal(escapeFilterValue('zoë.o-brien_1@example.com'), 'zoë.o-brien_1@example.com');
    assert.equal(escapeFilterValue('😀'), '😀');
  });

  for (const [name, template, attribute] of [
    ['OpenLDAP', OPENLDAP, 'uid'],
    ['Active Directory', ACTIVE_DIRECTORY, 'sAMAccountName'],
  ] as const) {
    test(`${name}: every injection payload stays one literal equality value`, () => {
      for (const payload of PAYLOADS) {
        const filter = parsed(template, payload);
        assert.ok(filter instanceof AndFilter, `${JSON.stringify(payload)}: top level changed`);
        assert.equal(filter.filters.length, 2, `${JSON.stringify(payload)}: components added`);
        const [objectClass, user] = filter.filters as [Filter, Filter];
        assert.ok(objectClass instanceof EqualityFilter && user instanceof EqualityFilter, `${JSON.stringify(payload)}: not equalities`);
        assert.equal(user.attribute, attribute);
        assert.equal(user.value, payload, `${JSON.stringify(payload)}: value changed`);
      }
    });
  }

  test('the search for a user ANDs the naming attribute, and every payload stays a literal value in both places', () => {
    const byMail = '(&(objectClass=inetOrgPerson)(|(uid={user})(mail={user})))';
    for (const payload of PAYLOADS) {
      const filter = FilterParser.parseString(userSearchFilter(byMail, 'uid', payload));
      assert.ok(filter instanceof AndFilter, `${JSON.stringify(payload)}: top level changed`);
      assert.equal(filter.filters.length, 2, `${JSON.stringify(payload)}: components added`);
      const [configured, named] = filter.filters as [Filter, Filter];
      assert.equal(configured.toString(), parsed(byMail, payload).toString(), 'the configured filter, as filled in');
      assert.ok(named instanceof EqualityFilter, `${JSON.stringify(payload)}: the name is not an equality`);
      assert.equal(named.attribute, 'uid');
      assert.equal(named.value, payload, `${JSON.stringify(payload)}: value changed`);
    }
  });

  test('without escaping the same payloads would widen the filter (the test above means something)', () => {
    const raw = (user: string): AndFilter => {
      const parsed = FilterParser.parseString(OPENLDAP.replace('{user}', user));
      assert.ok(parsed instanceof AndFilter, 'the template is an AND of its parts');
      return parsed;
    };
    assert.ok(raw('xav*').filters[1] instanceof SubstringFilter);
    assert.equal(raw('alice)(uid=*').filters.length, 3);
  });

  test('a DN in a group filter is escaped too (DNs may hold \\, parentheses and *)', () => {
    const dn = 'cn=a\\2Cb (x*),ou=people,dc=example,dc=test';
    const filter = FilterParser.parseString(fillFilterTemplate('(&(objectClass=groupOfNames)(member={dn}))', { dn }));
    assert.ok(filter instanceof AndFilter);
    const member = filter.filters[1];
    assert.ok(member instanceof EqualityFilter);
    assert.equal(member.value, dn);
  });

  test('placeholders without a value are left alone; values are not re-scanned for placeholders', () => {
    assert.equal(fillFilterTemplate('(uid={user})', {}), '(uid={user})');
    assert.equal(fillFilterTemplate('(&(uid={user})(member={dn}))', { user: '{dn}', dn: 'x' }), '(&(uid={dn})(member=x))');
  });
});

describe('user names that are never sent to the directory', () => {
  test('control characters, empty, too long, surrounding white space', () => {
    for (const user of [
      '',
      'alice\u0000',
      '\u0000',
      'alice\n',
      'al\tice',
      'alice\u007f',
      'alice\u0085',
      ' alice',
      'alice ',
      'x'.repeat(MAX_USER_NAME_LENGTH + 1),
    ]) {
      assert.equal(isAcceptableUserName(user), false, JSON.stringify(user));
    }
  });

  test('ordinary names, with punctuation and non-ASCII', () => {
    for (const user of ['alice', 'o.brien', 'zoë', 'DOMAIN\\user', 'user@example.com', 'x'.repeat(MAX_USER_NAME_LENGTH), 'a b']) {
      assert.equal(isAcceptableUserName(user), true, JSON.stringify(user));
    }
  });
});

describe('filter templates', () => {
  test('the OpenLDAP and Active Directory examples are accepted', () => {
    assert.equal(filterTemplateProblem(OPENLDAP, ['user'], ['user']), undefined);
    assert.equal(filterTemplateProblem(ACTIVE_DIRECTORY, ['user'], ['user']), undefined);
    assert.equal(filterTemplateProblem('(&(objectClass=groupOfNames)(member={dn}))', ['user', 'dn'], ['user', 'dn']), undefined);
  });

  test('a template without {user}, with an unknown placeholder, or unbalanced is refused', () => {
    assert.match(filterTemplateProblem('(uid=alice)', ['user'], ['user']) ?? '', /must contain \{user\}/);
    assert.match(filterTemplateProblem('(uid={username})', ['user'], ['user']) ?? '', /unknown placeholder.*\{username\}/);
    assert.match(filterTemplateProblem('(uid={dn})', ['user'], ['user']) ?? '', /unknown placeholder/);
    assert.ok(filterTemplateProblem('(&(uid={user})', ['user'], ['user']));
    assert.ok(filterTemplateProblem('uid={user}', ['user'], ['user']));
  });
});

describe('the attribute that names a user', () => {
  test("where a user filter compares {user}: each attribute, and whether it is the whole name's equality; NOT left out", () => {
    assert.deepEqual(userNameComparisons(OPENLDAP), [{ attribute: 'uid', exact: true }]);
    assert.deepEqual(userNameComparisons('(&(objectClass=person)(|(uid={user})(mail={user}@example.com)(cn~={user})))'), [
      { attribute: 'uid', exact: true },
      { attribute: 'mail', exact: false },
      { attribute: 'cn', exact: false },
    ]);
    assert.deepEqual(userNameComparisons('(|(uid={user}*)(uid:caseExactMatch:={user})(:dn:2.5.13.5:={user}))'), [
      { attribute: 'uid', exact: false },
      { attribute: 'uid', exact: false },
      { attribute: '', exact: false },
    ]);
    assert.deepEqual(userNameComparisons('(&(uid={user})(!(mail={user})))'), [{ attribute: 'uid', exact: true }]);
  });

  test('the filter names users only by one attribute compared with the whole name', () => {
    assert.equal(namingAttributeFromFilter(OPENLDAP), 'uid');
    assert.equal(namingAttributeFromFilter(ACTIVE_DIRECTORY), 'sAMAccountName');
    assert.equal(namingAttributeFromFilter('(|(uid={user})(UID={user}))'), 'UID', 'one attribute in two spellings');
    assert.equal(namingAttributeFromFilter('(&(objectClass=person)(|(uid={user})(mail={user}@example.com)))'), 'uid');
    assert.equal(namingAttributeFromFilter('(&(objectClass=inetOrgPerson)(|(uid={user})(mail={user})))'), undefined);
    assert.equal(namingAttributeFromFilter('(uid={user}*)'), undefined);
    assert.equal(namingAttributeFromFilter('(mail={user}@example.com)'), undefined);
  });

  test('a config whose filter does not say which attribute names users needs userNameAttribute', () => {
    const base = {
      url: 'ldaps://ldap.example.com',
      bindDN: 'cn=svc,dc=example,dc=com',
      bindPasswordFile: '/run/secrets/ldap',
      userBase: 'dc=example,dc=com',
    };
    const byMail = { ...base, userFilter: '(&(objectClass=inetOrgPerson)(|(uid={user})(mail={user})))' };
    const refused = ldapConfigSchema.safeParse(byMail);
    assert.equal(refused.success, false);
    assert.deepEqual(
      refused.error.issues.map((issue) => issue.path),
      [['userNameAttribute']],
    );
    assert.match(JSON.stringify(refused.error.issues), /set userNameAttribute/);
    assert.equal(namingAttributeOf(ldapConfigSchema.parse({ ...byMail, userNameAttribute: 'uid' })), 'uid');
    assert.equal(namingAttributeOf(ldapConfigSchema.parse(base)), 'uid', 'the default filter names users by uid');
    assert.equal(namingAttributeOf(ldapConfigSchema.parse({ ...base, userFilter: ACTIVE_DIRECTORY })), 'sAMAccountName');
  });
});

describe('ldapConfigSchema', () => {
  const minimal = {
    url: 'ldaps://ldap.example.com',
    bindDN: 'cn=svc,dc=example,dc=com',
    bindPasswordFile: '/run/secrets/ldap',
    userBase: 'dc=example,dc=com',
  };

  test('defaults are safe: StartTLS on, certificates verified, memberOf, 5 s, 4 connections', () => {
    assert.deepEqual(ldapConfigSchema.parse(minimal), {
      ...minimal,
      startTls: true,
      userFilter: OPENLDAP,
      groupAttribute: 'memberOf',
      tls: { rejectUnauthorized: true },
      timeout: 5000,
      poolSize: 4,
    });
    const groupSearch = ldapConfigSchema.parse({ ...minimal, groupSearch: { base: 'ou=groups,dc=example,dc=com' } }).groupSearch;
    assert.deepEqual(groupSearch, {
      base: 'ou=groups,dc=example,dc=com',
      filter: '(&(objectClass=groupOfNames)(member={dn}))',
      nameAttribute: 'cn',
    });
  });

  test('exactly one password source, a valid URL, known keys, valid filters', () => {
    const fails = (input: object, pattern: RegExp) => {
      const result = ldapConfigSchema.safeParse(input);
      assert.equal(result.success, false, JSON.stringify(input));
      assert.match(JSON.stringify(result.error.issues), pattern);
    };
    fails({ ...minimal, bindPasswordFile: undefined }, /exactly one of bindPasswordFile and bindPasswordEnv/);
    fails({ ...minimal, bindPasswordEnv: 'LDAP_PASSWORD' }, /exactly one/);
    fails({ ...minimal, bindPassword: 'inline' }, /unrecognized|bindPassword/);
    fails({ ...minimal, url: 'http://ldap.example.com' }, /ldap:\/\/HOST/);
    fails({ ...minimal, url: 'ldap://ldap.example.com/dc=example?uid' }, /ldap:\/\/HOST/);
    fails({ ...minimal, userFilter: '(uid=*)' }, /must contain \{user\}/);
    fails({ ...minimal, timeout: 'soon' }, /not a positive duration/);
    fails({ ...minimal, timeout: 0 }, /not a positive duration/);
    fails({ ...minimal, groupAttribute: 'member of' }, /not an LDAP attribute name/);
    fails({ ...minimal, bindPasswordFile: undefined, bindPasswordEnv: 'NOT-A-NAME' }, /not an environment variable name/);
  });

  test('durations and the ldap:// form with a port', () => {
    const parsedConfig = ldapConfigSchema.parse({ ...minimal, url: 'ldap://10.0.0.5:3389', timeout: '750ms', poolSize: 2 });
    assert.equal(parsedConfig.timeout, 750);
    assert.equal(parsedConfig.poolSize, 2);
    assert.equal(ldapConfigSchema.parse({ ...minimal, url: 'ldap://[::1]:389', timeout: 3 }).timeout, 3000);
  });
});

describe('group names from DNs (memberOf)', () => {
  test('the leading RDN value, with RFC 4514 escapes undone', () => {
    assert.equal(leadingRdnValue('cn=pushers,ou=groups,dc=example,dc=test'), 'pushers');
    assert.equal(leadingRdnValue('CN=Registry Pushers,OU=Groups,DC=corp,DC=example'), 'Registry Pushers');
    assert.equal(leadingRdnValue('CN=Smith\\, John,OU=Groups,DC=corp'), 'Smith, John');
    assert.equal(leadingRdnValue('cn=ops\\2C night,ou=groups,dc=example,dc=test'), 'ops, night');
    assert.equal(leadingRdnValue('cn=caf\\C3\\A9,dc=x'), 'café');
    assert.equal(leadingRdnValue('cn=café,dc=x'), 'café');
    assert.equal(leadingRdnValue('cn=a\\+b\\=c\\"d\\\\e,dc=x'), 'a+b=c"d\\e');
    assert.equal(leadingRdnValue('cn=trailing\\ ,dc=x'), 'trailing ');
    assert.equal(leadingRdnValue('cn=spaces  , dc=x'), 'spaces');
    assert.equal(leadingRdnValue('cn="quoted, value",dc=x'), 'quoted, value');
    assert.equal(leadingRdnValue('cn=legacy;dc=x'), 'legacy');
    assert.equal(leadingRdnValue('cn=only'), 'only');
  });

  test('a multi-valued RDN gives its cn; another naming attribute gives its value', () => {
    assert.equal(leadingRdnValue('uid=x+cn=admins,ou=groups,dc=x'), 'admins');
    assert.equal(leadingRdnValue('ou=admins,dc=x'), 'admins');
    assert.equal(leadingRdnValue('2.5.4.3=oid-named,dc=x'), 'oid-named');
  });

  test('unreadable DNs give nothing rather than a wrong name', () => {
    for (const dn of ['', 'no equals sign', 'cn=#04024869,dc=x', 'cn="unterminated,dc=x', 'cn=bad\\', '=value,dc=x', 'cn=', 'c n=x,dc=y']) {
      assert.equal(leadingRdnValue(dn), undefined, JSON.stringify(dn));
    }
  });
});
