// Creates the IAM roles a policy names (in the emulator or a sandbox account) so agents can assume them.
import { CreateRoleCommand, GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import type { Policy } from '../policy/schema.js';

export function rolesOf(policy: Policy): string[] {
  const arns = new Set<string>();
  for (const a of Object.values(policy.agents)) arns.add(a.role_arn);
  for (const p of Object.values(policy.projects)) if (p.approver_role_arn) arns.add(p.approver_role_arn);
  return [...arns];
}

/** Creates each role that does not exist yet, assumable (with session tags) by the account's principals. */
export async function ensureRoles(policy: Policy, iam = new IAMClient({})): Promise<string[]> {
  const created: string[] = [];
  for (const arn of rolesOf(policy)) {
    const [, , , , account, resource] = arn.split(':');
    const roleName = resource.split('/').pop() ?? resource;
    try {
      await iam.send(new GetRoleCommand({ RoleName: roleName }));
      continue;
    } catch (e) {
      if ((e as Error).name !== 'NoSuchEntity' && (e as Error).name !== 'NoSuchEntityException') throw e;
    }
    const trust = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: ['sts:AssumeRole', 'sts:TagSession'] },
      ],
    };
    await iam.send(new CreateRoleCommand({ RoleName: roleName, AssumeRolePolicyDocument: JSON.stringify(trust), Tags: [{ Key: 'ManagedBy', Value: 'aws-warden' }] }));
    created.push(arn);
  }
  return created;
}
