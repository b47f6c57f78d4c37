// A human approves a permission an agent asked for (request_permission): checked again against the rules, written
// into policy.yaml (agents.<id>.extra_statements, comments kept), put on the agent's roles with the operator's own
// credentials (the approver role may never touch IAM), and only then recorded: approval and outcome in one
// transaction. Each step is safe to repeat, so an approval interrupted before its record is finished by approving again.
import type { IAMClient } from '@aws-sdk/client-iam';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { applyPermissions, assertRolesExist } from '../iam/apply.js';
import { renderAgentRoles } from '../iam/render.js';
import { addGrants } from '../policy/edit.js';
import { permissionProblems, type GrantStatement } from '../policy/grants.js';
import { parsePolicy } from '../policy/load.js';
import type { Store } from '../store/store.js';
import { approveProposal, loadPending, ProposalRefused, refusedApproval, type Decided } from './approve.js';
import { recordExpiries } from './expire.js';

export async function approveGrant(
  store: Store,
  policyFile: string,
  knownTools: readonly string[],
  id: string,
  approver: string,
  comment: string | null,
  iam: IAMClient,
): Promise<Decided> {
  recordExpiries(store, undefined);
  try {
    return await grant(store, policyFile, knownTools, id, approver, comment, iam);
  } catch (e) {
    if (e instanceof ProposalRefused) refusedApproval(store, id, approver, 'approve', e);
    throw e;
  }
}

type GrantArgs = Parameters<typeof approveGrant>;

async function grant(...[store, policyFile, knownTools, id, approver, comment, iam]: GrantArgs): Promise<Decided> {
  const { p, plan } = loadPending(store, id);
  const [op, ...more] = plan.operations;
  if (op?.action !== 'warden:GrantPermission' || more.length)
    throw new ProposalRefused(`proposal ${id} is not a permission grant; approve it with wardenctl proposals approve`);
  const { agent, statements } = op.params as { agent: string; statements: GrantStatement[] };
  if (agent !== p.agent) throw new ProposalRefused(`proposal ${id}: its grant names ${agent}, but ${p.agent} asked for it — refused`);
  const text = readFileSync(policyFile, 'utf8');
  const policy = parsePolicy(text, policyFile, knownTools);
  const entry = Object.hasOwn(policy.agents, agent) ? policy.agents[agent] : undefined;
  if (entry?.project !== p.project)
    throw new ProposalRefused(`proposal ${id}: ${agent} is no longer an agent of ${p.project} in ${policyFile}`);
  // The rules as they stand now, not as they stood when the agent asked.
  const account = entry.role_arn.split(':')[4] ?? '';
  const problems = statements.flatMap((s) => permissionProblems(s.Action, s.Resource, account));
  if (problems.length) throw new ProposalRefused(`proposal ${id}: ${problems.map((x) => x.message).join('; ')} — refused`);

  // 1. The policy: the new text must parse whole before it replaces the old (never a half-written policy).
  const next = addGrants(text, agent, statements);
  const updated = parsePolicy(next, policyFile, knownTools);
  // 2. The roles, rendered from the policy as it will be; every one must exist before anything is written.
  const roles = renderAgentRoles(updated, agent, `arn:aws:iam::${account}:root`);
  try {
    await assertRolesExist(iam, roles);
  } catch (e) {
    throw new ProposalRefused(`proposal ${id}: ${(e as Error).message}; nothing was changed`);
  }
  if (next !== text) {
    const tmp = `${policyFile}.${process.pid}.tmp`;
    writeFileSync(tmp, next, { mode: 0o644 });
    renameSync(tmp, policyFile);
  }
  await applyPermissions(iam, roles);
  // 3. The record: approval and outcome together.
  return approveProposal(store, id, approver, comment, {
    'warden:GrantPermission': {
      agent,
      roles: roles.map((r) => r.roleArn),
      statements: statements.map((s) => s.Sid),
      policy_file: policyFile,
      applied_with: 'the operator credentials of wardenctl (the approver role is denied IAM)',
    },
  });
}
