/**
 * A real Redis (Debian's `redis-server`) on 127.0.0.1 for tests: no persistence unless asked, no daemonizing,
 * its own config file in a temp dir, a password when asked for one. `stop()` and `start()` again on
 * the same port simulate an outage and the recovery.
 *
 *   dir/
 *   └── redis.conf
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, makeTempDir, removeDir, runProcess, startProcess, type RunningProcess } from './process.js';

export const REDIS_BIN = process.env.REDIS_BIN ?? 'redis-server';

export interface RunningRedis {
  /** `redis://[:PASSWORD@]127.0.0.1:PORT`. */
  url: string;
  port: number;
  /** Stops the server (the outage); `start()` brings it back on the same port, empty. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Runs one redis-cli command against it (for checks such as INFO). */
  cli(...args: string[]): Promise<string>;
  output(): string;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

/** `persist`: keep the data across `stop()` and `start()` (an append-only file), as a restarted production Redis would. */
export async function startRedis(options: { password?: string; persist?: boolean } = {}): Promise<RunningRedis> {
  const dir = await makeTempDir('registry-gate-redis-');
  const configFile = join(dir, 'redis.conf');
  let port = await freePort();
  let proc: RunningProcess | undefined;
  const redact = options.password ? [options.password] : [];

  const start = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      const lines = [
        'bind 127.0.0.1',
        `port ${port}`,
        'daemonize no',
        'save ""',
        ...(options.persist ? ['appendonly yes', 'appendfsync always'] : ['appendonly no']),
        `dir ${dir}`,
        // "Ready to accept connections", which start() waits for, is a notice.
        'loglevel notice',
        ...(options.password ? [`requirepass ${options.password}`] : []),
      ];
      await writeFile(configFile, lines.join('\n') + '\n', { mode: 0o600 });
      try {
        proc = await startProcess(REDIS_BIN, [configFile], {
          readyWhen: (line) => /Ready to accept connections/i.test(line),
          timeoutMs: 15_000,
          redact,
        });
        return;
      } catch (error) {
        if (attempt < 3 && /Address already in use/i.test(String(error))) {
          port = await freePort();
          continue;
        }
        throw error;
      }
    }
  };
  await start();
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  return {
    get url() {
      return `redis://${auth}127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    async stop() {
      await proc?.stop();
    },
    start,
    async cli(...args) {
      const result = await runProcess(
        'redis-cli',
        ['-h', '127.0.0.1', '-p', String(port), ...(options.password ? ['--no-auth-warning', '-a', options.password] : []), ...args],
        { timeoutMs: 10_000 },
      );
      if (result.code !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${result.stderr}`);
      return result.stdout;
    },
    output: () => proc?.output() ?? '',
    async close() {
      await proc?.stop();
      await removeDir(dir);
    },
  };
}
