/**
 * The one reference that a config reload swaps: every new request goes to the current handler,
 * and a request keeps the handler it started with until it is done, that is until the handler's
 * promise settles (the pipeline's settles once it has answered and finished with its stages; a
 * client that goes away aborts the backend's work, which settles it too). `swap` resolves once the handler it replaced has no request left,
 * so what that handler was built from (upstream pool, directory connections, watched files) can be
 * closed without cutting anyone off, however long an upload runs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A handler that returns nothing is done with the request when it returns. */
export type SwitchableHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

interface Slot {
  readonly handler: SwitchableHandler;
  inFlight: number;
  retired: boolean;
  drained?: () => void;
}

export class HandlerSwitch {
  #current: Slot;

  constructor(handler: SwitchableHandler) {
    this.#current = { handler, inFlight: 0, retired: false };
  }

  /** The listener's request handler. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const slot = this.#current;
    slot.inFlight += 1;
    const settled = () => {
      slot.inFlight -= 1;
      if (slot.retired && slot.inFlight === 0) slot.drained?.();
    };
    let result: void | Promise<void>;
    try {
      result = slot.handler(req, res);
    } catch (error) {
      settled();
      throw error;
    }
    if (result instanceof Promise) result.then(settled, settled);
    else settled();
  };

  /** Sends new requests to `handler`; resolves when the one it replaced has finished its last request. */
  swap(handler: SwitchableHandler): Promise<void> {
    const previous = this.#current;
    this.#current = { handler, inFlight: 0, retired: false };
    previous.retired = true;
    if (previous.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => (previous.drained = resolve));
  }
}
