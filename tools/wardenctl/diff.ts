// What an approval changes, as a person reads it before saying yes: a security group's rules before and after as a
// diff, and a budget cap before and after.
import { toCents } from '../../src/guard/rules.js';
import type { Policy } from '../../src/policy/schema.js';
import { ruleKey, type SgRule } from '../../src/security/rules.js';
import type { ProposalRow } from '../../src/store/proposals.js';
import type { Store } from '../../src/store/store.js';
import { oneLine } from '../../src/util/terminal.js';

interface Step {
  action: string;
  rules: SgRule[];
}

const usd = (cents: number) => `$${(cents / 100).toFixed(2)}`;
const shown = (r: SgRule) => `${ruleKey(r)}${r.description ? ` (${oneLine(r.description)})` : ''}`;

/** The rules now, then `+` for each rule the plan adds and `-` for each it removes, in the group's order. */
export function ruleDiff(current: SgRule[], steps: Step[]): string[] {
  const added = steps.filter((s) => /Authorize/.test(s.action)).flatMap((s) => s.rules);
  const removed = new Set(steps.filter((s) => /Revoke/.test(s.action)).flatMap((s) => s.rules.map(ruleKey)));
  return [...current.map((r) => `${removed.has(ruleKey(r)) ? '-' : ' '} ${shown(r)}`), ...added.map((r) => `+ ${shown(r)}`)];
}

/** Lines for the approve prompt and `proposals show`; none for a plan with nothing to compare. */
export function changeView(p: ProposalRow, store: Store, policy: Policy | undefined): string[] {
  const plan = JSON.parse(p.plan) as {
    operations: { action: string; params?: { cents_month?: number; month?: string | null } }[];
    preconditions?: { current_rules?: SgRule[] };
    params?: { steps?: Step[] };
  };
  if (p.tool === 'propose_security_change' && plan.preconditions?.current_rules && plan.params?.steps) {
    const lines = ruleDiff(plan.preconditions.current_rules, plan.params.steps);
    return ['  rules     before → after (- removed, + added):', ...lines.map((l) => `            ${l}`)];
  }
  const raise = plan.operations.find((o) => o.action === 'warden:RaiseBudget')?.params;
  const project = policy?.projects[p.project];
  if (p.tool === 'request_budget' && raise?.cents_month !== undefined && project) {
    const cap = store.ledger.capCents(p.project, toCents(project.budget_usd_month));
    const when = raise.month ? `this month (${raise.month})` : 'from now on';
    return [`  budget    cap ${usd(cap)}/month → ${usd(cap + raise.cents_month)}/month, ${when}`];
  }
  return [];
}
