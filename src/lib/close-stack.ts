/**
 * What an assembly opened, in the order it opened it, so that it can all be closed again: each
 * resource is registered the moment it is opened (`defer`), and `close` runs the registered
 * closes in reverse order, once, whatever happens. An assembly that fails half-way closes what it
 * had opened (`openWith`), so a failed start or reload leaves no watcher, poll, socket or timer
 * behind. A close that fails is reported and the unwinding goes on.
 */
import { InternalError } from './internal-errors.js';

export type Close = () => void | Promise<void>;

export class CloseStack {
  readonly #closes: Close[] = [];
  #closing: Promise<void> | undefined;

  constructor(private readonly onCloseFailed: (error: unknown) => void = () => undefined) {}

  /** Registers `close` to run when the stack closes (after everything registered later). */
  defer(close: Close): void {
    if (this.#closing) throw new InternalError('RG_ERR_CLOSED', 'a closed stack takes no more resources');
    this.#closes.push(close);
  }

  /** Registers `closeOf(resource)` for a resource just opened, and returns the resource. */
  adopt<T>(resource: T, closeOf: (resource: T) => void | Promise<void>): T {
    this.defer(() => closeOf(resource));
    return resource;
  }

  /** Closes everything registered, last first; the same promise on every call. */
  close(): Promise<void> {
    return (this.#closing ??= this.#unwind());
  }

  async #unwind(): Promise<void> {
    for (let close = this.#closes.pop(); close; close = this.#closes.pop()) {
      try {
        await close();
      } catch (error) {
        this.onCloseFailed(error);
      }
    }
  }

  /**
   * Runs `assemble` with a fresh stack: its result and the stack that closes what it opened, or,
   * when it throws, everything it had opened closed before the error is thrown on.
   */
  static async openWith<T>(
    assemble: (stack: CloseStack) => Promise<T>,
    onCloseFailed?: (error: unknown) => void,
  ): Promise<[T, CloseStack]> {
    const stack = new CloseStack(onCloseFailed);
    try {
      return [await assemble(stack), stack];
    } catch (error) {
      await stack.close();
      throw error;
    }
  }
}
