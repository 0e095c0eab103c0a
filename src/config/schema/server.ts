/**
 * The `server` configuration section: the registry listener's deadlines and connection caps (see
 * server/listen.ts). A slow or idle client holds a connection only under a deadline, and one
 * client address only so many connections.
 */
import { z } from 'zod';
import { durationSchema } from '../duration.js';

const duration = (fallback: string) => durationSchema(fallback);
const positiveDuration = (fallback: string) => durationSchema(fallback, { positive: true });

export const serverConfigSchema = z
  .strictObject({
    shutdownGrace: duration('30s').describe('How long requests in flight may run on after SIGTERM.'),
    headersTimeout: duration('20s').describe('Time a client has to send its request headers (against slow-header attacks).'),
    handshakeTimeout: positiveDuration('10s').describe(
      'Time a client has, from connecting, to complete the TLS handshake (its first byte included); one total deadline, not renewed by each byte.',
    ),
    bodyTimeout: positiveDuration('10s').describe(
      'Time a client has to send a body the gateway reads itself — the login and token forms (before authentication), manifests (4 MiB at most) — one total deadline, not renewed by each byte; past it, 408 and the connection is closed.',
    ),
    requestTimeout: duration('60s').describe(
      'Time a request that is not a blob transfer may take, from its headers to the end of its answer (and of its body); past it the connection is closed. Blob uploads and downloads run as long as they move data, under `idleTimeout`. `0`: no limit.',
    ),
    idleTimeout: duration('900s').describe(
      'Idle socket timeout while a request is in progress (a blob transfer has no whole-request limit).',
    ),
    keepAliveTimeout: duration('65s').describe('How long an idle keep-alive connection is kept open.'),
    maxConnections: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(4096)
      .describe(
        'Open connections of the registry listener, at most, per process (each worker has its own); past it a new connection is refused (plain HTTP: 503 `UNAVAILABLE`; TLS: closed before the handshake).',
      ),
    maxConnectionsPerClient: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(256)
      .describe(
        'Open connections from one client address (IPv6: one /64), at most, per process; past it a new one is refused (plain HTTP: 503 `TOOMANYREQUESTS`; TLS: closed before the handshake). A docker daemon pulling in parallel uses a handful; raise it for many clients behind one NAT address. Peers in `trustedProxies` carry many clients and count only toward `maxConnections`.',
      ),
  })
  .prefault({})
  .describe('Deadlines and connection caps of the registry listener.');
