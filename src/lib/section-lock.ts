/**
 * One-at-a-time sections per key (an upload id, a protected tag): sections with the same key run in
 * arrival order, sections with different keys concurrently. `KeyedLock` is the in-process one; the
 * server extends the seam across worker processes (src/server/cluster-lock.ts) and replicas
 * (src/server/redis-lock.ts), and the built-in registry's on-disk protocol keeps the `gc` command
 * safe. A leaf, so that the backends, the pipeline and the UI take a lock without importing the
 * listener stage.
 */
export interface SectionLock {
  run<T>(key: string, section: () => Promise<T>): Promise<T>;
}

export class KeyedLock implements SectionLock {
  private readonly tails = new Map<string, Promise<void>>();

  isHeld(key: string): boolean {
    return this.tails.has(key);
  }

  async run<T>(key: string, section: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => current);
    this.tails.set(key, tail);
    await previous;
    try {
      return await section();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
