/** What the throttle counts by: accounts as directories compare names, addresses as one client holds them. */
import { isIPv4, isIPv6 } from 'node:net';
import { foldUserName } from '../user-name.js';

/**
 * Account names as directories compare them (foldUserName: compatibility-normalised, case-folded,
 * without surrounding white space), so "Alice", "alice " and "ＡＬＩＣＥ" share one counter.
 */
export function normalizeAccount(user: string): string {
  return foldUserName(user);
}

/** IPv4 as is (also when IPv4-mapped), IPv6 reduced to its /prefix, anything else as given. */
export function normalizeAddress(ip: string, ipv6Prefix = 64): string {
  const bare = ip
    .trim()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return mapped[1] as string;
  if (isIPv4(bare)) return bare;
  if (!isIPv6(bare)) return bare.toLowerCase();
  const groups = expandIPv6(bare);
  let bits = ipv6Prefix;
  const out: string[] = [];
  for (const group of groups) {
    const keep = Math.max(0, Math.min(16, bits));
    bits -= 16;
    out.push(((group >> (16 - keep)) << (16 - keep)).toString(16));
    if (keep === 0) out[out.length - 1] = '0';
  }
  return `${out.join(':')}/${ipv6Prefix}`;
}

function expandIPv6(address: string): number[] {
  let text = address;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16) & 0xffff);
}
