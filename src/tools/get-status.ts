// get_status: who the agent is, what it may call, its limits and the role its calls run as.
import { z } from 'zod';
import { rateLimitsOf } from '../core/agent.js';
import { toCents } from '../guard/rules.js';
import { bucketsFor } from '../core/limits.js';
import { defineTool, noParams } from './tool.js';
import { readPlan } from './read-plan.js';

export const name = 'get_status';

const output = z.object({
  agent: z.string(),
  project: z.string(),
  tier: z.string(),
  role_arn: z.string(),
  assumed_role_arn: z.string(),
  credentials_expire_at: z.string(),
  tools: z.array(z.string()),
  limits: z.record(z.string(), z.unknown()),
  budget_usd_month: z.number(),
  escalate_over_usd_month: z.number().nullable(),
  budget_remaining_usd_month: z.number().nullable().describe('null while the ledger cannot answer (unpriced resources)'),
  pending_proposals: z.number().describe('your proposals waiting for a human'),
  environments: z.array(z.string()),
  policy: z
    .object({ sha256: z.string(), loaded_at: z.string(), problem: z.string().nullable() })
    .nullable()
    .describe('the policy in force (the server re-reads its file when it changes); problem: why the last edit was not taken'),
  rate_limits: z
    .object({
      calls_per_minute: z.object({ limit: z.number(), remaining: z.number() }),
      mutating_calls_per_hour: z.object({ limit: z.number(), remaining: z.number() }),
      concurrent_calls: z.object({ limit: z.number(), in_flight: z.number() }),
      pending_proposals: z.object({ limit: z.number(), pending: z.number() }),
      max_argument_kb: z.number(),
    })
    .describe('flood limits of this agent, shared by all its server processes; a call past one is refused with when to retry'),
});

export const getStatus = defineTool({
  name,
  title: 'Who am I and what may I do',
  description:
    "Shows this agent's identity (agent, project, trust tier), the IAM role its AWS calls run as, the tools its tier grants and its limits. Call it first.",
  input: z.object({}).strict(),
  output,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  iam: {},
  params: noParams,
  async plan() {
    return readPlan(name, 'read identity', [{ action: 'sts:AssumeRole' }]);
  },
  async execute(_plan, _args, { agent, aws, ports }) {
    const creds = await aws.session.credentials();
    const limits = rateLimitsOf(agent);
    const usage = ports.rates.usage(agent.id, bucketsFor(limits, true));
    const left = (kind: string) => usage.buckets.find((b) => b.kind === kind)?.remaining ?? 0;
    const budget = ports.ledger.facts(agent.projectId, toCents(agent.project.budget_usd_month));
    const pending = ports.proposals.pendingCount(agent.id);
    return {
      agent: agent.id,
      project: agent.projectId,
      tier: agent.tierName,
      role_arn: agent.agent.role_arn,
      assumed_role_arn: creds.assumedRoleArn,
      credentials_expire_at: creds.expiration.toISOString(),
      tools: agent.tier.tools,
      limits: agent.tier.limits,
      budget_usd_month: agent.project.budget_usd_month,
      escalate_over_usd_month: agent.project.escalate_over_usd_month ?? null,
      budget_remaining_usd_month: budget ? (budget.capCents - budget.committedCents - budget.reservedCents) / 100 : null,
      pending_proposals: pending,
      environments: agent.project.environments,
      policy: agent.policySource
        ? { sha256: agent.policySource.sha256, loaded_at: agent.policySource.loadedAt, problem: agent.policySource.problem }
        : null,
      rate_limits: {
        calls_per_minute: { limit: limits.calls_per_minute, remaining: left('calls_per_minute') },
        mutating_calls_per_hour: { limit: limits.mutating_calls_per_hour, remaining: left('mutating_calls_per_hour') },
        concurrent_calls: { limit: limits.concurrent_calls, in_flight: usage.inFlight },
        pending_proposals: { limit: limits.pending_proposals, pending },
        max_argument_kb: limits.max_argument_kb,
      },
    };
  },
  summarize: (o) => `${o.agent} (project ${o.project}, tier ${o.tier}) runs as ${o.assumed_role_arn}; may call: ${o.tools.join(', ')}`,
});
