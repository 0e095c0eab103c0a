/**
 * Group names from group DNs (`memberOf: CN=Registry Pushers,OU=Groups,DC=corp,DC=example`): the
 * value of the leading RDN, preferring its `cn` when the RDN is multi-valued. Parsed per RFC 4514
 * (escaped `\,` and `\2C`, multi-byte `\C3\A9`, legacy quoted values and `;` separators), because a
 * naive split on "," turns `CN=Smith\, John` into `Smith\`. ldapts has no DN string parser; this
 * reads only as far as the first RDN.
 */

/** The leading RDN's value (its `cn` if it has several), or undefined when the DN cannot be read. */
export function leadingRdnValue(dn: string): string | undefined {
  const avas = parseLeadingRdn(dn);
  if (!avas || avas.length === 0) return undefined;
  const cn = avas.find((ava) => ava.type.toLowerCase() === 'cn' || ava.type === '2.5.4.3');
  const value = (cn ?? avas[0])?.value;
  return value === undefined || value === '' ? undefined : value;
}

interface Ava {
  readonly type: string;
  readonly value: string;
}

const HEX_PAIR = /^[0-9a-fA-F]{2}$/;

function parseLeadingRdn(dn: string): Ava[] | undefined {
  const avas: Ava[] = [];
  let index = 0;
  const skipSpaces = () => {
    while (dn[index] === ' ') index += 1;
  };
  for (;;) {
    skipSpaces();
    const equals = dn.indexOf('=', index);
    if (equals < 0) return undefined;
    const type = dn.slice(index, equals).trim();
    if (!/^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)*)$/.test(type)) return undefined;
    index = equals + 1;
    skipSpaces();
    let value: string;
    if (dn[index] === '#') {
      // A BER-encoded value: not something to show as a group name.
      return undefined;
    } else if (dn[index] === '"') {
      const read = readQuoted(dn, index + 1);
      if (!read) return undefined;
      value = read.value;
      index = read.end;
      skipSpaces();
    } else {
      const read = readString(dn, index);
      if (!read) return undefined;
      value = read.value;
      index = read.end;
    }
    avas.push({ type, value });
    const separator = dn[index];
    if (separator === '+') {
      index += 1;
      continue;
    }
    if (separator === undefined || separator === ',' || separator === ';') return avas;
    return undefined;
  }
}

/** An unquoted value up to an unescaped separator; trailing unescaped spaces are not part of it. */
function readString(dn: string, start: number): { value: string; end: number } | undefined {
  const bytes: number[] = [];
  let significantLength = 0;
  let index = start;
  while (index < dn.length) {
    const char = dn[index] as string;
    if (char === ',' || char === '+' || char === ';') break;
    if (char === '\\') {
      const pair = dn.slice(index + 1, index + 3);
      if (HEX_PAIR.test(pair)) {
        bytes.push(Number.parseInt(pair, 16));
        index += 3;
      } else if (index + 1 < dn.length) {
        bytes.push(...Buffer.from(dn[index + 1] as string, 'utf8'));
        index += 2;
      } else {
        return undefined;
      }
      significantLength = bytes.length;
      continue;
    }
    const codePoint = dn.codePointAt(index) as number;
    const text = String.fromCodePoint(codePoint);
    bytes.push(...Buffer.from(text, 'utf8'));
    if (char !== ' ') significantLength = bytes.length;
    index += text.length;
  }
  return { value: decodeUtf8(bytes.slice(0, significantLength)), end: index };
}

function readQuoted(dn: string, start: number): { value: string; end: number } | undefined {
  const bytes: number[] = [];
  let index = start;
  while (index < dn.length) {
    const char = dn[index] as string;
    if (char === '"') return { value: decodeUtf8(bytes), end: index + 1 };
    if (char === '\\') {
      const pair = dn.slice(index + 1, index + 3);
      if (HEX_PAIR.test(pair)) {
        bytes.push(Number.parseInt(pair, 16));
        index += 3;
        continue;
      }
      if (index + 1 >= dn.length) return undefined;
      index += 1;
    }
    const text = String.fromCodePoint(dn.codePointAt(index) as number);
    bytes.push(...Buffer.from(text, 'utf8'));
    index += text.length;
  }
  return undefined;
}

function decodeUtf8(bytes: number[]): string {
  return Buffer.from(bytes).toString('utf8');
}
