// The one decision: rules in a fixed order (tier, limits, ownership, budget, escalation); the first that does not allow wins.
import { budgetRule, escalationRule, limitsRule, ownershipRule, tierRule } from './rules.js';
import type { Decision, Facts, GuardRequest, Plan, Rule, Verdict } from './types.js';

const ORDER: [Rule, (req: GuardRequest, plan: Plan, facts: Facts) => Verdict][] = [
  ['tier', tierRule],
  ['limits', limitsRule],
  ['ownership', ownershipRule],
  ['budget', budgetRule],
  ['escalation', escalationRule],
];

export function decide(req: GuardRequest, plan: Plan, facts: Facts): Decision {
  const checked: Rule[] = [];
  for (const [rule, check] of ORDER) {
    checked.push(rule);
    const verdict = check(req, plan, facts);
    if (verdict.outcome !== 'allow') return { ...verdict, checked };
  }
  return { outcome: 'allow', checked };
}

/** The message an agent reads for a refusal: which rule, why, and what it can do instead. */
export function explain(d: Decision): string {
  if (d.outcome === 'allow') return 'allowed';
  const verb = d.outcome === 'deny' ? 'denied' : 'escalated';
  return `${verb} by the ${d.rule} rule: ${d.reason} — ${d.instead}`;
}
