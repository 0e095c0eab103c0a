/** One access-log line per request, written when the response is done, from chosen fields only. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

export function logAccess(logger: Logger, req: IncomingMessage, res: ServerResponse, started: bigint, state: { user: string | null; client: string }): void {
  const socket = req.socket;
  const readBefore = socket.bytesRead;
  const writtenBefore = socket.bytesWritten;
  res.once('close', () => {
    const url = req.url ?? '';
    const queryAt = url.indexOf('?');
    logger.info({
      client: state.client,
      user: state.user,
      method: req.method,
      path: queryAt === -1 ? url : url.slice(0, queryAt),
      status: res.statusCode,
      complete: res.writableFinished,
      bytesIn: socket.bytesRead - readBefore,
      bytesOut: socket.bytesWritten - writtenBefore,
      ms: Number(process.hrtime.bigint() - started) / 1e6,
    });
  });
}
