// Runs one planned security-group step (authorize or revoke, ingress or egress) with its exact rules.
import {
  DescribeSecurityGroupsCommand,
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import { z } from 'zod';
import type { AgentAws } from '../aws/clients.js';
import type { PlannedOperation } from '../guard/types.js';
import { ruleKey, rulesOf, toIpPermission, type SgRule } from './rules.js';

const RULE_ACTIONS = [
  'ec2:AuthorizeSecurityGroupIngress',
  'ec2:AuthorizeSecurityGroupEgress',
  'ec2:RevokeSecurityGroupIngress',
  'ec2:RevokeSecurityGroupEgress',
] as const;
type RuleAction = (typeof RULE_ACTIONS)[number];

export const isRuleOperation = (action: string): action is RuleAction => (RULE_ACTIONS as readonly string[]).includes(action);

/** A rule as a plan stores it (the same shape rulesOf reads from AWS). */
export const sgRule: z.ZodType<SgRule> = z
  .object({
    direction: z.enum(['ingress', 'egress']),
    protocol: z.enum(['tcp', 'udp', 'icmp', 'all']),
    from_port: z.number().int(),
    to_port: z.number().int(),
    cidr: z.string().optional(),
    ipv6_cidr: z.string().optional(),
    source_group: z.string().optional(),
    description: z.string().optional(),
  })
  .strict();

/** One step of a security-group change: what the executor sends, exactly. */
export const ruleStep = z.object({ action: z.enum(RULE_ACTIONS), group: z.string(), rules: z.array(sgRule) }).strict();
export type RuleStep = z.infer<typeof ruleStep>;

/** The operation a human reads for a step. */
export const ruleOperation = (s: RuleStep): PlannedOperation => ({ action: s.action, target: s.group, params: { rules: s.rules } });

/** Sends the step; returns how many rules it carried. */
export async function applyRuleStep(aws: AgentAws, step: RuleStep): Promise<number> {
  const input = { GroupId: step.group, IpPermissions: step.rules.map(toIpPermission) };
  switch (step.action) {
    case 'ec2:AuthorizeSecurityGroupIngress':
      await aws.ec2.send(new AuthorizeSecurityGroupIngressCommand(input));
      break;
    case 'ec2:AuthorizeSecurityGroupEgress':
      await aws.ec2.send(new AuthorizeSecurityGroupEgressCommand(input));
      break;
    case 'ec2:RevokeSecurityGroupIngress':
      await aws.ec2.send(new RevokeSecurityGroupIngressCommand(input));
      break;
    case 'ec2:RevokeSecurityGroupEgress':
      await aws.ec2.send(new RevokeSecurityGroupEgressCommand(input));
      break;
  }
  return step.rules.length;
}

/**
 * After a crash: sends only what of `step` the group does not show yet (an authorize whose rule is present, or a
 * revoke whose rule is gone, already happened), so running a step a second time never fails as a duplicate.
 * Returns the rules it still had to send.
 */
export async function applyRuleStepAgain(aws: AgentAws, step: RuleStep): Promise<number> {
  const out = await aws.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [step.group] }));
  const have = new Set(rulesOf(out.SecurityGroups?.[0] ?? {}).map(ruleKey));
  const authorize = step.action.includes('Authorize');
  const rules = step.rules.filter((r) => have.has(ruleKey(r)) !== authorize);
  return rules.length ? applyRuleStep(aws, { ...step, rules }) : 0;
}
