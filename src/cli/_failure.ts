/**
 * The one way a command fails: a message safe to print (never a stack) on the command's error
 * output, and the exit status it deserves. Every command's action runs in `guard`; what escapes
 * before a command runs goes through `reportFailure` in main.ts.
 */
import { CommanderError, type Command } from 'commander';

export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

/** How a failure that is not a CliFailure is printed and what it exits with. */
export interface FailureStyle {
  readonly prefix: string;
  readonly exitCode: number;
}

/** `serve`, `gc`, `access`, `check-config`, `healthcheck`: `registry-gate: <message>`, status 1. */
export const COMMAND_FAILURE: FailureStyle = { prefix: 'registry-gate: ', exitCode: 1 };
/** `htpasswd` (as Apache's, whose status 1 means a wrong password) and `token`: `error: <message>`, status 2. */
export const TOOL_FAILURE: FailureStyle = { prefix: 'error: ', exitCode: 2 };

/** A failure the command itself finds (a usage mistake, a config it cannot work with), said in `style`. */
export function commandFailure(message: string, style: FailureStyle = COMMAND_FAILURE): CliFailure {
  return new CliFailure(`${style.prefix}${message}`, style.exitCode);
}

/** Any thrown value as the failure a command reports. */
export function asCliFailure(error: unknown, style: FailureStyle): CliFailure {
  if (error instanceof CliFailure) return error;
  return new CliFailure(`${style.prefix}${error instanceof Error ? error.message : String(error)}`, style.exitCode);
}

/** A failure outside any command (loading one): printed to stderr, and the process exits. */
export function reportFailure(error: unknown): never {
  const failure = asCliFailure(error, COMMAND_FAILURE);
  process.stderr.write(`${failure.message}\n`);
  process.exit(failure.exitCode);
}

/** Runs an action; its failures become `command.error` (commander's output and exit). */
export function guard<A extends unknown[]>(style: FailureStyle, action: (this: Command, ...args: A) => Promise<void>) {
  return async function (this: Command, ...args: A): Promise<void> {
    try {
      await action.apply(this, args);
    } catch (error) {
      if (error instanceof CommanderError) throw error;
      const failure = asCliFailure(error, style);
      this.error(failure.message, { exitCode: failure.exitCode, code: 'registry-gate.failed' });
    }
  };
}
