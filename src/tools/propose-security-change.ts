// propose_security_change: the agent may only suggest security-group rule changes; a human approves the exact diff.
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { z } from 'zod';
import { accountOf } from '../aws/arn.js';
import { rulesDesired } from '../drift/record.js';
import type { AgentAws } from '../aws/clients.js';
import { applyRuleStep, applyRuleStepAgain, ruleOperation, ruleStep, type RuleStep } from '../security/apply.js';
import { ipv4Cidr, ipv6Cidr } from '../security/cidr.js';
import { analyse, ruleKey, rulesOf, type SgRule } from '../security/rules.js';
import { Refusal } from '../core/errors.js';
import { defineTool, humanReason } from './tool.js';

export const name = 'propose_security_change';

const rule = z
  .object({
    direction: z.enum(['ingress', 'egress']).default('ingress'),
    protocol: z.enum(['tcp', 'udp', 'icmp', 'all']).describe('all = every protocol and port'),
    from_port: z.number().int().min(-1).max(65535),
    to_port: z.number().int().min(-1).max(65535),
    cidr: ipv4Cidr.optional(),
    ipv6_cidr: ipv6Cidr.optional(),
    source_group: z
      .string()
      .regex(/^sg-[0-9a-f]{8,17}$/, 'a security group id (sg-…)')
      .optional(),
    description: z
      .string()
      .max(255)
      .regex(
        /^[a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]*$/,
        'AWS allows letters, digits, spaces and . _ - : / ( ) # , @ [ ] + = & ; { } ! $ * in descriptions',
      )
      .optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if ([r.cidr, r.ipv6_cidr, r.source_group].filter(Boolean).length !== 1)
      ctx.addIssue({ code: 'custom', path: ['cidr'], message: 'give exactly one source: cidr, ipv6_cidr or source_group' });
    if (r.protocol !== 'icmp' && r.protocol !== 'all' && (r.from_port < 0 || r.to_port < 0))
      ctx.addIssue({ code: 'custom', path: ['from_port'], message: `${r.protocol} ports are 0-65535` });
    if (r.from_port > r.to_port)
      ctx.addIssue({ code: 'custom', path: ['to_port'], message: `to_port ${r.to_port} is below from_port ${r.from_port}` });
  });

const input = z
  .object({
    security_group: z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'a security group id (sg-…) your project owns'),
    add: z.array(rule).max(20).default([]),
    remove: z.array(rule).max(20).default([]),
    reason: humanReason('why this change is needed; the human who approves reads it'),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.add.length + a.remove.length === 0)
      ctx.addIssue({ code: 'custom', path: ['add'], message: 'nothing to change: give add and/or remove' });
  });

const output = z.object({
  security_group: z.string(),
  added: z.number(),
  removed: z.number(),
  rules: z.array(z.record(z.string(), z.unknown())),
});

async function readGroup(aws: AgentAws, id: string) {
  try {
    const out = await aws.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [id] }));
    const sg = out.SecurityGroups?.[0];
    if (!sg) throw new Refusal(`security_group ${id}: not found`);
    return sg;
  } catch (e) {
    if ((e as Error).name === 'InvalidGroup.NotFound') throw new Refusal(`security_group ${id}: not found in this account and region`);
    throw e;
  }
}

function steps(sg: string, add: SgRule[], remove: SgRule[]): RuleStep[] {
  const out: RuleStep[] = [];
  for (const [verb, list] of [
    ['Revoke', remove],
    ['Authorize', add],
  ] as const)
    for (const dir of ['ingress', 'egress'] as const) {
      const rules = list.filter((r) => r.direction === dir);
      if (rules.length) out.push({ action: `ec2:${verb}SecurityGroup${dir === 'ingress' ? 'Ingress' : 'Egress'}`, group: sg, rules });
    }
  return out;
}

const params = z.object({ steps: z.array(ruleStep) }).strict();

export const proposeSecurityChange = defineTool({
  name,
  title: 'Propose a security-group change',
  description:
    'Proposes adding or removing rules on a security group your project owns. Never runs by itself: a human sees the current rules, the exact diff and a risk analysis (world-open admin or database ports, wide ranges) and approves or rejects it. Poll with get_proposal.',
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  params,
  iam: {
    read: ['ec2:DescribeSecurityGroups'],
    approver: [
      'ec2:AuthorizeSecurityGroupIngress',
      'ec2:AuthorizeSecurityGroupEgress',
      'ec2:RevokeSecurityGroupIngress',
      'ec2:RevokeSecurityGroupEgress',
    ],
  },
  lockKey: (args) => `sg:${args.security_group}`,
  reasonOf: (args) => args.reason,
  async plan(args, { aws }) {
    const sg = await readGroup(aws, args.security_group);
    const region = await aws.ec2.config.region();
    const current = rulesOf(sg);
    const have = new Set(current.map(ruleKey));
    const add = (args.add as SgRule[]).filter((r) => !have.has(ruleKey(r)));
    const remove = (args.remove as SgRule[]).filter((r) => have.has(ruleKey(r)));
    const already = (args.add as SgRule[]).filter((r) => have.has(ruleKey(r))).map(ruleKey);
    const absent = (args.remove as SgRule[]).filter((r) => !have.has(ruleKey(r))).map(ruleKey);
    if (add.length + remove.length === 0)
      throw new Refusal(
        `nothing to change on ${args.security_group}: ${[...already.map((k) => `already present: ${k}`), ...absent.map((k) => `not present: ${k}`)].join('; ')}`,
      );
    const analysis = add.flatMap((r) => analyse(r).map((note) => `${ruleKey(r)}: ${note}`));
    return {
      tool: name,
      summary: `security group ${args.security_group} (${sg.GroupName}): add ${add.length}, remove ${remove.length} rule(s)${analysis.some((a) => a.includes('DANGER')) ? ' — DANGER flagged' : ''}`,
      mutating: true,
      operations: steps(args.security_group, add, remove).map(ruleOperation),
      resources: [
        {
          arn: `arn:aws:ec2:${region}:${sg.OwnerId ?? accountOf(aws.session.assumedRoleArn)}:security-group/${sg.GroupId}`,
          change: 'modify',
          tags: Object.fromEntries((sg.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
        },
      ],
      tagsToSet: {},
      costDeltaUsdMonth: 0,
      riskFlags: ['security_group'],
      rollback: steps(args.security_group, remove, add).map(ruleOperation),
      preconditions: { current_rules: current.map((r) => ({ ...r })), analysis, already_present: already, not_present: absent },
      params: { steps: steps(args.security_group, add, remove) },
    };
  },
  execute: (plan, args, { aws }) => applySteps(plan.params.steps, args.security_group, aws, applyRuleStep),
  /** After a crash: the approved diff is finished, sending only the rules the group does not show yet. */
  async recover(plan, args, { aws }) {
    const sent = await applySteps(plan.params.steps, args.security_group, aws, applyRuleStepAgain);
    const planned = { added: 0, removed: 0 };
    for (const step of plan.params.steps) planned[step.action.includes('Authorize') ? 'added' : 'removed'] += step.rules.length;
    return {
      outcome: 'completed' as const,
      result: { ...sent, ...planned },
      why: `finished the approved rule change on ${args.security_group} after a restart (${sent.added + sent.removed} of ${planned.added + planned.removed} rule(s) were still to send)`,
    };
  },
  desired: (plan, out) => rulesDesired(plan, out.rules as unknown as SgRule[]),
  summarize: (o) => `${o.security_group}: added ${o.added}, removed ${o.removed}; ${o.rules.length} rule(s) now`,
});

/** Runs each step with `send`, then reads the group's rules as they are now. */
async function applySteps(
  steps: RuleStep[],
  group: string,
  aws: AgentAws,
  send: (aws: AgentAws, step: RuleStep) => Promise<number>,
): Promise<z.infer<typeof output>> {
  let added = 0;
  let removed = 0;
  for (const step of steps) {
    const n = await send(aws, step);
    if (step.action.includes('Authorize')) added += n;
    else removed += n;
  }
  const now = await readGroup(aws, group);
  return { security_group: group, added, removed, rules: rulesOf(now).map((r) => ({ ...r })) };
}
