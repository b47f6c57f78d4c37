// Resolves the server's identity (agent id from flags/env) against the policy: project, tier, role. Never from arguments.
import { AgentAws, type SendObserver } from '../aws/clients.js';
import { AgentSession } from '../aws/session.js';
import type { AgentPolicy, Policy, ProjectPolicy, TierPolicy } from '../policy/schema.js';
import type { Store } from '../store/store.js';

export interface AgentContext {
  id: string;
  projectId: string;
  project: ProjectPolicy;
  tierName: string;
  tier: TierPolicy;
  agent: AgentPolicy;
  policy: Policy;
}

export class IdentityError extends Error {
  override name = 'IdentityError';
}

export function resolveAgent(policy: Policy, agentId: string | undefined): AgentContext {
  if (!agentId) throw new IdentityError('no agent id: start the server with --agent ID or WARDEN_AGENT');
  const agent = policy.agents[agentId];
  if (!agent)
    throw new IdentityError(`agent "${agentId}" is not in the policy (known: ${Object.keys(policy.agents).join(', ') || '(none)'})`);
  return {
    id: agentId,
    projectId: agent.project,
    project: policy.projects[agent.project],
    tierName: agent.tier,
    tier: policy.tiers[agent.tier],
    agent,
    policy,
  };
}

/** The IAM role the agent acts as in the tier in force: the tier's own role if the policy maps one, else role_arn. */
export function roleFor(agent: AgentContext): string {
  return agent.agent.tier_roles[agent.tierName] ?? agent.agent.role_arn;
}

/** The agent's SDK clients: its own assumed role (per tier), writes gated on an open approval of this agent in `store`. */
export function awsFor(agent: AgentContext, store: Store, observe?: SendObserver): AgentAws {
  const session = new AgentSession({ agentId: agent.id, projectId: agent.projectId, roleArn: roleFor(agent), sessionSeconds: agent.agent.session_seconds });
  return new AgentAws(session, (id, who) => store.audit.isOpenApproval(id, who), observe);
}
