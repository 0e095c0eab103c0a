/**
 * One-at-a-time sections per key (an upload id, a protected tag): sections with the same key run in
 * arrival order, sections with different keys concurrently. In-process only: ClusterLock extends it
 * across worker processes; the built-in registry's on-disk protocol keeps the `gc` command safe.
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
