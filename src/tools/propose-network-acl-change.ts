// propose_network_acl_change: the agent may only suggest network ACL entries; a human approves the exact diff.
import { z } from 'zod';
import { accountOf } from '../aws/arn.js';
import type { AgentAws } from '../aws/clients.js';
import { Refusal } from '../core/errors.js';
import {
  aclOperation,
  aclStep,
  analyseAcl,
  applyAclStep,
  applyAclStepAgain,
  describeEntry,
  entriesOf,
  readAcl,
  sameEntry,
  slotOf,
  type AclEntry,
  type AclStep,
} from '../security/acl.js';
import { ipv4Cidr, ipv6Cidr } from '../security/cidr.js';
import { defineTool, humanReason } from './tool.js';

export const name = 'propose_network_acl_change';

const ruleNumber = z
  .number()
  .int()
  .min(1)
  .max(32766, "1-32766: #32767 is AWS's default deny and cannot be changed")
  .describe('1-32766; AWS evaluates the lowest number first');

const entry = z
  .object({
    rule_number: ruleNumber,
    egress: z.boolean().default(false).describe('false: inbound (default); true: outbound'),
    protocol: z.enum(['tcp', 'udp', 'icmp', 'all']).describe('all = every protocol and port'),
    from_port: z.number().int().min(-1).max(65535).default(-1).describe('tcp/udp: first port; icmp: type (-1 all)'),
    to_port: z.number().int().min(-1).max(65535).default(-1).describe('tcp/udp: last port; icmp: code (-1 all)'),
    cidr: ipv4Cidr.optional(),
    ipv6_cidr: ipv6Cidr.optional(),
    action: z.enum(['allow', 'deny']),
  })
  .strict()
  .superRefine((e, ctx) => {
    if ([e.cidr, e.ipv6_cidr].filter(Boolean).length !== 1)
      ctx.addIssue({ code: 'custom', path: ['cidr'], message: 'give exactly one of cidr or ipv6_cidr' });
    if ((e.protocol === 'tcp' || e.protocol === 'udp') && (e.from_port < 0 || e.to_port < 0))
      ctx.addIssue({ code: 'custom', path: ['from_port'], message: `${e.protocol} ports are 0-65535` });
    if ((e.protocol === 'tcp' || e.protocol === 'udp') && e.from_port > e.to_port)
      ctx.addIssue({ code: 'custom', path: ['to_port'], message: `to_port ${e.to_port} is below from_port ${e.from_port}` });
  });

const slot = z.object({ rule_number: ruleNumber, egress: z.boolean().default(false) }).strict();

const input = z
  .object({
    network_acl: z
      .string()
      .regex(/^acl-[0-9a-f]{8,17}$/, 'a network ACL id (acl-…) your project owns')
      .describe('the id (acl-…) of a network ACL your project owns (tagged ProjectId)'),
    add: z.array(entry).max(20).default([]),
    remove: z.array(slot).max(20).default([]).describe('entries to remove, by rule number and direction'),
    reason: humanReason('why this change is needed; the human who approves reads it'),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.add.length + a.remove.length === 0)
      ctx.addIssue({ code: 'custom', path: ['add'], message: 'nothing to change: give add and/or remove' });
    for (const [field, list] of [
      ['add', a.add],
      ['remove', a.remove],
    ] as const) {
      const seen = new Set<string>();
      list.forEach((e, i) => {
        if (seen.has(slotOf(e))) ctx.addIssue({ code: 'custom', path: [field, i, 'rule_number'], message: `${slotOf(e)} is given twice` });
        seen.add(slotOf(e));
      });
    }
  });

const output = z.object({
  network_acl: z.string(),
  added: z.number(),
  removed: z.number(),
  entries: z.array(z.record(z.string(), z.unknown())),
});

const params = z.object({ steps: z.array(aclStep) }).strict();

/** The ACL as it stands, refused unless it exists here. */
async function acl(aws: AgentAws, id: string) {
  const found = await readAcl(aws, id);
  if (!found) throw new Refusal(`network_acl ${id}: not found in this account and region`);
  return found;
}

const asEntry = (e: z.infer<typeof entry>): AclEntry => ({
  rule_number: e.rule_number,
  egress: e.egress,
  protocol: e.protocol,
  from_port: e.protocol === 'all' ? -1 : e.from_port,
  to_port: e.protocol === 'all' ? -1 : e.to_port,
  ...(e.cidr ? { cidr: e.cidr } : {}),
  ...(e.ipv6_cidr ? { ipv6_cidr: e.ipv6_cidr } : {}),
  action: e.action,
});

export const proposeNetworkAclChange = defineTool({
  name,
  title: 'Propose a network ACL change',
  description:
    'Proposes adding or removing entries of a network ACL your project owns. Never runs by itself: a human sees the current entries, the exact diff and an analysis (world-open admin or database ports, an entry a lower rule number shadows) and approves or rejects it; the approval re-reads the ACL and refuses a stale plan. Poll with get_proposal.',
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  params,
  iam: { read: ['ec2:DescribeNetworkAcls'], approver: ['ec2:CreateNetworkAclEntry', 'ec2:DeleteNetworkAclEntry'] },
  lockKey: (args) => `nacl:${args.network_acl}`,
  reasonOf: (args) => args.reason,
  async plan(args, { aws }) {
    const found = await acl(aws, args.network_acl);
    const region = await aws.ec2.config.region();
    const current = entriesOf(found);
    const at = (s: { rule_number: number; egress: boolean }) => current.find((e) => slotOf(e) === slotOf(s));
    const removes = args.remove.map((s, i) => {
      const there = at(s);
      if (!there) throw new Refusal(`remove.${i}: ${args.network_acl} has no ${slotOf(s)}`);
      return there;
    });
    const freed = new Set(removes.map(slotOf));
    const already: string[] = [];
    const adds = args.add.map(asEntry).filter((e, i) => {
      const there = at(e);
      if (!there || freed.has(slotOf(e))) return true;
      if (!sameEntry(there, e))
        throw new Refusal(
          `add.${i}.rule_number: ${slotOf(e)} of ${args.network_acl} is taken (${describeEntry(there)}); remove it in the same change or pick a free number`,
        );
      already.push(describeEntry(e));
      return false;
    });
    if (adds.length + removes.length === 0)
      throw new Refusal(`nothing to change on ${args.network_acl}: already present: ${already.join('; ')}`);
    const after = [...current.filter((e) => !freed.has(slotOf(e))), ...adds];
    const analysis = analyseAcl(after, adds);
    const steps: AclStep[] = [
      ...removes.map((e) => ({ action: 'ec2:DeleteNetworkAclEntry' as const, acl: args.network_acl, entry: e })),
      ...adds.map((e) => ({ action: 'ec2:CreateNetworkAclEntry' as const, acl: args.network_acl, entry: e })),
    ];
    // Undo: delete what was created, then put back what was removed.
    const undo: AclStep[] = [
      ...adds.map((e) => ({ action: 'ec2:DeleteNetworkAclEntry' as const, acl: args.network_acl, entry: e })),
      ...removes.map((e) => ({ action: 'ec2:CreateNetworkAclEntry' as const, acl: args.network_acl, entry: e })),
    ];
    return {
      tool: name,
      summary: `network ACL ${args.network_acl}: add ${adds.length}, remove ${removes.length} entr${adds.length + removes.length === 1 ? 'y' : 'ies'}${analysis.some((a) => a.includes('DANGER')) ? ' — DANGER flagged' : ''}`,
      mutating: true,
      operations: steps.map(aclOperation),
      resources: [
        {
          arn: `arn:aws:ec2:${region}:${found.OwnerId ?? accountOf(aws.session.assumedRoleArn)}:network-acl/${found.NetworkAclId}`,
          change: 'modify',
          tags: Object.fromEntries((found.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
        },
      ],
      tagsToSet: {},
      costDeltaUsdMonth: 0,
      riskFlags: ['nacl'],
      rollback: undo.map(aclOperation),
      preconditions: { current_entries: current.map(describeEntry), analysis, already_present: already },
      params: { steps },
    };
  },
  async execute(plan, args, { aws }) {
    for (const step of plan.params.steps) await applyAclStep(aws, step);
    return result(plan.params.steps, args.network_acl, aws);
  },
  /** After a crash: the approved diff is finished, each step sent only if the ACL does not show it done. */
  async recover(plan, args, { aws }) {
    const creates = plan.params.steps.filter((s) => s.action === 'ec2:CreateNetworkAclEntry').map((s) => s.entry);
    let sent = 0;
    for (const step of plan.params.steps) if (await applyAclStepAgain(aws, step, creates)) sent++;
    return {
      outcome: 'completed' as const,
      result: await result(plan.params.steps, args.network_acl, aws),
      why: `finished the approved change of ${args.network_acl} after a restart (${sent} of ${plan.params.steps.length} step(s) were still to send)`,
    };
  },
  summarize: (o) =>
    `${o.network_acl}: added ${o.added}, removed ${o.removed}; ${o.entries.length} entr${o.entries.length === 1 ? 'y' : 'ies'} now`,
});

async function result(steps: AclStep[], id: string, aws: AgentAws): Promise<z.infer<typeof output>> {
  return {
    network_acl: id,
    added: steps.filter((s) => s.action === 'ec2:CreateNetworkAclEntry').length,
    removed: steps.filter((s) => s.action === 'ec2:DeleteNetworkAclEntry').length,
    entries: entriesOf(await acl(aws, id)).map((e) => ({ ...e })),
  };
}
