// Per-agent flood limits shared by every server process of the agent through the store: token buckets (calls per
// minute, mutating calls per hour) and a count of calls in flight, checked and taken in one immediate transaction.
import { immediate, stmt, type Db } from './db.js';
import { holderDead, newHolder } from './holders.js';

/** A bucket of `capacity` tokens refilled evenly over `periodMs`; one call takes one token. */
export interface Bucket {
  kind: string;
  capacity: number;
  periodMs: number;
}

export type Admission =
  { ok: true; slot: string } | { ok: false; limit: string; capacity: number; retryAfterMs: number | null; inFlight?: number };

export interface Usage {
  buckets: { kind: string; capacity: number; remaining: number; fullInMs: number }[];
  inFlight: number;
}

/** A slot older than this is a call that cannot still be running (a crash on another host): it no longer counts. */
export const SLOT_TTL_MS = 2 * 3600_000;

export class RateLimits {
  constructor(
    private readonly db: Db,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Tokens in each of `buckets` for `agent` at `now`, without taking one: one read for them all. */
  private levels(agent: string, buckets: readonly Bucket[], now: number): number[] {
    if (buckets.length === 0) return [];
    const rows = stmt(
      this.db,
      `SELECT kind, tokens, at FROM rate_buckets WHERE agent = ? AND kind IN (${buckets.map(() => '?').join(', ')})`,
    ).all(agent, ...buckets.map((b) => b.kind)) as { kind: string; tokens: number; at: string }[];
    return buckets.map((b) => {
      const row = rows.find((r) => r.kind === b.kind);
      if (!row) return b.capacity;
      const elapsed = Math.max(0, now - Date.parse(row.at));
      return Math.min(b.capacity, row.tokens + (elapsed * b.capacity) / b.periodMs);
    });
  }

  /** Calls in flight for `agent`, after dropping those whose process is gone or that are older than SLOT_TTL_MS. */
  private inFlight(agent: string, now: number): number {
    const rows = stmt(this.db, 'SELECT id, started_at FROM call_slots WHERE agent = ?').all(agent) as { id: string; started_at: string }[];
    let live = 0;
    for (const r of rows) {
      if (holderDead(r.id) || now - Date.parse(r.started_at) > SLOT_TTL_MS) stmt(this.db, 'DELETE FROM call_slots WHERE id = ?').run(r.id);
      else live++;
    }
    return live;
  }

  /**
   * Takes one token of every bucket and a call slot, or nothing: the first limit reached is the answer, with when a
   * retry can pass. Processes sharing the store see one set of buckets.
   */
  admit(agent: string, tool: string, buckets: readonly Bucket[], maxInFlight: number): Admission {
    return immediate(this.db, (): Admission => {
      const now = this.clock().getTime();
      const levels = this.levels(agent, buckets, now);
      const empty = buckets.findIndex((_, i) => levels[i] < 1);
      if (empty >= 0) {
        const b = buckets[empty];
        return { ok: false, limit: b.kind, capacity: b.capacity, retryAfterMs: Math.ceil(((1 - levels[empty]) * b.periodMs) / b.capacity) };
      }
      const inFlight = this.inFlight(agent, now);
      if (inFlight >= maxInFlight) return { ok: false, limit: 'concurrent_calls', capacity: maxInFlight, retryAfterMs: null, inFlight };
      const at = new Date(now).toISOString();
      // Every bucket's new level in one statement.
      if (buckets.length > 0)
        stmt(
          this.db,
          `INSERT INTO rate_buckets (agent, kind, tokens, at) VALUES ${buckets.map(() => '(?, ?, ?, ?)').join(', ')}
         ON CONFLICT (agent, kind) DO UPDATE SET tokens = excluded.tokens, at = excluded.at`,
        ).run(...buckets.flatMap((b, i) => [agent, b.kind, levels[i] - 1, at]));
      const slot = newHolder();
      stmt(this.db, 'INSERT INTO call_slots (id, agent, tool, started_at) VALUES (?, ?, ?, ?)').run(slot, agent, tool, at);
      return { ok: true, slot };
    });
  }

  /** The call has ended: its slot is free for the agent's next. */
  leave(slot: string): void {
    stmt(this.db, 'DELETE FROM call_slots WHERE id = ?').run(slot);
  }

  /** What is left of each bucket and how many calls are in flight, read only. */
  usage(agent: string, buckets: readonly Bucket[]): Usage {
    const now = this.clock().getTime();
    const rows = stmt(this.db, 'SELECT id, started_at FROM call_slots WHERE agent = ?').all(agent) as { id: string; started_at: string }[];
    const levels = this.levels(agent, buckets, now);
    return {
      buckets: buckets.map((b, i) => ({
        kind: b.kind,
        capacity: b.capacity,
        remaining: Math.floor(levels[i]),
        fullInMs: Math.ceil(((b.capacity - levels[i]) * b.periodMs) / b.capacity),
      })),
      inFlight: rows.filter((r) => !holderDead(r.id) && now - Date.parse(r.started_at) <= SLOT_TTL_MS).length,
    };
  }
}
