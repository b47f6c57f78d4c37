// The calls a server is running, so a shutdown can stop admitting new ones and wait for these to settle first.
export class CallTracker {
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;

  /** Whether new calls are refused (a shutdown has begun). */
  get closing(): boolean {
    return this.closed;
  }

  get size(): number {
    return this.running.size;
  }

  /** Runs `fn` as a tracked call. */
  track<T>(fn: () => Promise<T>): Promise<T> {
    const p = fn();
    this.running.add(p);
    void p.catch(() => {}).finally(() => this.running.delete(p));
    return p;
  }

  /** Refuses new calls from now on; resolves true once every running call settled, false if `ms` passed first. */
  async drain(ms: number): Promise<boolean> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
    const settled = (async () => {
      while (this.running.size) await Promise.allSettled([...this.running]);
      return true as const;
    })();
    try {
      return await Promise.race([settled, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }
}
