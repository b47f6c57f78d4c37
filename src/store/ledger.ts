// The budget ledger: reservations held between the guard's check and execution, and the run-rate of what each project holds.
import { hoursInMonth, monthKey, monthStart, nextMonthStart } from '../budget/month.js';
import type { BudgetFacts } from '../guard/types.js';
import { stmt, type Db } from './db.js';

/** One resource's run-rate, as a tool reports it after creating the resource. */
export interface CostLine {
  arn: string;
  description: string;
  /** null: no known price; counted as unpriced, which blocks further spending (fail closed). */
  hourlyUsd: number | null;
  centsMonth: number | null;
}

export interface LedgerChange {
  add: CostLine[];
  /** ARNs whose run-rate ends (terminated, deleted). */
  remove: string[];
}

export interface BudgetSummary {
  project: string;
  month: string;
  capCents: number;
  baseCapCents: number;
  adjustments: { cents: number; month: string | null; proposal: string }[];
  committedCents: number;
  reservedCents: number;
  remainingCents: number;
  unpriced: string[];
  monthToDateCents: number;
  projectedMonthEndCents: number;
  byResource: { arn: string; description: string; agent: string | null; centsMonth: number | null; since: string }[];
  byAgent: { agent: string; committedCents: number; reservedCents: number }[];
  reservations: { eventId: string; agent: string; tool: string; cents: number; since: string }[];
}

interface ResourceRow {
  arn: string;
  agent: string | null;
  description: string;
  hourly_usd: number | null;
  cents_month: number | null;
  started_at: string;
  released_at: string | null;
}

export class Ledger {
  constructor(
    private readonly db: Db,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** The cap this month: the policy's, plus permanent increases, plus this month's. */
  capCents(project: string, baseCents: number): number {
    const row = stmt(
      this.db,
      'SELECT COALESCE(SUM(cents_month), 0) AS c FROM budget_adjustments WHERE project = ? AND (month IS NULL OR month = ?)',
    ).get(project, monthKey(this.clock())) as { c: number };
    return baseCents + row.c;
  }

  /** What the guard's budget rule reads; null (deny spending) while any held resource has no known price. */
  facts(project: string, baseCents: number): BudgetFacts | null {
    // One statement (one round trip on PostgreSQL, inside the check's write transaction).
    const f = stmt(
      this.db,
      `SELECT (SELECT COALESCE(SUM(cents_month), 0) FROM budget_resources WHERE project = @p AND released_at IS NULL) AS committed,
              (SELECT COUNT(*) FROM budget_resources WHERE project = @p AND released_at IS NULL AND cents_month IS NULL) AS unpriced,
              (SELECT COALESCE(SUM(cents_month), 0) FROM budget_reservations WHERE project = @p AND state = 'reserved') AS reserved,
              (SELECT COALESCE(SUM(cents_month), 0) FROM budget_adjustments WHERE project = @p AND (month IS NULL OR month = @m)) AS adjusted`,
    ).get({ p: project, m: monthKey(this.clock()) }) as { committed: number; unpriced: number; reserved: number; adjusted: number };
    if (f.unpriced > 0) return null;
    return { capCents: baseCents + f.adjusted, committedCents: f.committed, reservedCents: f.reserved };
  }

  /** Call inside the same immediate transaction as the guard's check, so no other process spends the same remainder. */
  reserve(eventId: string, project: string, agent: string, tool: string, cents: number): void {
    stmt(
      this.db,
      `INSERT INTO budget_reservations (event_id, project, agent, tool, cents_month, state, created_at)
       VALUES (?, ?, ?, ?, ?, 'reserved', ?)`,
    ).run(eventId, project, agent, tool, cents, this.clock().toISOString());
  }

  /** Execution succeeded: the reservation becomes the run-rate of what was created; removed resources stop counting. */
  settle(eventId: string | null, project: string, agent: string, change: LedgerChange): void {
    const now = this.clock().toISOString();
    if (eventId)
      stmt(this.db, "UPDATE budget_reservations SET state = 'committed', closed_at = ? WHERE event_id = ? AND state = 'reserved'").run(
        now,
        eventId,
      );
    for (const arn of change.remove) this.releaseResource(arn, now);
    for (const line of change.add)
      stmt(
        this.db,
        `INSERT INTO budget_resources (project, agent, arn, description, hourly_usd, cents_month, started_at, source, event_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'warden', ?)`,
      ).run(project, agent, line.arn, line.description, line.hourlyUsd, line.centsMonth, now, eventId);
  }

  /** Execution failed or was rolled back: the reserved amount is free again. */
  release(eventId: string, note: string): void {
    stmt(
      this.db,
      "UPDATE budget_reservations SET state = 'released', closed_at = ?, note = ? WHERE event_id = ? AND state = 'reserved'",
    ).run(this.clock().toISOString(), note, eventId);
  }

  releaseResource(arn: string, at = this.clock().toISOString()): boolean {
    return stmt(this.db, 'UPDATE budget_resources SET released_at = ? WHERE arn = ? AND released_at IS NULL').run(at, arn).changes > 0;
  }

  /** A resource found in AWS but missing here (reconcile): it counts from now, priced or not. */
  adopt(project: string, line: CostLine, agent: string | null): void {
    stmt(
      this.db,
      `INSERT INTO budget_resources (project, agent, arn, description, hourly_usd, cents_month, started_at, source)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'reconcile')`,
    ).run(project, agent, line.arn, line.description, line.hourlyUsd, line.centsMonth, this.clock().toISOString());
  }

  liveResources(project: string): ResourceRow[] {
    return stmt(this.db, 'SELECT * FROM budget_resources WHERE project = ? AND released_at IS NULL ORDER BY id').all(
      project,
    ) as ResourceRow[];
  }

  raiseCap(project: string, cents: number, month: string | null, proposalId: string, approvedBy: string): void {
    stmt(
      this.db,
      'INSERT INTO budget_adjustments (project, cents_month, month, proposal_id, approved_by, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(project, cents, month, proposalId, approvedBy, this.clock().toISOString());
  }

  summary(project: string, baseCents: number): BudgetSummary {
    const now = this.clock();
    const live = this.liveResources(project);
    const held = stmt(this.db, 'SELECT * FROM budget_resources WHERE project = ? AND (released_at IS NULL OR released_at > ?)').all(
      project,
      monthStart(now).toISOString(),
    ) as ResourceRow[];
    // Month to date: hours actually held this UTC month × hourly price; the rest of the month at today's run-rate.
    let mtd = 0;
    let rest = 0;
    for (const r of held) {
      if (r.hourly_usd === null) continue;
      const until = r.released_at ? new Date(r.released_at) : now;
      mtd += r.hourly_usd * hoursInMonth(new Date(r.started_at), until, now) * 100;
      if (!r.released_at) rest += r.hourly_usd * hoursInMonth(now, nextMonthStart(now), now) * 100;
    }
    const reservations = stmt(
      this.db,
      "SELECT event_id, agent, tool, cents_month, created_at FROM budget_reservations WHERE project = ? AND state = 'reserved' ORDER BY created_at",
    ).all(project) as { event_id: string; agent: string; tool: string; cents_month: number; created_at: string }[];
    const adjustments = stmt(
      this.db,
      'SELECT cents_month, month, proposal_id FROM budget_adjustments WHERE project = ? AND (month IS NULL OR month = ?) ORDER BY id',
    ).all(project, monthKey(now)) as { cents_month: number; month: string | null; proposal_id: string }[];
    const committed = live.reduce((s, r) => s + (r.cents_month ?? 0), 0);
    const reserved = reservations.reduce((s, r) => s + r.cents_month, 0);
    const cap = this.capCents(project, baseCents);
    const agents = new Map<string, { agent: string; committedCents: number; reservedCents: number }>();
    const agentRow = (a: string) => agents.get(a) ?? agents.set(a, { agent: a, committedCents: 0, reservedCents: 0 }).get(a)!;
    for (const r of live) agentRow(r.agent ?? '(unknown)').committedCents += r.cents_month ?? 0;
    for (const r of reservations) agentRow(r.agent).reservedCents += r.cents_month;
    return {
      project,
      month: monthKey(now),
      capCents: cap,
      baseCapCents: baseCents,
      adjustments: adjustments.map((a) => ({ cents: a.cents_month, month: a.month, proposal: a.proposal_id })),
      committedCents: committed,
      reservedCents: reserved,
      remainingCents: cap - committed - reserved,
      unpriced: live.filter((r) => r.cents_month === null).map((r) => r.arn),
      monthToDateCents: Math.ceil(mtd),
      projectedMonthEndCents: Math.ceil(mtd + rest),
      byResource: live.map((r) => ({
        arn: r.arn,
        description: r.description,
        agent: r.agent,
        centsMonth: r.cents_month,
        since: r.started_at,
      })),
      byAgent: [...agents.values()],
      reservations: reservations.map((r) => ({
        eventId: r.event_id,
        agent: r.agent,
        tool: r.tool,
        cents: r.cents_month,
        since: r.created_at,
      })),
    };
  }
}
