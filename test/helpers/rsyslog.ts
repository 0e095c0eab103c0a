/**
 * A real syslog collector for tests: Debian's `rsyslogd` in the foreground, unprivileged ports on
 * 127.0.0.1, its own config and work directory, listening with imtcp (octet-counted RFC 5424 over
 * plain TCP), imtcp with the `ossl` stream driver (RFC 5425, TLS; package rsyslog-openssl) and imudp.
 * Each message received is parsed by rsyslog itself — its RFC 5424 parser for the header, and
 * mmpstrucdata for the structured data — and written as one JSON line, so a test sees what a SIEM
 * behind rsyslog would see.
 *
 *   dir/
 *   ├── rsyslog.conf
 *   ├── received.jsonl   one line per message: transport, pri, header fields, raw SD, parsed SD, msg
 *   └── work/            rsyslog's work directory
 *
 * `pause()` stops the process (SIGSTOP): the kernel still accepts connections, but nothing is read,
 * as with a collector that hangs. `stop()` and `start()` on the same ports are an outage and the
 * recovery.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { waitFor } from './wait.js';
import { freePort, startProcess, type RunningProcess } from './process.js';

export const RSYSLOGD_BIN = process.env.RSYSLOGD_BIN ?? 'rsyslogd';

export interface ReceivedSyslog {
  /** The input it came in on: `tcp`, `tls` or `udp`. */
  transport: string;
  pri: number;
  hostname: string;
  appname: string;
  procid: string;
  msgid: string;
  /** STRUCTURED-DATA as it was on the wire. */
  sdRaw: string;
  /** STRUCTURED-DATA as rsyslog parsed it: SD-ID → PARAM-NAME → value (unescaped); null when there was none. */
  sd: Record<string, Record<string, string>> | null;
  msg: string;
}

export interface RsyslogOptions {
  /** Listen with TLS too, with this certificate and key (PEM files). */
  tls?: { certFile: string; keyFile: string };
}

export interface RunningRsyslog {
  readonly ports: { readonly tcp: number; readonly udp: number; readonly tls?: number | undefined };
  /** Every message received so far, in order. */
  received(): Promise<ReceivedSyslog[]>;
  /** Waits until `done` holds for what was received (default deadline 10 s) and returns it. */
  waitForMessages(what: string, done: (all: ReceivedSyslog[]) => boolean, timeoutMs?: number): Promise<ReceivedSyslog[]>;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
  start(): Promise<void>;
  output(): string;
  close(): Promise<void>;
}

/** A JSON line per message; `$!rfc5424-sd` is mmpstrucdata's tree, written as JSON by rsyslog. */
const TEMPLATE = `template(name="received" type="list") {
  constant(value="{\\"transport\\":\\"") property(name="inputname")
  constant(value="\\",\\"pri\\":") property(name="pri")
  constant(value=",\\"hostname\\":\\"") property(name="hostname" format="json")
  constant(value="\\",\\"appname\\":\\"") property(name="app-name" format="json")
  constant(value="\\",\\"procid\\":\\"") property(name="procid" format="json")
  constant(value="\\",\\"msgid\\":\\"") property(name="msgid" format="json")
  constant(value="\\",\\"sdRaw\\":\\"") property(name="structured-data" format="json")
  constant(value="\\",\\"msg\\":\\"") property(name="msg" format="json")
  constant(value="\\",\\"sd\\":") property(name="$!rfc5424-sd")
  constant(value="}\\n")
}`;

function configText(dir: string, ports: RunningRsyslog['ports'], options: RsyslogOptions): string {
  const tls = options.tls;
  return [
    // Control characters are kept as received: the sender is the one that must make them safe.
    `global(workDirectory="${join(dir, 'work')}" maxMessageSize="64k" parser.escapeControlCharactersOnReceive="off"${
      tls ? ` defaultNetstreamDriverCertFile="${tls.certFile}" defaultNetstreamDriverKeyFile="${tls.keyFile}"` : ''
    })`,
    'module(load="imtcp")',
    'module(load="imudp")',
    'module(load="mmpstrucdata")',
    TEMPLATE,
    `ruleset(name="audit") {
  action(type="mmpstrucdata" sd_name.lowercase="off")
  action(type="omfile" file="${join(dir, 'received.jsonl')}" template="received")
}`,
    `input(type="imtcp" address="127.0.0.1" port="${ports.tcp}" ruleset="audit" name="tcp")`,
    `input(type="imudp" address="127.0.0.1" port="${ports.udp}" ruleset="audit" name="udp")`,
    ...(ports.tls
      ? [
          `input(type="imtcp" address="127.0.0.1" port="${ports.tls}" ruleset="audit" name="tls" streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")`,
        ]
      : []),
  ].join('\n');
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export async function startRsyslog(dir: string, options: RsyslogOptions = {}): Promise<RunningRsyslog> {
  await mkdir(join(dir, 'work'), { recursive: true });
  const ports = { tcp: await freePort(), udp: await freePort(), tls: options.tls ? await freePort() : undefined };
  const configFile = join(dir, 'rsyslog.conf');
  const receivedFile = join(dir, 'received.jsonl');
  await writeFile(configFile, configText(dir, ports, options) + '\n');
  let proc: RunningProcess | undefined;

  const start = async () => {
    proc = await startProcess(RSYSLOGD_BIN, ['-n', '-f', configFile, '-i', join(dir, 'rsyslogd.pid')], { timeoutMs: 15_000 });
    const running = proc;
    await waitFor(
      'rsyslogd listening',
      async () => {
        if (running.child.exitCode !== null) throw new Error(`rsyslogd exited: ${running.output()}`);
        return (await canConnect(ports.tcp)) && (ports.tls === undefined || (await canConnect(ports.tls)));
      },
      { timeoutMs: 15_000 },
    );
  };
  const received = async (): Promise<ReceivedSyslog[]> => {
    const text = await readFile(receivedFile, 'utf8').catch(() => '');
    return (
      text
        .split('\n')
        .filter((line) => line !== '')
        // A message without structured data leaves mmpstrucdata's property empty.
        .map((line) => JSON.parse(line.replace(/"sd":}$/, '"sd":null}')) as ReceivedSyslog)
    );
  };
  await start();
  return {
    ports,
    received,
    async waitForMessages(what, done, timeoutMs = 10_000) {
      let last: ReceivedSyslog[] = [];
      try {
        return await waitFor(
          what,
          async () => {
            last = await received();
            return done(last) && last;
          },
          { timeoutMs, intervalMs: 50 },
        );
      } catch (error) {
        throw new Error(`${(error as Error).message}; received ${last.length}: ${JSON.stringify(last.slice(-3))}`, { cause: error });
      }
    },
    pause: () => proc?.child.kill('SIGSTOP'),
    resume: () => proc?.child.kill('SIGCONT'),
    async stop() {
      proc?.child.kill('SIGCONT');
      await proc?.stop();
    },
    start,
    output: () => proc?.output() ?? '',
    async close() {
      proc?.child.kill('SIGCONT');
      await proc?.stop();
    },
  };
}
