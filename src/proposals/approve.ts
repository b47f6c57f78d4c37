// A human's decision on a proposal: checked (pending, unexpired, plan hash intact), applied once, audited in the same chain.
import type { Plan } from '../guard/types.js';
import { notify } from '../notify/notify.js';
import type { Policy } from '../policy/schema.js';
import { canonicalJson, sha256 } from '../util/canonical.js';
import type { ProposalRow } from '../store/proposals.js';
import type { Store } from '../store/store.js';
import { recordTierChange } from '../trust/tiers.js';
import { recordExpiries } from './expire.js';

export class ProposalRefused extends Error {
  override name = 'ProposalRefused';
  constructor(
    message: string,
    /** The refusal already has its own audit row (a stale plan, a run that failed); otherwise refusedApproval writes one. */
    readonly recorded = false,
  ) {
    super(message);
  }
}

/** Rules of rows that decide an escalation: a proposal whose escalation has one of these after it is decided. */
const DECIDING = ['human', 'stale', 'expired'];

/**
 * Every refused decision is on the record: a second approval, a tampered or revived proposal, an expired one.
 * The row follows nothing, so it never reads as a decision of the proposal itself.
 */
export function refusedApproval(store: Store, id: string, by: string, verb: 'approve' | 'reject', e: ProposalRefused): void {
  if (e.recorded) return;
  const p = store.proposals.get(id);
  try {
    store.audit.append({
      kind: 'denied',
      agent: `human:${by}`,
      project: p?.project ?? '(unknown)',
      tool: p?.tool ?? 'proposal',
      decision: { outcome: 'deny', rule: 'approval_refused', verb, proposal: id, reason: e.message },
    });
  } catch {
    // The refusal stands even if it cannot be written; the caller reports it.
  }
}

export interface Decided {
  proposal: ProposalRow;
  result: Record<string, unknown>;
}

/** What an approval did outside the store before recording it (a grant's policy and role writes), by plan action. */
export type Effects = Partial<Record<'warden:GrantPermission', Record<string, unknown>>>;

/** Runs the stored plan's operations that need no AWS call; anything else is refused, never skipped. */
function apply(store: Store, p: ProposalRow, plan: Plan, approver: string, effects: Effects): Record<string, unknown> {
  const applied: Record<string, unknown>[] = [];
  for (const op of plan.operations) {
    if (op.action === 'warden:AllowDatabaseAccess') {
      // Access for a while, not a credential: the agent's next call gets a fresh short-lived token itself.
      const { database, db_user: dbUser, minutes } = op.params as { database: string; db_user: string; minutes: number };
      const until = new Date(store.clock().getTime() + minutes * 60_000).toISOString();
      applied.push({ action: op.action, database, db_user: dbUser, agent: p.agent, access_until: until });
      continue;
    }
    if (op.action === 'warden:GrantPermission') {
      const done = effects[op.action];
      if (!done)
        throw new ProposalRefused(
          `proposal ${p.id}: a permission grant is applied by wardenctl proposals approve, which writes the policy file and the role; nothing was done`,
        );
      applied.push({ action: op.action, ...done });
      continue;
    }
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

/**
 * A proposal that may be decided now: pending and unexpired, its stored plan matching its hash, and both bound to the
 * audit chain — the plan hash its `escalated` row recorded (a row whose own hash still verifies), and no decision of
 * it recorded after that row. A proposal row rewritten or revived in the database is refused. Expiries are recorded by
 * the caller first (recordExpiries), outside any transaction that a refusal would roll back.
 */
export function loadPending(store: Store, id: string): { p: ProposalRow; plan: Plan } {
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
  const escalated = store.audit.get(p.event_id);
  if (escalated?.kind !== 'escalated' || !store.audit.rowIntact(escalated.seq))
    throw new ProposalRefused(
      `proposal ${id}: its escalation ${p.event_id} is not an intact escalated row of the audit chain — refused; run wardenctl audit verify`,
    );
  const chained = (JSON.parse(escalated.decision ?? '{}') as { plan_hash?: string }).plan_hash;
  if (chained !== p.plan_hash)
    throw new ProposalRefused(
      `proposal ${id}: its plan hash ${p.plan_hash.slice(0, 16)}… is not the one the audit chain recorded when the agent proposed it (${chained ? `${chained.slice(0, 16)}…` : 'none'}); the proposal row was rewritten — refused`,
    );
  const decided = store.audit
    .followers(p.event_id)
    .find(
      (r) =>
        r.kind === 'approved' ||
        (r.kind === 'denied' && DECIDING.includes((JSON.parse(r.decision ?? '{}') as { rule?: string }).rule ?? '')),
    );
  if (decided)
    throw new ProposalRefused(
      `proposal ${id}: the audit chain records it ${decided.kind === 'approved' ? 'approved' : 'decided'} already (${decided.agent} at ${decided.ts}); the proposal row says pending — refused`,
    );
  return { p, plan };
}

export function approveProposal(store: Store, id: string, approver: string, comment: string | null, effects: Effects = {}): Decided {
  recordExpiries(store, undefined);
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
    const result = apply(store, p, plan, approver, effects);
    store.audit.append({ kind: 'executed', agent: human, project: p.project, tool: p.tool, result, follows: approved.id });
    store.proposals.finish(id, 'executed', result);
    return { proposal: store.proposals.get(id)!, result };
  });
}

/** Rejects; with the policy at hand, the project's humans and webhooks hear of it too. */
export function rejectProposal(store: Store, id: string, by: string, reason: string, policy?: Policy): Decided {
  recordExpiries(store, policy);
  let decided: Decided;
  try {
    decided = rejectOnce(store, id, by, reason);
  } catch (e) {
    if (e instanceof ProposalRefused) refusedApproval(store, id, by, 'reject', e);
    throw e;
  }
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

function rejectOnce(store: Store, id: string, by: string, reason: string): Decided {
  return store.transaction(() => {
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
}
