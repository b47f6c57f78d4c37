// Who the server acts for: the agent id from flags or environment, resolved against the policy. Never from arguments.
import {
  RATE_LIMIT_DEFAULTS,
  type AgentPolicy,
  type Policy,
  type ProjectPolicy,
  type RateLimitPolicy,
  type TierPolicy,
} from '../policy/schema.js';
import { IdentityError } from './errors.js';

export interface AgentContext {
  id: string;
  projectId: string;
  project: ProjectPolicy;
  tierName: string;
  tier: TierPolicy;
  agent: AgentPolicy;
  policy: Policy;
  /** Where the policy came from, when a server watches its file: the text's SHA-256, and why an edit was not taken. */
  policySource?: { sha256: string; loadedAt: string; problem: string | null };
}

export { IdentityError };

const own = <T>(map: Record<string, T>, key: string): T | undefined => (Object.hasOwn(map, key) ? map[key] : undefined);

export function resolveAgent(policy: Policy, agentId: string | undefined): AgentContext {
  if (!agentId) throw new IdentityError('no agent id: start the server with --agent ID or WARDEN_AGENT');
  const agent = own(policy.agents, agentId);
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
  return own(agent.agent.tier_roles, agent.tierName) ?? agent.agent.role_arn;
}

/** The agent's flood limits: its own fields over the policy's defaults over the built-in ones. */
export function rateLimitsOf(agent: AgentContext): RateLimitPolicy {
  return { ...RATE_LIMIT_DEFAULTS, ...agent.policy.rate_limits, ...agent.agent.rate_limits };
}
