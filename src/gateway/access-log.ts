/**
 * What is known about a request once its response is done — status, bytes each way from the
 * socket's counters, time taken — measured once, for the access log line and the metrics alike.
 * The access-log line is written from chosen fields only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { splitRequestTarget } from '../oci/request-target.js';

export interface RequestOutcome {
  readonly status: number;
  /** The response was sent whole (not cut off by an error or a client that left). */
  readonly complete: boolean;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly ms: number;
}

/** Calls `done` once when the response is finished or the connection closed under it. */
export function onRequestDone(req: IncomingMessage, res: ServerResponse, started: bigint, done: (outcome: RequestOutcome) => void): void {
  const socket = req.socket;
  const readBefore = socket.bytesRead;
  const writtenBefore = socket.bytesWritten;
  res.once('close', () =>
    done({
      status: res.statusCode,
      complete: res.writableFinished,
      bytesIn: socket.bytesRead - readBefore,
      bytesOut: socket.bytesWritten - writtenBefore,
      ms: Number(process.hrtime.bigint() - started) / 1e6,
    }),
  );
}

export function logAccess(
  logger: Logger,
  req: IncomingMessage,
  state: { user: string | null; client: string },
  outcome: RequestOutcome,
): void {
  logger.info({
    client: state.client,
    user: state.user,
    method: req.method,
    path: splitRequestTarget(req.url ?? '').path,
    status: outcome.status,
    complete: outcome.complete,
    bytesIn: outcome.bytesIn,
    bytesOut: outcome.bytesOut,
    ms: outcome.ms,
  });
}
