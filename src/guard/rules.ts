// The guard's checks, each a pure function of (request, plan, facts) returning allow or a teaching refusal.
import type { EscalationClass, Facts, GuardRequest, Plan, Verdict } from './types.js';

const ALLOW: Verdict = { outcome: 'allow' };
const usd = (n: number) => `$${n.toFixed(2)}`;

export function tierRule(req: GuardRequest): Verdict {
  if (req.tier.tools.includes(req.tool)) return ALLOW;
  return {
    outcome: 'deny',
    rule: 'tier',
    reason: `tool "${req.tool}" is not granted to tier "${req.tierName}" (agent ${req.agent})`,
    instead: `tools you may call: ${req.tier.tools.join(', ') || '(none)'}; a human can move you to a tier that grants ${req.tool}`,
  };
}

/** Why a capacity change is past the tier's limits, or null. Shared with planners that check before reading AWS. */
export function limitViolation(tierName: string, limits: GuardRequest['tier']['limits'], c: NonNullable<Plan['capacity']>): string | null {
  if (limits.instance_types && !limits.instance_types.includes(c.instanceType))
    return `instance type ${c.instanceType} is not allowed for tier "${tierName}" (allowed: ${limits.instance_types.join(', ')})`;
  if (limits.max_instances_per_service !== undefined && c.countAfter > limits.max_instances_per_service)
    return `${c.service} would have ${c.countAfter} instances; tier "${tierName}" allows at most ${limits.max_instances_per_service} per service`;
  if (limits.max_change_per_call !== undefined && c.change > limits.max_change_per_call)
    return `this call changes ${c.change} instances; tier "${tierName}" allows at most ${limits.max_change_per_call} per call`;
  return null;
}

export function limitsRule(req: GuardRequest, plan: Plan): Verdict {
  if (!plan.capacity) return ALLOW;
  const why = limitViolation(req.tierName, req.tier.limits, plan.capacity);
  if (!why) return ALLOW;
  return {
    outcome: plan.capacity.escalateOverLimits ? 'escalate' : 'deny',
    rule: 'limits',
    classes: ['limits'],
    reason: why,
    instead: plan.capacity.escalateOverLimits
      ? 'a human must approve going past the limit; nothing was executed'
      : 'stay within the limits (get_service shows them), change in smaller steps, or ask a human to move you to a higher tier',
  };
}

export function ownershipRule(req: GuardRequest, plan: Plan): Verdict {
  const teach = 'act on resources your project owns (list_resources shows them), or ask a human to act on this one';
  for (const r of plan.resources) {
    if (r.change === 'create') continue;
    if (r.tags === null && r.unreadableOutage)
      return {
        outcome: 'deny',
        rule: 'ownership',
        reason: `${r.arn}: could not read tags: ${r.unreadableWhy ?? 'AWS did not answer'}`,
        instead: 'this is an AWS outage or a network problem, not a question of ownership; retry when AWS answers — nothing was done',
      };
    if (r.tags === null)
      return {
        outcome: 'deny',
        rule: 'ownership',
        reason: `${r.arn}: its tags cannot be read${r.unreadableWhy ? ` (${r.unreadableWhy})` : ''}, so it is not treated as owned`,
        instead: teach,
      };
    const owner = r.tags.ProjectId;
    if (owner !== req.projectId)
      return {
        outcome: 'deny',
        rule: 'ownership',
        reason: `${r.arn}: ProjectId is ${owner === undefined ? 'missing' : `"${owner}"`}, not "${req.projectId}"`,
        instead: teach,
      };
  }
  for (const [key, want] of [
    ['ProjectId', req.projectId],
    ['AgentId', req.agent],
  ] as const) {
    const set = plan.tagsToSet[key];
    if (set !== undefined && set !== want)
      return {
        outcome: 'deny',
        rule: 'ownership',
        reason: `the plan would set ${key}="${set}", but this server acts for ${key}="${want}"`,
        instead: 'ownership tags come from the server identity; leave them out',
      };
  }
  return ALLOW;
}

/** Dollars in a plan are whole cents by construction; compare in cents so no float drift decides. */
export const toCents = (usd: number) => Math.round(usd * 100);
const cents = (c: number) => `$${(c / 100).toFixed(2)}`;

export function budgetRule(req: GuardRequest, plan: Plan, facts: Facts): Verdict {
  if (!plan.mutating) return ALLOW;
  if (plan.costDeltaUsdMonth === null)
    return {
      outcome: 'deny',
      rule: 'budget',
      reason: 'the monthly cost of this change cannot be priced (unknown price), and an unpriced change is never guessed',
      instead: 'choose a resource type with a known price (wardenctl prices lists them), or ask a human',
    };
  const delta = toCents(plan.costDeltaUsdMonth);
  if (delta <= 0) return ALLOW;
  const tierMax = req.tier.limits.max_monthly_delta_usd;
  if (tierMax !== undefined && delta > toCents(tierMax))
    return {
      outcome: 'deny',
      rule: 'budget',
      reason: `this change adds ${cents(delta)}/month; tier "${req.tierName}" allows at most ${usd(tierMax)}/month per change`,
      instead: 'make a smaller change, or call request_budget',
    };
  const b = facts.budget;
  if (!b)
    return {
      outcome: 'deny',
      rule: 'budget',
      reason: `this change adds ${cents(delta)}/month and the budget ledger cannot confirm ${req.projectId} can afford it (a held resource has no known price)`,
      instead: 'ask a human to run wardenctl budget reconcile and price what is unpriced',
    };
  const left = b.capCents - b.committedCents - b.reservedCents;
  if (delta > left) {
    const fits = (plan.alternatives ?? [])
      .filter((a) => toCents(a.costDeltaUsdMonth) <= left)
      .sort((x, y) => y.costDeltaUsdMonth - x.costDeltaUsdMonth)[0];
    return {
      outcome: 'deny',
      rule: 'budget',
      reason: `${req.projectId} has ${cents(Math.max(0, left))}/month left; ${plan.summary} costs ${cents(delta)}/month`,
      instead: `${fits ? `${fits.description} (${cents(toCents(fits.costDeltaUsdMonth))}) fits — ` : ''}make a smaller change, or call request_budget`,
    };
  }
  return ALLOW;
}

export function escalationRule(req: GuardRequest, plan: Plan): Verdict {
  const reasons: string[] = [];
  const classes = new Set<EscalationClass>(plan.riskFlags);
  for (const flag of plan.riskFlags) reasons.push(`risk: ${flag.replace(/_/g, ' ')}`);
  const critical = Object.entries(req.project.critical_tag ?? {});
  for (const r of plan.resources)
    if (r.tags && critical.some(([k, v]) => r.tags?.[k] === v)) {
      reasons.push(`${r.arn} is tagged critical`);
      classes.add('critical_tag');
    }
  if (req.tier.escalate_tools.includes(req.tool)) {
    reasons.push(`tier "${req.tierName}" calls ${req.tool} only with a human's approval`);
    classes.add('tier_policy');
  }
  const over = req.project.escalate_over_usd_month;
  if (over !== undefined && (plan.costDeltaUsdMonth ?? 0) > over) {
    reasons.push(`adds $${(plan.costDeltaUsdMonth ?? 0).toFixed(2)}/month, over the $${over.toFixed(2)} a human must approve`);
    classes.add('spend');
  }
  if (reasons.length === 0) return ALLOW;
  return {
    outcome: 'escalate',
    rule: 'escalation',
    classes: [...classes].sort(),
    reason: `needs a human: ${[...new Set(reasons)].join('; ')}`,
    instead: 'a human must approve this change; nothing was executed',
  };
}
