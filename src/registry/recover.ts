// Recovery: an approval whose process died before recording its outcome is settled through the same run and settle
// stages, by the tool's own recovery step (which finds what AWS holds for that event) under that approval's permit.
import type { AgentAws } from '../aws/clients.js';
import { permitFor } from '../aws/permit.js';
import { inCallScope, withPermit } from '../aws/write-gate.js';
import { resolveAgent, type AgentContext } from '../core/agent.js';
import { RolledBack } from '../core/errors.js';
import { toCents } from '../guard/rules.js';
import type { Decision, Plan } from '../guard/types.js';
import type { Policy } from '../policy/schema.js';
import type { AuditRow } from '../store/audit.js';
import type { Store } from '../store/store.js';
import { allTools } from '../tools/index.js';
import type { ToolSpec } from '../tools/tool.js';
import { approverAws, portsFor } from './agent-aws.js';
import { Call } from './call.js';
import type { Outcome } from './outcome.js';
import { checkedPlan, runAndSettle } from './run.js';
import { inputSchemaOf } from './tool-io.js';

export interface RecoveryReport {
  approval: string;
  tool: string;
  outcome: 'completed' | 'undone' | 'skipped' | 'failed';
  why: string;
}

/** Every open approval of `agent` whose tool can recover, not held by a live process: completed or undone now. */
export async function recoverOpenApprovals(
  store: Store,
  agent: AgentContext,
  aws: AgentAws,
  tools: readonly ToolSpec[] = allTools,
): Promise<RecoveryReport[]> {
  const reports: RecoveryReport[] = [];
  for (const row of store.audit.openApprovals(agent.id)) {
    const spec = tools.find((t) => t.name === row.tool);
    if (!spec?.recover) continue;
    const requested = row.follows ? store.audit.get(row.follows) : undefined;
    const parsedArgs = inputSchemaOf(spec).safeParse(JSON.parse(requested?.request ?? '{}'));
    if (!parsedArgs.success) {
      reports.push({ approval: row.id, tool: row.tool, outcome: 'skipped', why: 'its arguments no longer parse' });
      continue;
    }
    const { dry_run: _dry, ...args } = parsedArgs.data as Record<string, unknown> & { dry_run?: boolean };
    reports.push(await recoverLocked(new Call(spec, store, agent, aws, agent.id), row, args));
  }
  return reports;
}

/**
 * Every approval a human gave (wardenctl proposals approve) whose process died before the outcome: settled the same
 * way, under the project's approver role and in that human's name, and its proposal finished.
 */
export async function recoverApprovedProposals(
  store: Store,
  policy: Policy,
  tools: readonly ToolSpec[] = allTools,
): Promise<RecoveryReport[]> {
  const reports: RecoveryReport[] = [];
  for (const row of store.audit.openHumanApprovals()) {
    const spec = tools.find((t) => t.name === row.tool);
    if (!spec?.recover) continue;
    const skip = (why: string) => reports.push({ approval: row.id, tool: row.tool, outcome: 'skipped', why });
    const proposalId = (JSON.parse(row.decision ?? '{}') as { proposal?: string }).proposal;
    const p = proposalId ? store.proposals.get(proposalId) : undefined;
    if (!p) {
      skip('its proposal is not in the store');
      continue;
    }
    let agent: AgentContext;
    try {
      agent = resolveAgent(policy, p.agent);
    } catch (e) {
      skip((e as Error).message);
      continue;
    }
    const roleArn = agent.project.approver_role_arn;
    if (agent.projectId !== p.project || !roleArn) {
      skip(`project ${p.project} has no approver role for ${p.agent} in the policy now`);
      continue;
    }
    const aws = approverAws(row.agent.replace(/^human:/, ''), p.project, roleArn, store);
    reports.push(
      await recoverLocked(new Call(spec, store, agent, aws, row.agent), row, JSON.parse(p.args) as Record<string, unknown>, p.id),
    );
  }
  return reports;
}

/** Takes the tool's lock (a live process running this change holds it; a dead one's is taken over), then recovers. */
async function recoverLocked(call: Call, row: AuditRow, args: Record<string, unknown>, proposalId?: string): Promise<RecoveryReport> {
  const { spec, agent } = call;
  try {
    // Only the tool's lock tells a change a live process is running from one a dead process left: no lock, no recovery.
    const key = spec.lockKey?.(args as never, agent);
    if (!key)
      return {
        approval: row.id,
        tool: row.tool,
        outcome: 'skipped',
        why: `${spec.name} takes no lock, so a running change cannot be told apart`,
      };
    const stored = JSON.parse(row.request ?? '{}') as Plan;
    // The plan's own locks too (a drift repair holds the service's): what the dead process held, the recovery holds.
    for (const k of [key, ...(stored.locks ?? [])])
      if (await call.lock(k)) return { approval: row.id, tool: row.tool, outcome: 'skipped', why: `${k} is held by a running process` };
    return await recoverOne(call, spec, row.id, stored, args, JSON.parse(row.decision ?? '{}') as Decision, proposalId);
  } finally {
    call.unlock();
  }
}

async function recoverOne(
  call: Call,
  spec: ToolSpec,
  approvalId: string,
  stored: Plan,
  args: Record<string, unknown>,
  decision: Decision,
  proposalId?: string,
): Promise<RecoveryReport> {
  const { store, agent, aws } = call;
  const base = { approval: approvalId, tool: spec.name };
  let plan: Plan;
  try {
    plan = checkedPlan(spec, stored);
  } catch (e) {
    return { ...base, outcome: 'skipped', why: (e as Error).message };
  }
  const ctx = {
    agent,
    aws,
    ports: portsFor(store, agent.projectId, agent.project),
    signal: new AbortController().signal,
    progress: async () => {},
    approvalId,
  };
  const recover = spec.recover!;
  let why = '';
  const outcome: Outcome = await inCallScope({ agent: call.actor, tool: spec.name, requestIds: call.requestIds }, () =>
    runAndSettle(
      call,
      {
        row: { id: approvalId } as never,
        plan,
        args,
        deltaCents: plan.costDeltaUsdMonth === null ? 0 : toCents(plan.costDeltaUsdMonth),
        decision,
        proposalId,
      },
      ctx,
      () =>
        withPermit(permitFor(approvalId, agent.projectId, plan), async () => {
          const r = await recover(plan, args, ctx);
          why = r.why;
          if (r.outcome === 'completed') return r.result;
          throw new RolledBack(
            r.outcome === 'undone' ? `was interrupted and undone after a restart: ${r.why}` : `could not be recovered: ${r.why}`,
            r.outcome === 'undone' ? r.detail : {},
            'interrupted',
          );
        }),
    ),
  );
  return {
    ...base,
    outcome: outcome.status === 'executed' ? 'completed' : outcome.status === 'rolled_back' ? 'undone' : 'failed',
    why: why || ('message' in outcome ? outcome.message : ''),
  };
}
