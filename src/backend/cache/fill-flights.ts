/**
 * One fetch per digest per machine. In a process, requests for a digest that is being filled wait
 * for that fill instead of starting their own; across the workers of one `serve`, the fill runs
 * under the shared section lock (through the primary, or Redis with replicas), and the fill
 * checks the disk first, so a worker that waited finds the content there. A lock that cannot be
 * had in time (the cluster lock's grant timeout during a long fill) means a fill of our own rather
 * than a failed pull.
 */
import type { SectionLock } from '../../lib/section-lock.js';

export class FillFlights<T> {
  readonly #lock: SectionLock;
  readonly #running = new Map<string, Promise<T>>();

  constructor(lock: SectionLock) {
    this.#lock = lock;
  }

  /** Runs `fill` for `key` unless one is running here; `led` says whether this call ran it. */
  async once(key: string, fill: () => Promise<T>): Promise<{ led: boolean; outcome: T }> {
    const running = this.#running.get(key);
    if (running) return { led: false, outcome: await running };
    const flight = this.#locked(key, fill);
    this.#running.set(key, flight);
    try {
      return { led: true, outcome: await flight };
    } finally {
      this.#running.delete(key);
    }
  }

  async #locked(key: string, fill: () => Promise<T>): Promise<T> {
    let entered = false;
    try {
      return await this.#lock.run(`cache-fill:${key}`, () => {
        entered = true;
        return fill();
      });
    } catch (error) {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set inside the section
      if (entered) throw error;
      return fill();
    }
  }
}
