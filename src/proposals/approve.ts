// A human's decision on a proposal: checked (pending, unexpired, plan hash intact), applied once, audited in the same chain.
import type { Plan } from '../guard/types.js';
import { notify } from '../notify/notify.js';
import type { Policy } from '../policy/schema.js';
import { canonicalJson, sha256 } from '../util/canonical.js';
import type { ProposalRow } from '../store/proposals.js';
import type { Store } from '../store/store.js';
import { recordTierChange } from '../trust/tiers.js';

export class ProposalRefused extends Error {
  override name = 'ProposalRefused';
}

export interface Decided {
  proposal: ProposalRow;
  result: Record<string, unknown>;
}

/** Runs the stored plan's operations that need no AWS call; anything else is refused, never skipped. */
function apply(store: Store, p: ProposalRow, plan: Plan, approver: string): Record<string, unknown> {
  const applied: Record<string, unknown>[] = [];
  for (const op of plan.operations) {
    if (op.action === 'warden:SetTier') {
      const { agent, tier } = op.params as { agent: string; tier: string };
      recordTierChange(store, agent, tier, approver, `approved proposal ${p.id}`);
      applied.push({ action: op.action, agent, tier });
      continue;
    }
    if (op.action !== 'warden:RaiseBudget')
      throw new ProposalRefused(`proposal ${p.id}: this version cannot execute ${op.action} on approval; nothing was done`);
    const { cents_month: cents, month } = op.params as { cents_month: number; month: string | null };
    store.ledger.raiseCap(p.project, cents, month, p.id, approver);
    applied.push({ action: op.action, project: p.project, added_usd_month: cents / 100, month: month ?? 'permanent' });
  }
  return { applied };
}

/** A proposal that may be decided now: pending, unexpired, its stored plan still matching its hash. */
export function loadPending(store: Store, id: string): { p: ProposalRow; plan: Plan } {
  store.proposals.expireDue();
  const p = store.proposals.get(id);
  if (!p) throw new ProposalRefused(`no proposal ${id} (wardenctl proposals list shows them)`);
  if (p.state !== 'pending')
    throw new ProposalRefused(
      `proposal ${id} is ${p.state}${p.decided_by ? ` (by ${p.decided_by} at ${p.decided_at})` : ''}; only a pending proposal can be decided`,
    );
  if (sha256(p.plan) !== p.plan_hash)
    throw new ProposalRefused(
      `proposal ${id}: the stored plan no longer matches its hash ${p.plan_hash}; it was altered after the agent proposed it — refused`,
    );
  const plan = JSON.parse(p.plan) as Plan;
  // Canonical form must round-trip too, or the row was hand-edited into an equivalent-looking plan.
  if (sha256(canonicalJson(plan)) !== p.plan_hash) throw new ProposalRefused(`proposal ${id}: plan is not in canonical form; refused`);
  return { p, plan };
}

export function approveProposal(store: Store, id: string, approver: string, comment: string | null): Decided {
  return store.transaction(() => {
    const { p, plan } = loadPending(store, id);
    if (!store.proposals.decide(id, 'approved', approver, comment))
      throw new ProposalRefused(`proposal ${id} was decided by someone else just now`);
    const human = `human:${approver}`;
    const approved = store.audit.append({
      kind: 'approved',
      agent: human,
      project: p.project,
      tool: p.tool,
      action: plan.operations.map((o) => o.action).join(' '),
      decision: { proposal: id, plan_hash: p.plan_hash, proposed_by: p.agent, comment },
      follows: p.event_id,
    });
    const result = apply(store, p, plan, approver);
    store.audit.append({ kind: 'executed', agent: human, project: p.project, tool: p.tool, result, follows: approved.id });
    store.proposals.finish(id, 'executed', result);
    return { proposal: store.proposals.get(id)!, result };
  });
}

/** Rejects; with the policy at hand, the project's humans and webhooks hear of it too. */
export function rejectProposal(store: Store, id: string, by: string, reason: string, policy?: Policy): Decided {
  const decided = store.transaction(() => {
    const { p } = loadPending(store, id);
    if (!store.proposals.decide(id, 'rejected', by, reason))
      throw new ProposalRefused(`proposal ${id} was decided by someone else just now`);
    store.audit.append({
      kind: 'denied',
      agent: `human:${by}`,
      project: p.project,
      tool: p.tool,
      decision: { outcome: 'deny', rule: 'human', reason, proposal: id, proposed_by: p.agent },
      follows: p.event_id,
    });
    return { proposal: store.proposals.get(id)!, result: { rejected: true, reason } };
  });
  const project = policy?.projects[decided.proposal.project];
  if (project)
    notify(store, project, {
      project: decided.proposal.project,
      kind: 'rejected',
      subject: `proposal ${id} rejected by ${by}`,
      body: { proposal_id: id, reason, proposed_by: decided.proposal.agent },
    });
  return decided;
}
