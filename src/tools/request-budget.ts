// request_budget: ask a human to raise the project's monthly cap; always a pending proposal, never automatic.
import { z } from 'zod';
import { monthKey } from '../budget/month.js';
import { defineTool, humanReason, noParams } from './tool.js';

export const name = 'request_budget';

const input = z
  .object({
    amount_usd_month: z
      .number()
      .positive()
      .max(100_000)
      .refine((n) => Math.abs(Math.round(n * 100) - n * 100) < 1e-6, 'whole cents only (at most two decimals)')
      .describe('how much to add to the monthly cap, in USD'),
    reason: humanReason('what you need it for; a human reads this'),
    duration: z.enum(['this_month', 'permanent']).describe('this_month: until the current UTC month ends; permanent: from now on'),
  })
  .strict();

const output = z.object({ requested_usd_month: z.number(), duration: z.string() });

export const requestBudget = defineTool({
  name,
  title: 'Ask a human for more monthly budget',
  description:
    "Asks a human to raise your project's monthly spending cap. Always becomes a pending proposal (never approved automatically); the answer carries its id. Check get_budget for pending requests.",
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  params: noParams,
  iam: {},
  reasonOf: (args) => args.reason,
  settledInStore: true,
  async plan(args, { agent, ports }) {
    const cents = Math.round(args.amount_usd_month * 100);
    return {
      tool: name,
      summary: `raise ${agent.projectId}'s cap by $${(cents / 100).toFixed(2)}/month (${args.duration.replace('_', ' ')})`,
      mutating: true,
      operations: [
        {
          action: 'warden:RaiseBudget',
          target: agent.projectId,
          params: { cents_month: cents, month: args.duration === 'this_month' ? monthKey(ports.clock()) : null },
        },
      ],
      resources: [],
      tagsToSet: {},
      // Raising the cap spends nothing by itself.
      costDeltaUsdMonth: 0,
      riskFlags: ['budget_increase'],
      rollback: [],
      params: {},
    };
  },
  async execute() {
    // The escalation rule stops every budget_increase plan at a proposal; a human's approval applies it
    // (src/proposals/approve.ts). Reaching this means the guard was bypassed: refuse loudly.
    throw new Error('request_budget never executes for an agent; a human approves it with wardenctl proposals approve');
  },
  summarize: (o) => `requested $${o.requested_usd_month.toFixed(2)}/month (${o.duration})`,
});
