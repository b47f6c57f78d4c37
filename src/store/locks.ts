// Named locks across processes sharing the store: one scale of a service at a time. Expire so a crash cannot wedge them.
import { immediate, stmt, type Db } from './db.js';
import { holderDead, newHolder } from './holders.js';

export class Locks {
  constructor(
    private readonly db: Db,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Takes `key` if free, expired, or held by a process of this host that is gone; returns a holder token, or null. */
  tryAcquire(key: string, ttlMs: number): string | null {
    const holder = newHolder();
    const now = this.clock();
    const took = immediate(this.db, () => {
      stmt(this.db, 'DELETE FROM locks WHERE key = ? AND expires_at <= ?').run(key, now.toISOString());
      const held = stmt(this.db, 'SELECT holder FROM locks WHERE key = ?').get(key) as { holder: string } | undefined;
      if (held && holderDead(held.holder)) stmt(this.db, 'DELETE FROM locks WHERE key = ? AND holder = ?').run(key, held.holder);
      return (
        stmt(this.db, 'INSERT INTO locks (key, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING').run(
          key,
          holder,
          now.toISOString(),
          new Date(now.getTime() + ttlMs).toISOString(),
        ).changes === 1
      );
    });
    return took ? holder : null;
  }

  /** Waits (polling) up to `waitMs` for the lock. */
  async acquire(key: string, ttlMs: number, waitMs: number): Promise<string | null> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const token = this.tryAcquire(key, ttlMs);
      if (token || Date.now() >= deadline) return token;
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  }

  /** Who holds `key` now, if anyone (a `host:pid:…` token). */
  holder(key: string): string | null {
    return (
      (
        stmt(this.db, 'SELECT holder FROM locks WHERE key = ? AND expires_at > ?').get(key, this.clock().toISOString()) as
          { holder: string } | undefined
      )?.holder ?? null
    );
  }

  release(key: string, holder: string): void {
    stmt(this.db, 'DELETE FROM locks WHERE key = ? AND holder = ?').run(key, holder);
  }

  /** A lease its holder keeps renewing while it is alive (a worker's heartbeat). */
  renewLease(key: string, holder: string, ttlMs: number): void {
    const now = this.clock();
    stmt(
      this.db,
      `INSERT INTO locks (key, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at`,
    ).run(key, holder, now.toISOString(), new Date(now.getTime() + ttlMs).toISOString());
  }

  /** Whether a lease was renewed within its TTL. */
  leaseAlive(key: string): boolean {
    const row = stmt(this.db, 'SELECT expires_at FROM locks WHERE key = ?').get(key) as { expires_at: string } | undefined;
    return Boolean(row && row.expires_at > this.clock().toISOString());
  }
}
