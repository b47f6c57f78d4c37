// get_budget: the project's cap, what is held and reserved, what is left, month to date, and pending requests.
import { z } from 'zod';
import { toCents } from '../guard/rules.js';
import { defineTool, noParams } from './tool.js';
import { readPlan } from './read-plan.js';

export const name = 'get_budget';

const usd = (cents: number) => Math.round(cents) / 100;

const output = z.object({
  project: z.string(),
  month: z.string().describe('UTC month the cap applies to'),
  cap_usd_month: z.number(),
  committed_usd_month: z.number().describe('run-rate of what the project holds'),
  reserved_usd_month: z.number().describe('held by changes approved but not yet finished'),
  remaining_usd_month: z.number(),
  month_to_date_usd: z.number().describe('estimated from resource-hours actually held this month'),
  projected_month_end_usd: z.number(),
  unpriced_resources: z.array(z.string()).describe('held resources with no known price; new spending is refused until priced'),
  by_resource: z.array(
    z.object({
      arn: z.string(),
      description: z.string(),
      agent: z.string().nullable(),
      usd_month: z.number().nullable(),
      since: z.string(),
    }),
  ),
  by_agent: z.array(z.object({ agent: z.string(), committed_usd_month: z.number(), reserved_usd_month: z.number() })),
  pending_requests: z.array(
    z.object({
      proposal_id: z.string(),
      agent: z.string(),
      reason: z.string(),
      created_at: z.string(),
      expires_at: z.string(),
      plan: z.string(),
    }),
  ),
});

export const getBudget = defineTool({
  name,
  title: "My project's budget",
  description:
    "Shows your project's monthly cap, what it holds and has reserved, what is left, month-to-date spend and the month-end projection, per resource and per agent, and budget requests waiting for a human.",
  input: z.object({}).strict(),
  output,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  iam: {},
  params: noParams,
  async plan() {
    return readPlan(name, 'read the budget ledger', []);
  },
  async execute(_plan, _args, { agent, ports }) {
    const s = ports.ledger.summary(agent.projectId, toCents(agent.project.budget_usd_month));
    const pending = ports.proposals.list({ state: 'pending', project: agent.projectId, kind: 'request_budget' });
    return {
      project: s.project,
      month: s.month,
      cap_usd_month: usd(s.capCents),
      committed_usd_month: usd(s.committedCents),
      reserved_usd_month: usd(s.reservedCents),
      remaining_usd_month: usd(s.remainingCents),
      month_to_date_usd: usd(s.monthToDateCents),
      projected_month_end_usd: usd(s.projectedMonthEndCents),
      unpriced_resources: s.unpriced,
      by_resource: s.byResource.map((r) => ({
        arn: r.arn,
        description: r.description,
        agent: r.agent,
        usd_month: r.centsMonth === null ? null : usd(r.centsMonth),
        since: r.since,
      })),
      by_agent: s.byAgent.map((a) => ({
        agent: a.agent,
        committed_usd_month: usd(a.committedCents),
        reserved_usd_month: usd(a.reservedCents),
      })),
      pending_requests: pending.map((p) => ({
        proposal_id: p.id,
        agent: p.agent,
        reason: p.reason,
        created_at: p.created_at,
        expires_at: p.expires_at,
        plan: (JSON.parse(p.plan) as { summary: string }).summary,
      })),
    };
  },
  summarize: (o) =>
    `${o.project}: $${o.remaining_usd_month.toFixed(2)}/month left of $${o.cap_usd_month.toFixed(2)} (held $${o.committed_usd_month.toFixed(2)}, reserved $${o.reserved_usd_month.toFixed(2)}); ${o.pending_requests.length} request(s) pending`,
});
