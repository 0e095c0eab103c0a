/**
 * Child processes for tests: start a real server (Distribution, nginx, slapd, the gateway itself),
 * wait until it is ready, and always stop it — even when a test crashes before its `after` hook.
 *
 * Everything binds loopback; ports come from `freePort()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, type Dispatcher } from 'undici';

export interface StartProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Ready as soon as one line of stdout or stderr satisfies this. */
  readyWhen?: (line: string) => boolean;
  /** Ready as soon as this URL answers any HTTP status (see `waitForHttp`). */
  readyUrl?: string;
  /** Dispatcher for `readyUrl` (e.g. an undici Agent trusting a test CA). */
  readyDispatcher?: Dispatcher;
  /** Give up (kill the process, reject with its output) after this long. Default 15 s. */
  timeoutMs?: number;
  /** Strings replaced by `[REDACTED]` in `output()` and in every error message. */
  redact?: string[];
  /** Time between SIGTERM and SIGKILL in `stop()`. Default 3 s. */
  killAfterMs?: number;
}

export interface RunningProcess {
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after `killAfterMs`; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
  /** Everything written to stdout and stderr so far (interleaved, last 1 MiB), secrets redacted. */
  output(): string;
  /** What was written to one stream alone (last 1 MiB), secrets redacted. */
  streamOutput(stream: 'stdout' | 'stderr'): string;
}

const OUTPUT_LIMIT = 1024 * 1024;

/** Children still running; killed on process exit so a crashed test run leaves no servers behind. */
const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

export function redactAll(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first, so a secret that contains another is replaced whole.
  for (const secret of [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join('[REDACTED]');
  }
  return out;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function describe(cmd: string, args: readonly string[], secrets: readonly string[]): string {
  return redactAll([cmd, ...args].join(' '), secrets);
}

export async function startProcess(cmd: string, args: readonly string[], options: StartProcessOptions = {}): Promise<RunningProcess> {
  const { timeoutMs = 15_000, killAfterMs = 3_000, redact = [] } = options;
  const child = spawn(cmd, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveChildren.add(child);

  let captured = '';
  const output = (): string => redactAll(captured, redact);
  const perStream = { stdout: '', stderr: '' };
  const streamOutput = (stream: 'stdout' | 'stderr'): string => redactAll(perStream[stream], redact);

  // An object, so that the wait loop below reads what the stream callbacks set.
  const ready = { line: false };
  const onLine = (line: string): void => {
    if (!ready.line && options.readyWhen?.(line)) ready.line = true;
  };
  for (const [name, stream] of [
    ['stdout', child.stdout],
    ['stderr', child.stderr],
  ] as const) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      captured += chunk;
      if (captured.length > OUTPUT_LIMIT) captured = captured.slice(-OUTPUT_LIMIT);
      perStream[name] += chunk;
      if (perStream[name].length > OUTPUT_LIMIT) perStream[name] = perStream[name].slice(-OUTPUT_LIMIT);
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    });
    stream.on('end', () => {
      if (partial) onLine(partial);
    });
  }

  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      liveChildren.delete(child);
      resolve();
    });
  });
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
    liveChildren.delete(child);
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (hasExited(child) || spawnError) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };

  const running: RunningProcess = { child, stop, output, streamOutput };
  const fail = async (why: string): Promise<never> => {
    await stop();
    throw new Error(`${describe(cmd, args, redact)}: ${why}\n--- output ---\n${output()}`);
  };

  const deadline = Date.now() + timeoutMs;
  let urlReady = options.readyUrl === undefined;
  const needLine = options.readyWhen !== undefined;
  for (;;) {
    if (spawnError) return fail(`could not start: ${spawnError.message}`);
    if (hasExited(child)) {
      return fail(`exited early (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    if (!urlReady && options.readyUrl !== undefined) {
      urlReady = await answersHttp(options.readyUrl, options.readyDispatcher);
    }
    if (urlReady && (!needLine || ready.line)) {
      // A process can answer and then die on a late config error; one more look catches most.
      if (hasExited(child)) continue;
      return running;
    }
    if (Date.now() > deadline) return fail(`not ready after ${timeoutMs} ms`);
    await sleep(50);
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill (SIGKILL) after this long; the result then has `signal: 'SIGKILL'`. Default 60 s. */
  timeoutMs?: number;
  input?: string | Buffer;
}

/** Run a command to completion and collect its output. Never rejects for a non-zero exit. */
export function runProcess(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { timeoutMs = 60_000 } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    liveChildren.add(child);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => stdout.push(c));
    child.stderr!.on('data', (c: Buffer) => stderr.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/**
 * A port that was free a moment ago on 127.0.0.1. For servers we start ourselves prefer
 * `listen(0)`; this is for external programs that need the port in their config file.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('freePort: no TCP address'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

async function answersHttp(url: string, dispatcher: Dispatcher | undefined): Promise<boolean> {
  try {
    const res = await request(url, {
      method: 'GET',
      headersTimeout: 2_000,
      bodyTimeout: 2_000,
      ...(dispatcher ? { dispatcher } : {}),
    });
    await res.body.dump();
    return true;
  } catch {
    return false;
  }
}

/**
 * Poll `url` until it answers with any HTTP status (a registry behind auth answers 401, which
 * still means "up"). Rejects after `timeoutMs` (default 10 s).
 */
export async function waitForHttp(url: string, options: { timeoutMs?: number; dispatcher?: Dispatcher } = {}): Promise<void> {
  const { timeoutMs = 10_000 } = options;
  const deadline = Date.now() + timeoutMs;
  while (!(await answersHttp(url, options.dispatcher))) {
    if (Date.now() > deadline) throw new Error(`waitForHttp: ${url} did not answer within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** A fresh directory under the OS temp dir; remove it with `removeDir` in `after`. */
export function makeTempDir(prefix = 'registry-gate-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
