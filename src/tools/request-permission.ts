// request_permission: an agent asks for IAM its role lacks; always a proposal showing the exact statements a human's
// approval would add to the agent's own role (wardenctl writes them to the policy and the role). Never automatic.
import { z } from 'zod';
import { Refusal } from '../core/errors.js';
import { grantStatements, permissionProblems } from '../policy/grants.js';
import { defineTool, humanReason } from './tool.js';

export const name = 'request_permission';

const input = z
  .object({
    actions: z
      .array(z.string().min(1).max(128))
      .min(1)
      .max(20)
      .describe('exact IAM actions, e.g. ec2:DescribeVolumes (no wildcards; never iam:, sts:, organizations:)'),
    resources: z
      .array(z.string().min(1).max(2048))
      .min(1)
      .max(20)
      .describe('ARNs in your own account the actions apply to ("*" is never granted)'),
    reason: humanReason('what you need it for; a human reads this'),
  })
  .strict();

const output = z.object({ role_arn: z.string(), statements: z.array(z.string()) });

export const requestPermission = defineTool({
  name,
  title: 'Ask a human for an IAM permission',
  description:
    'Asks a human to add exact actions on named resources to your own IAM role. Always becomes a pending proposal showing the statements to add (EC2 ones limited to what your project owns); IAM, STS, Organizations, wildcards, "*" and other accounts are refused outright. Poll with get_proposal; once approved, your next call has it.',
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  params: z.object({}).strict(),
  iam: {},
  reasonOf: (args) => args.reason,
  settledInStore: true,
  async plan(args, { agent }) {
    const account = agent.agent.role_arn.split(':')[4] ?? '';
    const problems = permissionProblems(args.actions, args.resources, account);
    if (problems.length) throw new Refusal(problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('; '));
    const statements = grantStatements(args.actions, args.resources);
    const have = new Set(agent.agent.extra_statements.map((s) => s.Sid));
    if (statements.every((s) => have.has(s.Sid)))
      throw new Refusal(`${agent.id} already has this grant (${statements.map((s) => s.Sid).join(', ')}); nothing to ask for`);
    return {
      tool: name,
      summary: `grant ${agent.id}: ${args.actions.join(', ')} on ${args.resources.length} resource(s)`,
      mutating: true,
      operations: [{ action: 'warden:GrantPermission', target: agent.agent.role_arn, params: { agent: agent.id, statements } }],
      resources: [],
      tagsToSet: {},
      costDeltaUsdMonth: 0,
      riskFlags: ['iam'],
      rollback: [],
      preconditions: { existing_grants: [...have].sort() },
      params: {},
    };
  },
  async execute() {
    // The escalation rule stops every iam plan at a proposal; wardenctl proposals approve applies it to the policy
    // and the role (src/proposals/grant.ts). Reaching this means the guard was bypassed: refuse loudly.
    throw new Error('request_permission never executes for an agent; a human approves it with wardenctl proposals approve');
  },
  summarize: (o) => `granted ${o.statements.join(', ')} on ${o.role_arn}`,
});
