// Tier changes an agent earned or lost, and the counts from the audit its trust record is judged by.
import { isPostgres, stmt, type Db } from './db.js';

export interface TrustCounts {
  executed: number;
  rollbacks: number;
  denials: number;
  budgetRefusals: number;
  boundaryEscapes: number;
  daysActive: number;
}

export class TierChanges {
  constructor(
    private readonly db: Db,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  latest(agent: string): { tier: string; at: string } | undefined {
    return stmt(this.db, 'SELECT tier, at FROM tier_changes WHERE agent = ? ORDER BY id DESC LIMIT 1').get(agent) as
      { tier: string; at: string } | undefined;
  }

  record(agent: string, tier: string, by: string, reason: string): void {
    stmt(this.db, 'INSERT INTO tier_changes (agent, tier, at, "by", reason) VALUES (?, ?, ?, ?, ?)').run(
      agent,
      tier,
      this.clock().toISOString(),
      by,
      reason,
    );
  }

  list(agent: string): { tier: string; by: string; reason: string; at: string }[] {
    return stmt(this.db, 'SELECT tier, "by", reason, at FROM tier_changes WHERE agent = ? ORDER BY id').all(agent) as {
      tier: string;
      by: string;
      reason: string;
      at: string;
    }[];
  }

  /** What the audit says of `agent` since `from` (ISO time). */
  counts(agent: string, from: string): TrustCounts {
    // A JSON field as text in either dialect (SQLite's json_extract gives 1 for true, PostgreSQL's ->> 'true').
    const pg = isPostgres(this.db);
    const field = (col: string, key: string) => (pg ? `(${col}::json ->> '${key}')` : `json_extract(${col}, '$.${key}')`);
    const yes = pg ? "'true'" : '1';
    const count = (sql: string) =>
      (stmt(this.db, `SELECT COUNT(*) AS n FROM audit_events WHERE agent = ? AND ts >= ? AND ${sql}`).get(agent, from) as { n: number }).n;
    return {
      // A change, not a read: an execution whose approval carried a mutating plan.
      executed: count(
        `kind = 'executed' AND EXISTS (SELECT 1 FROM audit_events a WHERE a.id = audit_events.follows AND a.kind = 'approved' AND ${field('a.request', 'mutating')} = ${yes})`,
      ),
      rollbacks: count("kind = 'rolled_back'"),
      denials: count("kind = 'denied'"),
      budgetRefusals: count(`kind = 'denied' AND ${field('decision', 'rule')} = 'budget'`),
      boundaryEscapes: count(
        `kind = 'denied' AND (${field('decision', 'rule')} = 'ownership' OR ${field('decision', 'reason')} LIKE '%reserved%')`,
      ),
      daysActive: (
        stmt(this.db, 'SELECT COUNT(DISTINCT substr(ts, 1, 10)) AS n FROM audit_events WHERE agent = ?').get(agent) as { n: number }
      ).n,
    };
  }
}
