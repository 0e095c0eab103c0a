/** Header policy of the gateway itself: the legacy-client rule, and who the client is. */
import type { IncomingHttpHeaders } from 'node:http';
import type { ForwardingFacts } from '../backend/backend.js';
import { oneHeaderValue } from '../lib/header-value.js';

/**
 * The recipe's user-agent rule, `^(docker\/1\.(3|4|5(?!\.[0-9]-dev))|Go ).*$`, without a regex:
 * docker 1.3, 1.4 and 1.5 (but not 1.5.x-dev) and pre-1.6 docker's `Go ` user agent are refused.
 */
export function isLegacyDockerClient(userAgent: string | undefined): boolean {
  if (userAgent === undefined) return false;
  if (userAgent.startsWith('Go ')) return true;
  if (!userAgent.startsWith('docker/1.')) return false;
  const minor = userAgent.charAt('docker/1.'.length);
  if (minor === '3' || minor === '4') return true;
  if (minor !== '5') return false;
  const rest = userAgent.slice('docker/1.5'.length);
  const digit = rest.charAt(1);
  const isDev = rest.startsWith('.') && digit >= '0' && digit <= '9' && rest.startsWith('-dev', 2);
  return !isDev;
}

/** The client's address as logged and audited: the trusted proxy's word for it, else the peer. */
export function clientAddress(headers: IncomingHttpHeaders, facts: ForwardingFacts): string {
  if (!facts.peerTrusted) return facts.peer;
  const realIp = oneHeaderValue(headers['x-real-ip'])?.trim();
  if (realIp) return realIp;
  const forwardedFor = oneHeaderValue(headers['x-forwarded-for']);
  const first = forwardedFor?.split(',')[0]?.trim();
  return first || facts.peer;
}

export function clientProto(headers: IncomingHttpHeaders, facts: ForwardingFacts): string {
  const proto = facts.peerTrusted ? oneHeaderValue(headers['x-forwarded-proto'])?.split(',')[0]?.trim().toLowerCase() : undefined;
  return proto === 'http' || proto === 'https' ? proto : facts.scheme;
}
