// A human approves a proposal whose plan touches AWS, through the same stages as an agent's call: take the tool's lock,
// plan again under the project's approver role and refuse a stale plan, re-check the guard, record the approval, then
// run exactly the stored plan once under its permit and settle it (outcome, ledger, desired state, trust review).
import type { SendObserver } from '../aws/clients.js';
import { AssumeRoleError } from '../aws/session.js';
import { inCallScope } from '../aws/write-gate.js';
import { resolveAgent } from '../core/agent.js';
import { Refusal } from '../core/errors.js';
import { decide, explain } from '../guard/decide.js';
import { toCents } from '../guard/rules.js';
import type { Plan } from '../guard/types.js';
import type { Policy } from '../policy/schema.js';
import { approveProposal, loadPending, ProposalRefused, refusedApproval, type Decided } from '../proposals/approve.js';
import { recordExpiries } from '../proposals/expire.js';
import { canonicalJson } from '../util/canonical.js';
import type { Store } from '../store/store.js';
import { allTools } from '../tools/index.js';
import type { ToolContext, ToolSpec } from '../tools/tool.js';
import { approverAws, portsFor } from './agent-aws.js';
import { Call } from './call.js';
import { checkedPlan, runAndSettle } from './run.js';

export interface RunDeps {
  /** Observes the commands the approver's clients send (tests count them). */
  observe?: SendObserver;
  /** The tools a proposal may name (default: every registered tool). */
  tools?: readonly ToolSpec[];
  /** Locks the caller already holds for this change (in-client consent inside the agent's own call). */
  locksHeld?: ReadonlySet<string>;
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
  for (const key of ['preconditions', 'resources', 'operations', 'costDeltaUsdMonth', 'capacity', 'params'] as const)
    differences(key, proposed[key], now[key], parts);
  return parts.length ? parts.slice(0, 8).join('; ') : null;
}

export async function approveAndRun(
  store: Store,
  policy: Policy,
  id: string,
  approver: string,
  comment: string | null,
  deps: RunDeps = {},
): Promise<Decided> {
  // An expiry noticed now is recorded now, outside the transaction a refusal rolls back.
  recordExpiries(store, policy);
  try {
    return await approveOnce(store, policy, id, approver, comment, deps);
  } catch (e) {
    if (e instanceof ProposalRefused) refusedApproval(store, id, approver, 'approve', e);
    throw e;
  }
}

async function approveOnce(
  store: Store,
  policy: Policy,
  id: string,
  approver: string,
  comment: string | null,
  deps: RunDeps = {},
): Promise<Decided> {
  const { p, plan: stored } = loadPending(store, id);
  // Only a plan of warden: operations alone is applied in the store; one without operations still runs its tool (and writes nothing).
  if (stored.operations.length > 0 && stored.operations.every((o) => o.action.startsWith('warden:')))
    return approveProposal(store, id, approver, comment);
  const spec = (deps.tools ?? allTools).find((t) => t.name === p.tool);
  if (!spec) throw new ProposalRefused(`proposal ${id}: tool ${p.tool} is not in this version of aws-warden`);
  let plan: Plan;
  try {
    plan = checkedPlan(spec, stored);
  } catch (e) {
    throw new ProposalRefused(`proposal ${id}: ${(e as Error).message}`);
  }
  const agent = resolveAgent(policy, p.agent);
  if (agent.projectId !== p.project)
    throw new ProposalRefused(`proposal ${id}: agent ${p.agent} now belongs to project ${agent.projectId}, not ${p.project}`);
  const roleArn = agent.project.approver_role_arn;
  if (!roleArn)
    throw new ProposalRefused(
      `proposal ${id}: project ${p.project} has no approver_role_arn in the policy; approved plans run under that role, never the agent's`,
    );
  const aws = approverAws(approver, p.project, roleArn, store, deps.observe);
  const call = new Call(spec, store, agent, aws, `human:${approver}`);
  const args = JSON.parse(p.args) as Record<string, unknown>;
  const ctx: ToolContext = {
    agent,
    aws,
    ports: portsFor(store, agent.projectId, agent.project),
    signal: new AbortController().signal,
    progress: async () => {},
  };

  try {
    return await inCallScope({ agent: call.actor, tool: p.tool, requestIds: call.requestIds }, async () => {
      // The tool's own lock, as an agent's call of it takes: an approval never runs beside another change to the same thing.
      for (const key of [spec.lockKey?.(args as never, agent), ...(plan.locks ?? [])]) {
        if (!key) continue;
        const busy = await call.lock(key, deps.locksHeld);
        if (busy) throw new ProposalRefused(`proposal ${id}: ${busy}; nothing was done`);
      }
      try {
        await aws.session.credentials();
      } catch (e) {
        throw new ProposalRefused(`proposal ${id}: ${e instanceof AssumeRoleError ? e.message : (e as Error).message}; nothing was done`);
      }
      // The world may have moved since the agent proposed: plan again (under the lock) and compare.
      let drift: string | null;
      try {
        drift = planDrift(plan, await spec.plan(args, ctx));
      } catch (e) {
        const now = store.proposals.get(id);
        if (now?.state !== 'pending')
          throw new ProposalRefused(`proposal ${id} was decided by ${now?.decided_by ?? 'someone else'} just now (${now?.state})`);
        if (!(e instanceof Refusal))
          throw new ProposalRefused(`proposal ${id}: planning it again failed (${(e as Error).message}); nothing was done`);
        drift = `planning it again is refused now: ${e.message}`;
      }
      if (drift) {
        store.transaction(() => {
          if (!store.proposals.markStale(id, approver, drift))
            throw new ProposalRefused(`proposal ${id} was decided by someone else just now`);
          call.record({ kind: 'denied', follows: p.event_id, decision: { outcome: 'deny', rule: 'stale', reason: drift, proposal: id } });
        });
        call.tell({ kind: 'rejected', subject: `proposal ${id} is stale`, body: { proposal_id: id, reason: drift } });
        throw new ProposalRefused(`proposal ${id} is stale and was not run: ${drift} — the agent must propose again`, true);
      }
      const req = call.guardRequest;
      const deltaCents = plan.costDeltaUsdMonth === null ? 0 : toCents(plan.costDeltaUsdMonth);
      const { row, decision } = store.transaction(() => {
        const d = decide(req, plan, { budget: store.ledger.facts(p.project, toCents(agent.project.budget_usd_month)) });
        // Escalation is what this human resolves; every other rule must still allow it now.
        if (d.outcome === 'deny') throw new ProposalRefused(`proposal ${id} cannot run now: ${explain(d)}`);
        if (!store.proposals.decide(id, 'approved', approver, comment))
          throw new ProposalRefused(`proposal ${id} was decided by someone else just now`);
        const approved = call.record({
          kind: 'approved',
          action: plan.operations.map((o) => o.action).join(' '),
          decision: { proposal: id, plan_hash: p.plan_hash, proposed_by: p.agent, comment, checked: d.checked },
          request: plan,
          follows: p.event_id,
          roleArn: call.roleArn,
        });
        if (deltaCents > 0) store.ledger.reserve(approved.id, p.project, p.agent, p.tool, deltaCents);
        return { row: approved, decision: d };
      });
      const outcome = await runAndSettle(call, { row, plan, args, deltaCents, decision, proposalId: id }, ctx);
      if (outcome.status !== 'executed')
        throw new ProposalRefused(`proposal ${id} was approved but ${'message' in outcome ? outcome.message : outcome.status}`, true);
      return { proposal: store.proposals.get(id)!, result: outcome.result };
    });
  } finally {
    call.unlock();
  }
}
