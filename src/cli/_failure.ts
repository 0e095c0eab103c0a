/** How commands fail: a message safe to print and the exit status it deserves, never a stack. */
import { CommanderError, type Command } from 'commander';

export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Runs an action; failures become `command.error` (a message and an exit status: 2 unless a CliFailure says otherwise). */
export function guard<A extends unknown[]>(code: string, action: (this: Command, ...args: A) => Promise<void>) {
  return async function (this: Command, ...args: A): Promise<void> {
    try {
      await action.apply(this, args);
    } catch (error) {
      if (error instanceof CommanderError) throw error;
      const failure =
        error instanceof CliFailure ? error : new CliFailure(`error: ${error instanceof Error ? error.message : String(error)}`, 2);
      this.error(failure.message, { exitCode: failure.exitCode, code });
    }
  };
}
