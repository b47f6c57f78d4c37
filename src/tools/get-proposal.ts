// get_proposal: the agent polls a proposal it (or its project) made: state, the human's decision, the result.
import { z } from 'zod';
import type { ToolPorts } from '../core/ports.js';
import { readPlan } from './read-plan.js';
import { Refusal } from '../core/errors.js';
import { defineTool, noParams } from './tool.js';

export const name = 'get_proposal';

const output = z.object({
  proposal_id: z.string(),
  state: z.string().describe('pending, approved, rejected, expired, executed, failed or stale'),
  tool: z.string(),
  summary: z.string(),
  reason: z.string(),
  proposed_by: z.string(),
  created_at: z.string(),
  expires_at: z.string(),
  decided_by: z.string().nullable(),
  decided_at: z.string().nullable(),
  decision_note: z.string().nullable(),
  result: z.unknown().nullable(),
});

function find(ports: ToolPorts, project: string, id: string) {
  const p = ports.proposals.list({ project }).find((x) => x.id === id);
  // Another project's proposal is reported exactly like a missing one.
  if (!p) throw new Refusal(`proposal_id ${id}: no such proposal in project ${project}`);
  return p;
}

export const getProposal = defineTool({
  name,
  title: 'Check a proposal',
  description:
    'Shows a proposal of your project: whether a human approved, rejected or has not decided it yet, and what running it did. Poll it after a pending_approval answer.',
  input: z.object({ proposal_id: z.string().regex(/^prop_[0-9a-f]{12}$/, 'a proposal id such as prop_0123456789ab') }).strict(),
  output,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  iam: {},
  params: noParams,
  async plan(args, { agent, ports }) {
    find(ports, agent.projectId, args.proposal_id);
    return readPlan(name, 'read a proposal', []);
  },
  async execute(_plan, args, { agent, ports }) {
    const p = find(ports, agent.projectId, args.proposal_id);
    return {
      proposal_id: p.id,
      state: p.state,
      tool: p.tool,
      summary: (JSON.parse(p.plan) as { summary: string }).summary,
      reason: p.reason,
      proposed_by: p.agent,
      created_at: p.created_at,
      expires_at: p.expires_at,
      decided_by: p.decided_by,
      decided_at: p.decided_at,
      decision_note: p.decision_note,
      result: p.result === null ? null : JSON.parse(p.result),
    };
  },
  summarize: (o) => `${o.proposal_id}: ${o.state}${o.decided_by ? ` (by ${o.decided_by})` : ''} — ${o.summary}`,
});
