// The databases a human declared in the policy, found in RDS: unknown names and missing instances are refusals
// naming the field; the instance's tags go to the guard as they are now, so ownership decides.
import type { AgentAws } from '../aws/clients.js';
import type { AgentContext } from '../core/agent.js';
import { Refusal } from '../core/errors.js';
import type { TouchedResource } from '../guard/types.js';
import type { DatabasePolicy } from '../policy/schema.js';
import { readDatabase, type DatabaseState } from './rds.js';

export function databaseOf(agent: AgentContext, name: string): DatabasePolicy {
  const declared = agent.project.databases;
  if (!Object.hasOwn(declared, name))
    throw new Refusal(
      `database: "${name}" is not a database of ${agent.projectId} (declared: ${Object.keys(declared).join(', ') || 'none — a human declares them under databases: in the policy'})`,
    );
  return declared[name];
}

/** The declared database and its instance now, with the resource the guard judges. */
export async function declaredDatabase(
  aws: AgentAws,
  agent: AgentContext,
  name: string,
  change: TouchedResource['change'],
): Promise<{ policy: DatabasePolicy; state: DatabaseState; resource: TouchedResource; region: string }> {
  const policy = databaseOf(agent, name);
  const state = await readDatabase(aws, policy.identifier);
  if (!state) throw new Refusal(`database: ${name} (${policy.identifier}) is not in this account and region`);
  const region = await aws.rds.config.region();
  return { policy, state, region, resource: { arn: state.arn, change, tags: state.tags } };
}
