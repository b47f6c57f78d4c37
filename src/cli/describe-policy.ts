// check-policy's report: for each agent, its project, tier, role, tools and limits.
import type { Policy } from '../policy/schema.js';

export function describePolicy(policy: Policy, file: string): string {
  const out = [`${file}: valid (version ${policy.version})`, ''];
  for (const [id, a] of Object.entries(policy.agents)) {
    const p = policy.projects[a.project];
    const t = policy.tiers[a.tier];
    out.push(`agent ${id}`);
    out.push(
      `  project   ${a.project} (budget $${p.budget_usd_month}/month${p.escalate_over_usd_month !== undefined ? `, a human approves changes over $${p.escalate_over_usd_month}/month` : ''})`,
    );
    out.push(`  tier      ${a.tier}`);
    out.push(`  role      ${a.role_arn} (sessions of ${a.session_seconds}s)`);
    for (const [tier, arn] of Object.entries(a.tier_roles)) out.push(`  role      ${arn} when at tier ${tier}`);
    out.push(`  tools     ${t.tools.join(', ') || '(none)'}`);
    const limits = Object.entries(t.limits);
    if (limits.length) out.push(`  limits    ${limits.map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('|') : v}`).join(', ')}`);
    if (p.critical_tag)
      out.push(
        `  critical  resources tagged ${Object.entries(p.critical_tag)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')} need a human`,
      );
    out.push('');
  }
  return out.join('\n');
}
