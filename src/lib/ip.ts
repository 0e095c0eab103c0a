/**
 * The one place IP addresses are read: node:net's isIP decides what is an address, BlockList matches
 * CIDRs (compiled once from config), and an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, how a
 * dual-stack socket reports an IPv4 peer, in any case or spelled in hex) is the IPv4 address for the
 * trusted-proxy check, the client address and the login throttle alike.
 */
import { BlockList, isIP } from 'node:net';
import { InternalError } from './internal-errors.js';

export type IpFamily = 'ipv4' | 'ipv6';

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: IpFamily;
}

export function parseCidr(text: string): Cidr | undefined {
  const [address = '', prefixText, ...rest] = text.split('/');
  if (rest.length > 0) return undefined;
  const version = isIP(address);
  if (version === 0) return undefined;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const max = version === 4 ? 32 : 128;
  if (prefixText === undefined) return { address, prefix: max, family };
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix <= max ? { address, prefix, family } : undefined;
}

/** An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, `::FFFF:a01:203`) as IPv4 (`10.1.2.3`); anything else as given. */
export function normalizeIp(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = ipv6Groups(address);
  const [high = 0, low = 0] = groups.slice(6);
  const mapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  return mapped ? `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}` : address;
}

export type AddressMatcher = (address: string) => boolean;

export function compileAddressMatcher(cidrs: readonly string[]): AddressMatcher {
  if (cidrs.length === 0) return () => false;
  const list = new BlockList();
  for (const text of cidrs) {
    const cidr = parseCidr(text);
    if (!cidr) throw new InternalError('RG_ERR_CONFIG_INVALID', `not an IP address or CIDR: ${text}`);
    list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return (address) => {
    const ip = normalizeIp(address);
    const version = isIP(ip);
    return version !== 0 && list.check(ip, version === 4 ? 'ipv4' : 'ipv6');
  };
}

/**
 * What one client holds: IPv4 as is (also when IPv4-mapped), IPv6 reduced to its /prefix network
 * (a host is usually given a whole /64), anything else lower-cased. Accepts `[brackets]` and an
 * IPv6 `%zone`, as addresses come in headers.
 */
export function clientNetwork(text: string, ipv6Prefix = 64): string {
  const bare = normalizeIp(
    text
      .trim()
      .replace(/^\[(?<inner>.*)\]$/, '$<inner>')
      .replace(/%.*$/, ''),
  );
  const version = isIP(bare);
  if (version === 4) return bare;
  if (version === 0) return bare.toLowerCase();
  let bits = ipv6Prefix;
  const network = ipv6Groups(bare).map((group) => {
    const keep = Math.max(0, Math.min(16, bits));
    bits -= 16;
    return keep === 0 ? 0 : (group >> (16 - keep)) << (16 - keep);
  });
  return `${network.map((group) => group.toString(16)).join(':')}/${ipv6Prefix}`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted IPv4 part as two groups). */
function ipv6Groups(address: string): number[] {
  let text = address.replace(/%.*$/, '');
  const v4 = /(?<a>\d+)\.(?<b>\d+)\.(?<c>\d+)\.(?<d>\d+)$/.exec(text);
  if (v4) {
    const [a = 0, b = 0, c = 0, d = 0] = Object.values(v4.groups ?? {}).map(Number);
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16) & 0xffff);
}
