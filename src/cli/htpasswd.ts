/**
 * `registry-gate htpasswd add|delete|verify|list FILE [USER]`: manage an htpasswd file without
 * Apache's tools. Passwords come from a no-echo prompt or `--password-stdin`, never from the
 * command line (where `ps` would show them); nothing printed contains a password or a hash.
 * Exit status: 0 done; 1 wrong password or no such user; 2 the command could not do its job.
 */
import { StringDecoder } from 'node:string_decoder';
import { Command, InvalidArgumentError } from 'commander';
import { CliFailure, commandFailure, guard, TOOL_FAILURE } from './_failure.js';
import {
  BCRYPT_MAX_PASSWORD_BYTES,
  classifyHash,
  formatLabel,
  hashPasswordBcrypt,
  HtpasswdDocument,
  isSupported,
  isValidUserName,
  MAX_BCRYPT_COST,
  MIN_BCRYPT_COST,
  parseHtpasswd,
  readHtpasswdText,
  verifyPassword,
  writeHtpasswdFile,
} from '../auth/htpasswd/index.js';

type Input = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(mode: boolean): unknown };

/** Where the command reads passwords and writes messages; the process's own by default. */
export interface HtpasswdCliIo {
  readonly stdin: Input;
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

const MAX_STDIN_BYTES = 64 * 1024;

export function htpasswdCommand(io: Partial<HtpasswdCliIo> = {}): Command {
  const { stdin = process.stdin, stdout = process.stdout, stderr = process.stderr } = io;
  const streams: HtpasswdCliIo = { stdin, stdout, stderr };
  const root = new Command('htpasswd')
    .description('Manage an htpasswd file (users and bcrypt password hashes)')
    .configureOutput({ writeOut: (text) => void stdout.write(text), writeErr: (text) => void stderr.write(text) })
    .addHelpText(
      'after',
      `
Exit status: 0 done; 1 wrong password or no such user; 2 any other failure.

Examples:
  registry-gate htpasswd add ./data/htpasswd alice
  printf '%s\\n' "$CI_PASSWORD" | registry-gate htpasswd add --password-stdin ./data/htpasswd ci
  registry-gate htpasswd list ./data/htpasswd`,
    );
  addAddCommand(root, streams);
  addDeleteCommand(root, streams);
  addVerifyCommand(root, streams);
  addListCommand(root, streams);
  return root;
}

/** A message for the person at the terminal, on standard error (standard output is for scripts). */
function say(io: HtpasswdCliIo, text: string): void {
  io.stderr.write(text + '\n');
}

function addAddCommand(root: Command, io: HtpasswdCliIo): void {
  root
    .command('add')
    .description('Add a user, or change the password of an existing one (bcrypt); creates FILE if missing')
    .argument('<file>', 'htpasswd file')
    .argument('<user>', 'user name')
    .option('--cost <n>', `bcrypt cost, ${MIN_BCRYPT_COST}-${MAX_BCRYPT_COST}`, parseCost, 10)
    .option('--password-stdin', 'read the password from standard input (one trailing newline is removed)')
    .action(
      guard(TOOL_FAILURE, async function (this: Command, file: string, user: string, options: { cost: number; passwordStdin?: boolean }) {
        if (!isValidUserName(user)) {
          throw new CliFailure(
            "error: invalid user name (it must be non-empty, without ':', control characters or surrounding spaces, and not start with '#')",
            2,
          );
        }
        await readHtpasswdText(file); // fail on an unreadable file before asking for a password
        const password = options.passwordStdin ? await readPasswordFromStdin(io.stdin) : await promptNewPassword(io);
        checkNewPassword(password);
        const hash = await hashPasswordBcrypt(password, options.cost);
        const text = await readHtpasswdText(file);
        const document = HtpasswdDocument.parse(text ?? '');
        const outcome = document.setHash(user, hash);
        await writeHtpasswdFile(file, document.toString());
        say(
          io,
          `${outcome === 'added' ? 'Added' : 'Updated password for'} user ${user} in ${file}${text === undefined ? ' (new file)' : ''}`,
        );
      }),
    );
}

function addDeleteCommand(root: Command, io: HtpasswdCliIo): void {
  root
    .command('delete')
    .description('Remove a user (every line of that user)')
    .argument('<file>', 'htpasswd file')
    .argument('<user>', 'user name')
    .action(
      guard(TOOL_FAILURE, async function (this: Command, file: string, user: string) {
        const document = HtpasswdDocument.parse(await readExisting(file));
        const removed = document.remove(user);
        if (removed === 0) throw new CliFailure(`User ${user} not found in ${file}`, 1);
        await writeHtpasswdFile(file, document.toString());
        say(io, `Deleted user ${user} from ${file}`);
      }),
    );
}

function addVerifyCommand(root: Command, io: HtpasswdCliIo): void {
  root
    .command('verify')
    .description("Check a user's password: exit 0 if it is correct, 1 if not")
    .argument('<file>', 'htpasswd file')
    .argument('<user>', 'user name')
    .option('--password-stdin', 'read the password from standard input (one trailing newline is removed)')
    .action(
      guard(TOOL_FAILURE, async function (this: Command, file: string, user: string, options: { passwordStdin?: boolean }) {
        const text = await readExisting(file);
        const line = HtpasswdDocument.parse(text)
          .users()
          .find((entry) => entry.user === user);
        if (!line) throw new CliFailure(`User ${user} not found in ${file}`, 1);
        const entry = parseHtpasswd(text).entries.get(user);
        if (!entry) {
          const classification = classifyHash(line.hash);
          const reason = isSupported(classification) ? 'unusable line' : classification.unsupported;
          throw new CliFailure(`User ${user} cannot log in: line ${line.line}: ${reason}`, 1);
        }
        const password = options.passwordStdin ? await readPasswordFromStdin(io.stdin) : await promptHidden(io, 'Password: ');
        if (!(await verifyPassword(entry.hash, password))) throw new CliFailure(`Password for user ${user} incorrect.`, 1);
        say(io, `Password for user ${user} correct.`);
      }),
    );
}

function addListCommand(root: Command, io: HtpasswdCliIo): void {
  root
    .command('list')
    .description('List the users and the format of their password hashes')
    .argument('<file>', 'htpasswd file')
    .action(
      guard(TOOL_FAILURE, async function (this: Command, file: string) {
        const seen = new Set<string>();
        for (const { user, hash } of HtpasswdDocument.parse(await readExisting(file)).users()) {
          const classification = classifyHash(hash);
          let label = isSupported(classification) ? formatLabel(classification.format) : `unsupported: ${classification.unsupported}`;
          if (seen.has(user)) label = 'duplicate, ignored';
          seen.add(user);
          io.stdout.write(`${user}\t${label}\n`);
        }
      }),
    );
}

function parseCost(value: string): number {
  const cost = Number(value);
  if (!Number.isInteger(cost) || cost < MIN_BCRYPT_COST || cost > MAX_BCRYPT_COST) {
    throw new InvalidArgumentError(`expected an integer from ${MIN_BCRYPT_COST} to ${MAX_BCRYPT_COST}`);
  }
  return cost;
}

async function readExisting(file: string): Promise<string> {
  const text = await readHtpasswdText(file);
  if (text === undefined) throw commandFailure(`${file} does not exist`, TOOL_FAILURE);
  return text;
}

function checkNewPassword(password: string): void {
  if (password === '') throw commandFailure('empty password', TOOL_FAILURE);
  if (password.includes('\0')) throw commandFailure('the password contains a NUL character', TOOL_FAILURE);
  if (Buffer.byteLength(password) > BCRYPT_MAX_PASSWORD_BYTES) {
    throw commandFailure(`the password is longer than ${BCRYPT_MAX_PASSWORD_BYTES} bytes, and bcrypt would ignore the rest`, TOOL_FAILURE);
  }
}

/** All of standard input, minus one trailing newline (LF or CRLF); a password is one line. */
async function readPasswordFromStdin(input: Input): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    if (size > MAX_STDIN_BYTES) throw commandFailure('standard input is too long for a password', TOOL_FAILURE);
    chunks.push(bytes);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw commandFailure('the password on standard input is not UTF-8', TOOL_FAILURE);
  }
  const password = text.replace(/\r?\n$/, '');
  if (/[\r\n]/.test(password)) throw commandFailure('standard input has more than one line; expected only the password', TOOL_FAILURE);
  return password;
}

async function promptNewPassword(io: HtpasswdCliIo): Promise<string> {
  const first = await promptHidden(io, 'New password: ');
  const second = await promptHidden(io, 'Re-type new password: ');
  if (first !== second) throw commandFailure('the passwords do not match', TOOL_FAILURE);
  return first;
}

/** Reads one line from the terminal without echoing it. */
function promptHidden(io: HtpasswdCliIo, prompt: string): Promise<string> {
  const input = io.stdin;
  if (!input.isTTY || typeof input.setRawMode !== 'function') {
    return Promise.reject(commandFailure('no terminal to ask for the password on; use --password-stdin', TOOL_FAILURE));
  }
  const setRawMode = input.setRawMode.bind(input);
  io.stderr.write(prompt);
  setRawMode(true);
  return new Promise<string>((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let value = '';
    let escape: 'none' | 'start' | 'sequence' = 'none';
    const finish = (settle: () => void): void => {
      input.removeListener('data', onData);
      setRawMode(false);
      input.pause();
      io.stderr.write('\n');
      settle();
    };
    const onData = (chunk: Buffer | string): void => {
      for (const char of typeof chunk === 'string' ? chunk : decoder.write(chunk)) {
        if (escape === 'start') {
          escape = char === '[' || char === 'O' ? 'sequence' : 'none';
          continue;
        }
        if (escape === 'sequence') {
          if (char >= '@' && char <= '~') escape = 'none';
          continue;
        }
        if (char === '\r' || char === '\n') {
          finish(() => resolve(value));
          return;
        }
        if (char === '\u0003' || (char === '\u0004' && value === '')) {
          finish(() => reject(new CliFailure('cancelled', 130)));
          return;
        }
        if (char === '\u007f' || char === '\b') value = Array.from(value).slice(0, -1).join('');
        else if (char === '\u0015') value = '';
        else if (char === '\u001b') escape = 'start';
        else if (char >= ' ') value += char;
      }
    };
    input.on('data', onData);
    input.resume();
  });
}
