// What an agent may ask to add to its own role (request_permission), and the statements a grant renders: exact
// actions on named resources of its own account, EC2 ones only on what its project's tag owns. Never IAM, STS role
// changes, Organizations, a wildcard, "*" as a resource, another account, or what only a human's approval may send.
import { createHash } from 'node:crypto';

/** Services an agent never gets a grant in, whatever it asks: they change who may do what. */
const NEVER_SERVICES: Record<string, string> = {
  iam: 'IAM changes are a human’s to make (wardenctl iam), never an agent’s',
  sts: 'an agent’s identity is the warden’s to assume; no other role is',
  organizations: 'account structure is never an agent’s',
  account: 'account settings are never an agent’s',
};

/** A statement a grant adds to an agent's role (policy.yaml agents.<id>.extra_statements). */
export interface GrantStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, string>>;
}

/**
 * What an agent's role always denies, whatever else it is granted: what only a human's approved plan may send
 * (security-group rules, network ACLs; each tool's iam.approver actions fall under these, a test checks it), IAM,
 * and bucket policies. src/iam/render.ts renders it into every agent role.
 */
export const NEVER_FOR_AGENTS = [
  'ec2:AuthorizeSecurityGroup*',
  'ec2:RevokeSecurityGroup*',
  'ec2:CreateNetworkAcl*',
  'ec2:DeleteNetworkAcl*',
  'ec2:ReplaceNetworkAcl*',
  'iam:*',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
];

/** The entry of `never` that denies `action`, if any. */
export const deniedBy = (action: string, never: readonly string[] = NEVER_FOR_AGENTS) =>
  never.find((n) => (n.endsWith('*') ? action.startsWith(n.slice(0, -1)) : action === n));

export interface Problem {
  path: (string | number)[];
  message: string;
}

const ACTION = /^([a-z0-9-]+):([A-Za-z0-9]+)$/;

/** Why each action or resource cannot be granted to an agent of `account`; empty when all can. */
export function permissionProblems(
  actions: readonly string[],
  resources: readonly string[],
  account: string,
  never: readonly string[] = NEVER_FOR_AGENTS,
): Problem[] {
  const out: Problem[] = [];
  actions.forEach((a, i) => {
    const at = ['actions', i];
    if (a.includes('*')) return void out.push({ path: at, message: `"${a}": name each action exactly; wildcards are never granted` });
    const m = ACTION.exec(a);
    if (!m) return void out.push({ path: at, message: `"${a}" is not an action (service:Action, e.g. ec2:DescribeVolumes)` });
    const why = NEVER_SERVICES[m[1]];
    if (why) return void out.push({ path: at, message: `"${a}" is refused: ${why}` });
    const deny = deniedBy(a, never);
    if (deny)
      out.push({ path: at, message: `"${a}" is refused: agents are denied ${deny} outright; only a human's approved plan sends it` });
  });
  const servicesOf = new Set(resources.map((r) => r.split(':')[2]));
  actions.forEach((a, i) => {
    const m = ACTION.exec(a);
    if (m && !out.some((p) => p.path[0] === 'actions' && p.path[1] === i) && !servicesOf.has(m[1]))
      out.push({ path: ['actions', i], message: `"${a}" has no ${m[1]} resource to apply to; name one in resources` });
  });
  resources.forEach((r, i) => {
    const at = ['resources', i];
    if (r === '*' || /^arn:[^:]*:[^:]*:[^:]*:[^:]*:\*$/.test(r))
      return void out.push({ path: at, message: `"${r}": name the resources; "*" is never granted` });
    const parts = r.split(':');
    if (parts.length < 6 || parts[0] !== 'arn' || !/^aws[a-z-]*$/.test(parts[1]) || !/^[a-z0-9-]+$/.test(parts[2]))
      return void out.push({ path: at, message: `"${r}" is not an ARN (arn:aws:service:region:account:resource)` });
    if (NEVER_SERVICES[parts[2]]) return void out.push({ path: at, message: `"${r}" is refused: ${NEVER_SERVICES[parts[2]]}` });
    if (parts[4] !== '' && parts[4] !== account)
      out.push({ path: at, message: `"${r}" is in account ${parts[4]}; an agent is granted only resources of its own account ${account}` });
    else if (parts[4] === '' && parts[2] !== 's3')
      out.push({ path: at, message: `"${r}" names no account; give this account's id (${account})` });
  });
  return out;
}

const tagOwned = { StringEquals: { 'aws:ResourceTag/ProjectId': '${aws:PrincipalTag/ProjectId}' } };

/**
 * The statements a grant adds to the agent's role: one per service, EC2's only on resources its project's tag owns.
 * Sids are stable (a hash of the grant), so applying one twice adds it once.
 */
export function grantStatements(actions: readonly string[], resources: readonly string[]): GrantStatement[] {
  const services = [...new Set(actions.map((a) => a.split(':')[0]))].sort();
  return services.map((service) => {
    const Action = [...new Set(actions.filter((a) => a.startsWith(`${service}:`)))].sort();
    const Resource = [...new Set(resources.filter((r) => r.split(':')[2] === service))].sort();
    const id = createHash('sha256')
      .update(JSON.stringify([Action, Resource]))
      .digest('hex')
      .slice(0, 10);
    return {
      Sid: `Granted${service.replace(/[^a-z0-9]/g, '')}${id}`,
      Effect: 'Allow' as const,
      Action,
      Resource,
      ...(service === 'ec2' ? { Condition: tagOwned } : {}),
    };
  });
}
