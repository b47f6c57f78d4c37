// Runs one planned security-group operation (authorize or revoke, ingress or egress) with its exact rules.
import { AuthorizeSecurityGroupEgressCommand, AuthorizeSecurityGroupIngressCommand, RevokeSecurityGroupEgressCommand, RevokeSecurityGroupIngressCommand } from '@aws-sdk/client-ec2';
import type { AgentAws } from '../aws/clients.js';
import type { PlannedOperation } from '../guard/types.js';
import { toIpPermission, type SgRule } from './rules.js';

const OPS: Record<string, new (input: never) => object> = {
  'ec2:AuthorizeSecurityGroupIngress': AuthorizeSecurityGroupIngressCommand as never,
  'ec2:AuthorizeSecurityGroupEgress': AuthorizeSecurityGroupEgressCommand as never,
  'ec2:RevokeSecurityGroupIngress': RevokeSecurityGroupIngressCommand as never,
  'ec2:RevokeSecurityGroupEgress': RevokeSecurityGroupEgressCommand as never,
};

export const isRuleOperation = (action: string) => action in OPS;

/** Sends the operation; returns how many rules it carried. */
export async function applyRuleOperation(aws: AgentAws, op: PlannedOperation): Promise<number> {
  const Command = OPS[op.action];
  if (!Command) throw new Error(`not a security-group rule operation: ${op.action}`);
  const rules = (op.params as { rules: SgRule[] }).rules;
  await aws.ec2.send(new Command({ GroupId: op.target, IpPermissions: rules.map(toIpPermission) } as never) as never);
  return rules.length;
}
