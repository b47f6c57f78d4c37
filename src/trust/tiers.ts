// The trust gradient: an agent's tier in force (policy, then earned or lost changes), its record from the audit,
// promotion when the record earns it (a proposal, or automatic where the policy says so), demotion on an incident.
import { notify } from '../notify/notify.js';
import type { Plan } from '../guard/types.js';
import type { Policy } from '../policy/schema.js';
import type { AgentContext } from '../core/agent.js';
import { planHash } from '../store/proposals.js';
import type { Store } from '../store/store.js';

export function currentTier(store: Store, policy: Policy, agentId: string): { tier: string; since: string | null } {
  const row = store.tiers.latest(agentId);
  // A tier the policy no longer has falls back to the policy's own assignment.
  if (row && row.tier in policy.tiers) return { tier: row.tier, since: row.at };
  return { tier: policy.agents[agentId].tier, since: null };
}

/** The agent as it acts on this call: tools and limits of the tier in force now. */
export function withCurrentTier(store: Store, agent: AgentContext): AgentContext {
  const { tier } = currentTier(store, agent.policy, agent.id);
  return tier === agent.tierName ? agent : { ...agent, tierName: tier, tier: agent.policy.tiers[tier] };
}

/** The one writer of tier changes (automatic ones here, approved proposals in proposals/approve.ts). */
export function recordTierChange(store: Store, agentId: string, tier: string, by: string, reason: string): void {
  store.tiers.record(agentId, tier, by, reason);
}

export function setTier(store: Store, agent: AgentContext, tier: string, by: string, reason: string): void {
  const from = currentTier(store, agent.policy, agent.id).tier;
  store.transaction(() => {
    recordTierChange(store, agent.id, tier, by, reason);
    store.audit.append({
      kind: 'executed',
      agent: by,
      project: agent.projectId,
      tool: 'set_tier',
      action: 'warden:SetTier',
      result: { agent: agent.id, from, to: tier, reason },
    });
  });
  const down = order(agent.policy).indexOf(tier) < order(agent.policy).indexOf(from);
  notify(store, agent.project, {
    project: agent.projectId,
    kind: down ? 'demoted' : 'promoted',
    subject: `${agent.id}: tier ${from} → ${tier}`,
    body: { agent: agent.id, from, to: tier, reason },
  });
}

const order = (policy: Policy) => Object.keys(policy.tiers);

export interface TrustRecord {
  agent: string;
  tier: string;
  since: string | null;
  window_days: number;
  successes: number;
  rollbacks: number;
  denials: number;
  budget_refusals: number;
  boundary_escapes: number;
  days_active: number;
  next_tier: string | null;
  eligible: boolean;
  why: string;
}

export function trustRecord(store: Store, policy: Policy, agentId: string): TrustRecord {
  const rules = policy.trust.promote;
  const { tier, since } = currentTier(store, policy, agentId);
  const windowStart = new Date(store.clock().getTime() - rules.window_days * 86_400_000).toISOString();
  // Only what happened since the last tier change counts toward the next one.
  const from = since && since > windowStart ? since : windowStart;
  const c = store.tiers.counts(agentId, from);
  const { executed, rollbacks, denials } = c;
  const budget = c.budgetRefusals;
  const escapes = c.boundaryEscapes;
  const days = c.daysActive;
  const successes = Math.max(0, executed - rollbacks);
  const tiers = order(policy);
  const next = tiers[tiers.indexOf(tier) + 1] ?? null;
  const missing = [
    !next ? 'already at the highest tier' : '',
    successes < rules.min_successes ? `${successes} of ${rules.min_successes} successful changes` : '',
    rollbacks > rules.max_rollbacks ? `${rollbacks} rollbacks (at most ${rules.max_rollbacks})` : '',
    denials > rules.max_denials ? `${denials} denials (at most ${rules.max_denials})` : '',
  ].filter(Boolean);
  return {
    agent: agentId,
    tier,
    since,
    window_days: rules.window_days,
    successes,
    rollbacks,
    denials,
    budget_refusals: budget,
    boundary_escapes: escapes,
    days_active: days,
    next_tier: next,
    eligible: missing.length === 0,
    why: missing.length ? missing.join('; ') : `earned ${next} within ${rules.window_days} days`,
  };
}

export type Incident = Policy['trust']['demote_on'][number];

/** After a call: demote on an incident the policy names; offer (or make) a promotion the record has earned. */
export function reviewTrust(store: Store, agent: AgentContext, incidents: readonly Incident[]): void {
  const policy = agent.policy;
  const tiers = order(policy);
  const { tier } = currentTier(store, policy, agent.id);
  const incident = incidents.find((i) => policy.trust.demote_on.includes(i));
  if (incident) {
    const lower = tiers[tiers.indexOf(tier) - 1];
    if (lower) setTier(store, agent, lower, 'warden', `automatic demotion after a ${incident.replace('_', ' ')}`);
    return;
  }
  if (incidents.length) return;
  // At the top tier there is nothing to earn: skip the record's queries on this hot path.
  if (tiers.indexOf(tier) === tiers.length - 1) return;
  const record = trustRecord(store, policy, agent.id);
  if (!record.eligible || !record.next_tier) return;
  if (policy.trust.promote.automatic) return setTier(store, agent, record.next_tier, 'warden', `automatic promotion: ${record.why}`);
  if (store.proposals.list({ state: 'pending', kind: 'set_tier' }).some((p) => p.agent === agent.id)) return;
  const plan: Plan = {
    tool: 'set_tier',
    summary: `promote ${agent.id} from ${tier} to ${record.next_tier}`,
    mutating: true,
    operations: [{ action: 'warden:SetTier', target: agent.id, params: { agent: agent.id, tier: record.next_tier } }],
    resources: [],
    tagsToSet: {},
    costDeltaUsdMonth: 0,
    riskFlags: [],
    rollback: [{ action: 'warden:SetTier', target: agent.id, params: { agent: agent.id, tier } }],
    preconditions: { record },
    params: {},
  };
  const row = store.audit.append({
    kind: 'escalated',
    agent: agent.id,
    project: agent.projectId,
    tool: 'set_tier',
    // The plan hash goes on the chain, so an approval can check the proposal row against it.
    decision: { outcome: 'escalate', rule: 'trust', reason: record.why, plan_hash: planHash(plan) },
    request: plan,
  });
  const p = store.proposals.create({
    kind: 'set_tier',
    project: agent.projectId,
    agent: agent.id,
    tool: 'set_tier',
    reason: record.why,
    plan,
    args: {},
    eventId: row.id,
    ttlHours: agent.project.proposal_ttl_hours,
  });
  notify(store, agent.project, {
    project: agent.projectId,
    kind: 'proposal',
    subject: `${agent.id} is eligible for tier ${record.next_tier}`,
    body: { proposal_id: p.id, record },
  });
}
