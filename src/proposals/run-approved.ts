// A human approves a proposal whose plan touches AWS: re-plan now under the project's approver role, refuse a
// stale plan, re-check the guard, then run exactly the stored plan once, audited in the same chain.
import { AgentAws, type SendObserver } from '../aws/clients.js';
import { AgentSession, AssumeRoleError } from '../aws/session.js';
import { inCallScope, withApproval } from '../aws/write-gate.js';
import { decide, explain } from '../guard/decide.js';
import { toCents } from '../guard/rules.js';
import type { GuardRequest, Plan } from '../guard/types.js';
import { notify } from '../notify/notify.js';
import type { Policy } from '../policy/schema.js';
import { resolveAgent } from '../server/agent-context.js';
import { canonicalJson } from '../store/canonical.js';
import type { Store } from '../store/store.js';
import { allTools } from '../tools/index.js';
import { Refusal, RolledBack, settleExecution, type ToolContext, type ToolSpec } from '../tools/tool.js';
import { approveProposal, loadPending, ProposalRefused, type Decided } from './approve.js';

export interface RunDeps {
  /** Observes the commands the approver's clients send (tests count them). */
  observe?: SendObserver;
  /** The tools a proposal may name (default: every registered tool). */
  tools?: readonly ToolSpec[];
}

const clip = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s);

/** Readable differences between two values: what appeared, what went, what changed, by path. */
function differences(path: string, a: unknown, b: unknown, out: string[]): void {
  if (canonicalJson(a ?? null) === canonicalJson(b ?? null)) return;
  if (Array.isArray(a) && Array.isArray(b)) {
    const as = new Set(a.map((x) => canonicalJson(x)));
    const bs = new Set(b.map((x) => canonicalJson(x)));
    const before = out.length;
    for (const x of bs) if (!as.has(x)) out.push(`${path}: now also ${clip(x)}`);
    for (const x of as) if (!bs.has(x)) out.push(`${path}: no longer ${clip(x)}`);
    if (out.length === before) out.push(`${path}: order or count changed`);
    return;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)]))
      differences(`${path}.${key}`, (a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], out);
    return;
  }
  out.push(`${path}: was ${clip(canonicalJson(a ?? null))}, now ${clip(canonicalJson(b ?? null))}`);
}

/** What moved between the plan the agent proposed and the plan the world gives now; null when nothing did. */
export function planDrift(proposed: Plan, now: Plan): string | null {
  const parts: string[] = [];
  for (const key of ['preconditions', 'resources', 'operations', 'costDeltaUsdMonth', 'capacity'] as const) differences(key, proposed[key], now[key], parts);
  return parts.length ? parts.slice(0, 8).join('; ') : null;
}

export async function approveAndRun(store: Store, policy: Policy, id: string, approver: string, comment: string | null, deps: RunDeps = {}): Promise<Decided> {
  const { p, plan } = loadPending(store, id);
  if (plan.operations.every((o) => o.action.startsWith('warden:'))) return approveProposal(store, id, approver, comment);
  const spec = (deps.tools ?? allTools).find((t) => t.name === p.tool);
  if (!spec) throw new ProposalRefused(`proposal ${id}: tool ${p.tool} is not in this version of aws-warden`);
  const agent = resolveAgent(policy, p.agent);
  if (agent.projectId !== p.project) throw new ProposalRefused(`proposal ${id}: agent ${p.agent} now belongs to project ${agent.projectId}, not ${p.project}`);
  const roleArn = agent.project.approver_role_arn;
  if (!roleArn) throw new ProposalRefused(`proposal ${id}: project ${p.project} has no approver_role_arn in the policy; approved plans run under that role, never the agent's`);
  const human = `human:${approver}`;
  const session = new AgentSession({ agentId: `approver-${approver}`, projectId: p.project, roleArn, sessionSeconds: 900 });
  const aws = new AgentAws(session, (eventId, who) => store.audit.isOpenApproval(eventId, who), deps.observe);
  const args = JSON.parse(p.args) as Record<string, unknown>;
  const ctx: ToolContext = { agent, aws, store, signal: new AbortController().signal, progress: async () => {} };
  const tell = (kind: 'approved' | 'failed' | 'rejected' | 'rolled_back', subject: string, body: Record<string, unknown>, eventId?: string) =>
    notify(store, agent.project, { project: p.project, kind, subject, body: { proposal_id: id, ...body }, eventId });

  return inCallScope({ agent: human, tool: p.tool, requestIds: [] }, async () => {
    try {
      await session.credentials();
    } catch (e) {
      throw new ProposalRefused(`proposal ${id}: ${e instanceof AssumeRoleError ? e.message : (e as Error).message}; nothing was done`);
    }
    // The world may have moved since the agent proposed: plan again and compare.
    let drift: string | null;
    try {
      drift = planDrift(plan, await spec.plan(args, ctx));
    } catch (e) {
      const now = store.proposals.get(id);
      if (now?.state !== 'pending') throw new ProposalRefused(`proposal ${id} was decided by ${now?.decided_by ?? 'someone else'} just now (${now?.state})`);
      if (!(e instanceof Refusal)) throw new ProposalRefused(`proposal ${id}: planning it again failed (${(e as Error).message}); nothing was done`);
      drift = `planning it again is refused now: ${e.message}`;
    }
    if (drift) {
      store.transaction(() => {
        if (!store.proposals.markStale(id, approver, drift)) throw new ProposalRefused(`proposal ${id} was decided by someone else just now`);
        store.audit.append({ kind: 'denied', agent: human, project: p.project, tool: p.tool, follows: p.event_id, decision: { outcome: 'deny', rule: 'stale', reason: drift, proposal: id } });
      });
      tell('rejected', `proposal ${id} is stale`, { reason: drift });
      throw new ProposalRefused(`proposal ${id} is stale and was not run: ${drift} — the agent must propose again`);
    }
    const req: GuardRequest = { agent: agent.id, projectId: agent.projectId, project: agent.project, tierName: agent.tierName, tier: agent.tier, tool: spec.name };
    const deltaCents = plan.costDeltaUsdMonth === null ? 0 : toCents(plan.costDeltaUsdMonth);
    const approved = store.transaction(() => {
      const d = decide(req, plan, { budget: store.ledger.facts(p.project, toCents(agent.project.budget_usd_month)) });
      // Escalation is what this human resolves; every other rule must still allow it now.
      if (d.outcome === 'deny') throw new ProposalRefused(`proposal ${id} cannot run now: ${explain(d)}`);
      if (!store.proposals.decide(id, 'approved', approver, comment)) throw new ProposalRefused(`proposal ${id} was decided by someone else just now`);
      const row = store.audit.append({
        kind: 'approved', agent: human, project: p.project, tool: p.tool, action: plan.operations.map((o) => o.action).join(' '),
        decision: { proposal: id, plan_hash: p.plan_hash, proposed_by: p.agent, comment, checked: d.checked }, request: plan,
        follows: p.event_id, roleArn: session.assumedRoleArn ?? null,
      });
      if (deltaCents > 0) store.ledger.reserve(row.id, p.project, p.agent, p.tool, deltaCents);
      return row;
    });
    let out: Record<string, unknown>;
    try {
      out = spec.output.parse(await withApproval(approved.id, () => spec.execute(plan, args, ctx))) as Record<string, unknown>;
    } catch (e) {
      const why = (e as Error).message;
      store.transaction(() => {
        store.ledger.release(approved.id, `approved plan failed: ${why}`);
        const base = { agent: human, project: p.project, tool: p.tool, result: { error: why } };
        if (e instanceof RolledBack) store.audit.appendRolledBack({ ...base, approvalId: approved.id, ran: { operations: plan.operations.length, then: 'health check failed' } });
        else store.audit.append({ ...base, kind: 'failed', follows: approved.id });
        store.proposals.finish(id, 'failed', { error: why });
      });
      tell('failed', `approved proposal ${id} failed`, { error: why }, approved.id);
      throw new ProposalRefused(`proposal ${id} was approved but failed: ${why}`);
    }
    store.transaction(() => {
      settleExecution(store, { spec, plan, out, args, approvalId: approved.id, project: p.project, agent: p.agent, deltaCents });
      store.audit.append({ kind: 'executed', agent: human, project: p.project, tool: p.tool, follows: approved.id, result: out, roleArn: session.assumedRoleArn ?? null });
      store.proposals.finish(id, 'executed', out);
    });
    tell('approved', `proposal ${id} approved by ${approver} and executed`, { result: out }, approved.id);
    return { proposal: store.proposals.get(id)!, result: out };
  });
}
