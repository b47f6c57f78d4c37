// Proposals: what an agent may only suggest, stored with the exact plan and its hash until a human decides.
import { randomBytes } from 'node:crypto';
import type { Plan } from '../guard/types.js';
import { canonicalJson, sha256 } from '../util/canonical.js';
import { stmt, type Db } from './db.js';

export type ProposalState = 'pending' | 'approved' | 'rejected' | 'expired' | 'executed' | 'failed' | 'stale';

export interface ProposalRow {
  id: string;
  kind: string;
  project: string;
  agent: string;
  tool: string;
  reason: string;
  plan: string;
  plan_hash: string;
  risk_flags: string;
  event_id: string;
  state: ProposalState;
  created_at: string;
  expires_at: string;
  decided_by: string | null;
  decided_at: string | null;
  decision_note: string | null;
  args: string;
  result: string | null;
}

export const planHash = (plan: Plan) => sha256(canonicalJson(plan));

export class Proposals {
  constructor(
    private readonly db: Db,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  create(p: {
    kind: string;
    project: string;
    agent: string;
    tool: string;
    reason: string;
    plan: Plan;
    args: unknown;
    eventId: string;
    ttlHours: number;
  }): ProposalRow {
    const now = this.clock();
    const id = `prop_${randomBytes(6).toString('hex')}`;
    stmt(
      this.db,
      `INSERT INTO proposals (id, kind, project, agent, tool, reason, plan, plan_hash, risk_flags, event_id, state, created_at, expires_at, args)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
    ).run(
      id,
      p.kind,
      p.project,
      p.agent,
      p.tool,
      p.reason,
      canonicalJson(p.plan),
      planHash(p.plan),
      JSON.stringify(p.plan.riskFlags),
      p.eventId,
      now.toISOString(),
      new Date(now.getTime() + p.ttlHours * 3_600_000).toISOString(),
      canonicalJson(p.args ?? {}),
    );
    return this.get(id)!;
  }

  get(id: string): ProposalRow | undefined {
    return stmt(this.db, 'SELECT * FROM proposals WHERE id = ?').get(id) as ProposalRow | undefined;
  }

  /** Read-only: a pending proposal past its TTL is reported as expired without writing (expireDue records it). */
  list(filter: { state?: string; project?: string; kind?: string } = {}): ProposalRow[] {
    return stmt(
      this.db,
      `SELECT * FROM (
         SELECT *, CASE WHEN state = 'pending' AND expires_at <= @now THEN 'expired' ELSE state END AS effective FROM proposals
       ) AS p WHERE (CAST(@state AS TEXT) IS NULL OR effective = @state) AND (CAST(@project AS TEXT) IS NULL OR project = @project)
         AND (CAST(@kind AS TEXT) IS NULL OR kind = @kind) ORDER BY created_at`,
    )
      .all({ now: this.clock().toISOString(), state: filter.state ?? null, project: filter.project ?? null, kind: filter.kind ?? null })
      .map((r) => {
        const { effective, ...row } = r as ProposalRow & { effective: ProposalState };
        return { ...row, state: effective };
      });
  }

  /** How many of the agent's proposals wait for a human now (expired ones no longer count). */
  pendingCount(agent: string): number {
    return (
      stmt(this.db, "SELECT count(*) AS n FROM proposals WHERE agent = ? AND state = 'pending' AND expires_at > ?").get(
        agent,
        this.clock().toISOString(),
      ) as { n: number }
    ).n;
  }

  /** Pending proposals past their TTL become expired (they can no longer be approved); returns those it expired. */
  expireDue(): ProposalRow[] {
    return stmt(this.db, "UPDATE proposals SET state = 'expired' WHERE state = 'pending' AND expires_at <= ? RETURNING *").all(
      this.clock().toISOString(),
    ) as ProposalRow[];
  }

  /**
   * Moves a pending, unexpired proposal to `to`, once: of two racing deciders exactly one gets true.
   * Call inside the transaction that also does the work, so the decision and its effect land together.
   */
  decide(id: string, to: 'approved' | 'rejected', by: string, note: string | null): boolean {
    const now = this.clock().toISOString();
    return (
      stmt(
        this.db,
        "UPDATE proposals SET state = ?, decided_by = ?, decided_at = ?, decision_note = ? WHERE id = ? AND state = 'pending' AND expires_at > ?",
      ).run(to, by, now, note, id, now).changes === 1
    );
  }

  finish(id: string, to: 'executed' | 'failed', result: unknown = null): void {
    stmt(this.db, "UPDATE proposals SET state = ?, result = ? WHERE id = ? AND state = 'approved'").run(
      to,
      result === null ? null : JSON.stringify(result),
      id,
    );
  }

  /** The world moved since the plan was made: the proposal can no longer be approved. */
  markStale(id: string, by: string, what: string): boolean {
    return (
      stmt(
        this.db,
        "UPDATE proposals SET state = 'stale', decided_by = ?, decided_at = ?, decision_note = ? WHERE id = ? AND state = 'pending'",
      ).run(by, this.clock().toISOString(), what, id).changes === 1
    );
  }
}
