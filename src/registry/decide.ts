// The guard's decision and what it justifies, in one immediate transaction: the approval row and its budget
// reservation, or the escalation and the proposal a human decides, or the dry run's record. Two processes cannot both pass
// against the same remaining budget.
import { decide } from '../guard/decide.js';
import { toCents } from '../guard/rules.js';
import type { Decision, GuardRequest, Plan } from '../guard/types.js';
import type { AuditRow } from '../store/audit.js';
import { planHash } from '../store/proposals.js';
import type { Store } from '../store/store.js';
import { rateLimitsOf, type AgentContext } from '../core/agent.js';

export type Gate = { decision: Decision; planHash: string; deltaCents: number } & (
  | { kind: 'refused' }
  | { kind: 'planned'; row: AuditRow }
  | { kind: 'proposed'; row: AuditRow; proposalId: string }
  | { kind: 'approved'; row: AuditRow }
  /** A read the guard allows: nothing is written yet; its one row follows the read. */
  | { kind: 'read' }
);

/** What the guard is asked about: `tool`, for the agent the change is for, in the tier in force. */
export function guardRequest(a: AgentContext, tool: string): GuardRequest {
  return { agent: a.id, projectId: a.projectId, project: a.project, tierName: a.tierName, tier: a.tier, tool };
}

export interface GateInput {
  req: GuardRequest;
  plan: Plan;
  agent: AgentContext;
  requestedId: string | null;
  roleArn: string | null;
  dryRun: boolean;
  reason?: string;
  mutating: boolean;
  args: unknown;
}

export function decideAndRecord(store: Store, g: GateInput): Gate {
  const hash = planHash(g.plan);
  const deltaCents = g.plan.costDeltaUsdMonth === null ? 0 : toCents(g.plan.costDeltaUsdMonth);
  const baseCents = toCents(g.agent.project.budget_usd_month);
  const base = { agent: g.agent.id, project: g.agent.projectId, tool: g.req.tool, follows: g.requestedId, roleArn: g.roleArn };
  const approval = (decision: Decision) => ({
    ...base,
    kind: 'approved' as const,
    action: g.plan.operations.map((o) => o.action).join(' ') || null,
    decision: { ...decision, plan_hash: hash },
    request: g.mutating ? g.plan : g.args,
  });
  if (!g.mutating && !g.dryRun) {
    // A read spends nothing and writes nothing here: an allowed read records its decision with its answer, a denied one
    // with its refusal (by the caller). Only an escalation, which creates a proposal, takes the transaction below.
    const decision = decide(g.req, g.plan, { budget: null });
    if (decision.outcome === 'allow') return { decision, planHash: hash, deltaCents: 0, kind: 'read' };
    if (decision.outcome === 'deny') return { decision, planHash: hash, deltaCents: 0, kind: 'refused' };
  } else if (!g.dryRun && g.plan.mutating) {
    // Decided first on the budget as one read sees it now, without the write lock: a refusal writes nothing, so it
    // stands as of that read. An approval is written with its reservation only if, under the lock, the budget still
    // covers it (one round trip on PostgreSQL, the lock never held across one); if it no longer does, or the call
    // must be escalated, the check runs again below, under the lock.
    const decision = decide(g.req, g.plan, { budget: store.ledger.facts(g.agent.projectId, baseCents) });
    if (decision.outcome === 'deny') return { decision, planHash: hash, deltaCents, kind: 'refused' };
    if (decision.outcome === 'allow') {
      const row =
        deltaCents > 0
          ? store.approveReserving(approval(decision), { cents: deltaCents, baseCents })
          : store.audit.append(approval(decision));
      if (row) return { decision, planHash: hash, deltaCents, kind: 'approved', row };
    }
  }
  return store.transaction((): Gate => {
    // Reads never spend: only a mutating plan needs the ledger's answer.
    const budget = g.plan.mutating ? store.ledger.facts(g.agent.projectId, baseCents) : null;
    const decision = decide(g.req, g.plan, { budget });
    const common = { decision, planHash: hash, deltaCents };
    const decided = { ...decision, plan_hash: hash };
    if (g.dryRun)
      return { ...common, kind: 'planned', row: store.audit.append({ ...base, kind: 'planned', decision: decided, request: g.plan }) };
    if (decision.outcome === 'deny') return { ...common, kind: 'refused' };
    if (decision.outcome === 'escalate') {
      // A flood of proposals buries the human who decides them: past the cap, the agent must wait for decisions.
      const cap = rateLimitsOf(g.agent).pending_proposals;
      const waiting = store.proposals.pendingCount(g.agent.id);
      if (waiting >= cap) {
        const refused: Decision = {
          outcome: 'deny',
          rule: 'pending_proposals',
          reason: `${g.agent.id} has ${waiting} proposals waiting for a human (limit ${cap}, rate_limits.pending_proposals)`,
          instead: 'wait until a human decides one (get_proposal shows their state), then ask again',
          checked: [...decision.checked, 'pending_proposals'],
        };
        return { ...common, decision: refused, kind: 'refused' };
      }
      const row = store.audit.append({ ...base, kind: 'escalated', decision: decided, request: g.plan });
      const proposal = store.proposals.create({
        kind: g.req.tool,
        project: g.agent.projectId,
        agent: g.agent.id,
        tool: g.req.tool,
        reason: g.reason ?? g.plan.summary,
        plan: g.plan,
        args: g.args,
        eventId: row.id,
        ttlHours: g.agent.project.proposal_ttl_hours,
      });
      return { ...common, kind: 'proposed', row, proposalId: proposal.id };
    }
    const row = store.audit.append(approval(decision));
    if (deltaCents > 0) store.ledger.reserve(row.id, g.agent.projectId, g.agent.id, g.req.tool, deltaCents);
    return { ...common, kind: 'approved', row };
  });
}
