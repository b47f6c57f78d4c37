// The one path every tool call takes: audit → validate → tier → role → plan → guard+reserve+approve → execute → audit.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { AgentAws } from '../aws/clients.js';
import { describeAwsError } from '../aws/errors.js';
import { AssumeRoleError } from '../aws/session.js';
import { inCallScope, withApproval, WriteRefused } from '../aws/write-gate.js';
import { explain } from '../guard/decide.js';
import { tierRule } from '../guard/rules.js';
import type { Decision, GuardRequest, Plan } from '../guard/types.js';
import type { AuditRow, NewEvent } from '../store/audit.js';
import type { Store } from '../store/store.js';
import { notify, type Notice } from '../notify/notify.js';
import { approveAndRun } from '../proposals/run-approved.js';
import { isMutating, Refusal, RolledBack, settleExecution, type ToolContext, type ToolSpec } from '../tools/tool.js';
import { reviewTrust, withCurrentTier, type Incident } from '../trust/tiers.js';
import { issueMessage } from '../util/zod-issue.js';
import { windowRule } from '../guard/windows.js';
import { roleFor, type AgentContext } from './agent-context.js';
import { log } from './log.js';
import { decideAndRecord, type Gate } from './gate.js';
import { inputSchemaOf } from './tool-io.js';

export interface CallDeps {
  agent: AgentContext;
  aws: AgentAws;
  store: Store;
}

export interface CallExtras {
  signal: AbortSignal;
  progress: ToolContext['progress'];
  /**
   * Asks the person at the MCP client to approve (elicitation), when the client can; true only for an
   * explicit approval. Absent when the client cannot elicit: then escalations wait for wardenctl.
   */
  consent?: (message: string, planHash: string) => Promise<{ approved: boolean; who: string }>;
  /** The tools this server serves (an approved proposal runs with the same set). */
  tools?: readonly ToolSpec[];
  /** The worker runs a scheduled job at its window: it is not held for a window again. */
  scheduledJob?: string;
}

/** A lock outlives no call by much: a crashed holder frees it after this. */
const LOCK_TTL_MS = 30 * 60_000;
const LOCK_WAIT_MS = 60_000;

const errorResult = (text: string): CallToolResult => ({ isError: true, content: [{ type: 'text', text }] });

function okResult(summary: string, out: Record<string, unknown>): CallToolResult {
  return {
    content: [
      { type: 'text', text: summary },
      { type: 'text', text: JSON.stringify(out) },
    ],
    structuredContent: out,
  };
}

/** Zod's complaints, each naming its field: `set.ProjectId: tag key "ProjectId" is reserved …`. */
export function describeInputError(tool: string, error: z.ZodError): string {
  const lines = error.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join('.') : '(arguments)'}: ${issueMessage(i)}`);
  return `invalid arguments for ${tool}: ${lines.join('; ')}`;
}

export async function guardedCall(spec: ToolSpec, rawArgs: unknown, deps: CallDeps, extras: CallExtras): Promise<CallToolResult> {
  const { store, aws } = deps;
  // The tier in force now: a promotion or demotion since the server started applies to this very call.
  const agent = withCurrentTier(store, deps.agent);
  // …and its role: a tier the policy maps to a different IAM role is acted in as that role.
  aws.session.useRole(roleFor(agent));
  const review = (...incidents: Incident[]) => {
    try {
      reviewTrust(store, agent, incidents);
    } catch (e) {
      log.error(`trust review failed: ${(e as Error).message}`);
    }
  };
  const base = { agent: agent.id, project: agent.projectId, tool: spec.name };
  const record = (e: Omit<NewEvent, 'agent' | 'project' | 'tool'>): AuditRow => store.audit.append({ ...base, ...e });

  let requested: AuditRow;
  try {
    requested = record({ kind: 'requested', request: rawArgs ?? {} });
  } catch (e) {
    log.error(`audit append failed: ${(e as Error).message}`);
    return errorResult(
      `${spec.name} refused: the audit store cannot be written (${(e as Error).message}). No log, no action: nothing was done — tell a human`,
    );
  }

  /** Humans hear of rollbacks and escalations; a failure to record the notice never blocks the answer. */
  const tell = (n: Omit<Notice, 'project'>) => {
    try {
      notify(store, agent.project, { ...n, project: agent.projectId });
    } catch (e) {
      log.error(`notification failed: ${(e as Error).message}`);
    }
  };

  /** Records a refusal and answers the agent with it; if even that row cannot be written, the answer still goes out. */
  const refuse = (kind: 'denied' | 'failed', decision: object, message: string, extra: Partial<NewEvent> = {}) => {
    try {
      record({ kind, decision, follows: requested.id, roleArn: aws.session.assumedRoleArn ?? null, ...extra });
    } catch (e) {
      log.error(`audit append failed: ${(e as Error).message}`);
    }
    return errorResult(message);
  };

  const parsed = inputSchemaOf(spec).safeParse(rawArgs ?? {});
  if (!parsed.success) {
    const message = describeInputError(spec.name, parsed.error);
    const answer = refuse('denied', { outcome: 'deny', rule: 'input', reason: message }, message);
    // Naming a reserved tag is an attempt to step over the ownership boundary.
    if (/is reserved/.test(message)) review('boundary_escape');
    return answer;
  }
  const { dry_run: dryRun = false, ...args } = parsed.data as Record<string, unknown> & { dry_run?: boolean };

  const req: GuardRequest = {
    agent: agent.id,
    projectId: agent.projectId,
    project: agent.project,
    tierName: agent.tierName,
    tier: agent.tier,
    tool: spec.name,
  };
  // The tier rule runs before planning too, so a tool the tier does not grant never even reads AWS.
  const tier = tierRule(req);
  if (tier.outcome !== 'allow') {
    const d: Decision = { ...tier, checked: ['tier'] };
    return refuse('denied', d, `${spec.name} ${explain(d)}`);
  }

  // A change to an environment outside its deploy window is not refused: it waits for the window as a job.
  const env = isMutating(spec) && !dryRun && !extras.scheduledJob ? (spec.environmentOf?.(args, agent) ?? null) : null;
  const window = windowRule(agent.project.windows, env, store.clock());
  if (window.outcome === 'deny') return refuse('denied', window, `${spec.name} refused: ${window.reason}; nothing was done`);
  if (window.outcome === 'queue') return schedule(env as string, window.runAt, window.reason);

  // Every call, reads too, runs as the agent's own role; not being able to become it is a denial.
  try {
    await aws.session.credentials();
  } catch (e) {
    const why = e instanceof AssumeRoleError ? e.message : describeFailure(e, aws);
    return refuse('denied', { outcome: 'deny', rule: 'identity', reason: why }, `${spec.name} denied: ${why} — nothing was done; a human must fix the agent's role`);
  }

  const ctx: ToolContext = { agent, aws, store, signal: extras.signal, progress: extras.progress };
  const scope = { agent: agent.id, tool: spec.name, requestIds: [] as string[] };
  const lockKey = spec.lockKey?.(args, agent);
  let holder: string | null = null;
  if (lockKey) {
    try {
      holder = await store.locks.acquire(lockKey, LOCK_TTL_MS, LOCK_WAIT_MS);
    } catch (e) {
      return refuse('denied', { outcome: 'deny', rule: 'concurrency', reason: (e as Error).message }, `${spec.name} refused: cannot take the ${lockKey} lock (${(e as Error).message}); nothing was done`);
    }
    if (!holder)
      return refuse('denied', { outcome: 'deny', rule: 'concurrency', reason: `${lockKey} is busy` }, `${spec.name} refused: another change to ${lockKey} is still running after ${LOCK_WAIT_MS / 1000}s; retry when it finishes`);
  }
  try {
    return await inCallScope(scope, () => planAndRun());
  } finally {
    if (lockKey && holder) store.locks.release(lockKey, holder);
  }

  function schedule(env: string, at: Date, reason: string): CallToolResult {
    let job;
    try {
      job = store.transaction(() => {
        const row = record({ kind: 'escalated', follows: requested.id, decision: { outcome: 'schedule', rule: 'deploy_window', reason, run_at: at.toISOString() } });
        return { row, job: store.jobs.create({ project: agent.projectId, agent: agent.id, tool: spec.name, args: { ...args }, runAt: at, why: `deploy window of ${env}`, eventId: row.id }) };
      });
    } catch (e) {
      return errorResult(`${spec.name} refused: the job could not be written to the store (${(e as Error).message}); nothing was done`);
    }
    tell({ kind: 'scheduled', subject: `${agent.id}: ${spec.name} waits for ${env}'s window (${at.toISOString()})`, body: { job_id: job.job.id, run_at: at.toISOString(), args }, eventId: job.row.id });
    return okResult(
      `scheduled: ${spec.name} is held — ${reason}. Job ${job.job.id} runs then, with the full guard checked again; a human can cancel it with \`wardenctl schedule cancel ${job.job.id}\``,
      { status: 'scheduled', event_id: job.row.id, job_id: job.job.id, run_at: at.toISOString() },
    );
  }

  async function planAndRun(): Promise<CallToolResult> {
    let plan: Plan;
    try {
      plan = await spec.plan(args, ctx);
    } catch (e) {
      if (e instanceof Refusal)
        return refuse('denied', { outcome: 'deny', rule: e.rule, reason: e.message }, `${spec.name} ${e.rule === 'input' ? 'refused' : `denied by the ${e.rule} rule`}: ${e.message}`);
      const why = describeFailure(e, aws);
      return refuse('failed', { stage: 'plan' }, `${spec.name} failed while planning: ${why}`, { result: { error: why }, requestIds: scope.requestIds });
    }

    const roleArn = aws.session.assumedRoleArn ?? null;
    let gate: Gate;
    try {
      gate = decideAndRecord(store, { req, plan, agent, requestedId: requested.id, roleArn, dryRun, reason: spec.reasonOf?.(args), mutating: isMutating(spec), args });
    } catch (e) {
      log.error(`guard transaction failed: ${(e as Error).message}`);
      return errorResult(`${spec.name} refused: the decision could not be written to the audit store (${(e as Error).message}). No log, no action: nothing was done`);
    }
    const hash = gate.planHash;
    const deltaCents = gate.deltaCents;

    const d = gate.decision;
    if (gate.kind === 'refused') {
      const answer = refuse('denied', { ...d, plan_hash: hash }, `${spec.name} ${explain(d)}`, { request: plan });
      if (d.outcome === 'deny' && d.rule === 'ownership') review('boundary_escape');
      return answer;
    }
    if (gate.kind === 'planned') {
      const verdict = d.outcome === 'allow' ? 'would be allowed' : `would be ${explain(d)}`;
      const cost = plan.costDeltaUsdMonth === null ? 'unknown' : `$${plan.costDeltaUsdMonth.toFixed(2)}`;
      return okResult(`dry run: ${plan.summary} — ${verdict}; cost delta ${cost}/month`, { status: 'dry_run', event_id: gate.row.id, decision: d, plan });
    }
    if (gate.kind === 'proposed') {
      tell({ kind: 'proposal', subject: `${agent.id} proposes: ${plan.summary}`, body: { proposal_id: gate.proposalId, reason: d.outcome !== 'allow' ? d.reason : '', plan }, eventId: gate.row.id });
      const classes = d.outcome === 'escalate' ? (d.classes ?? []) : [];
      const consentable = classes.length > 0 && classes.every((c) => (agent.project.in_client_consent as string[]).includes(c));
      if (consentable && extras.consent) {
        const answer = await extras.consent(
          `${agent.id} asks to run: ${plan.summary}\nA human must approve because: ${d.outcome !== 'allow' ? d.reason : ''}\nPlan hash: ${hash}\nApprove exactly this plan?`,
          hash,
        );
        if (answer.approved) {
          try {
            const done = await approveAndRun(store, agent.policy, gate.proposalId, answer.who, 'approved in the MCP client', { tools: extras.tools });
            const result = spec.output.safeParse(done.result).success ? done.result : undefined;
            return okResult(`approved in the client by ${answer.who} and executed: ${plan.summary}`, {
              status: 'executed', event_id: gate.row.id, decision: d, plan, proposal_id: gate.proposalId, ...(result ? { result } : {}),
            });
          } catch (e) {
            return errorResult(`${spec.name}: approved in the client, but ${(e as Error).message}`);
          }
        }
      }
      return okResult(
        `pending approval: proposal ${gate.proposalId} — ${d.outcome !== 'allow' ? d.reason : ''}. A human decides with \`wardenctl proposals approve ${gate.proposalId}\`; nothing was executed yet — check back with get_proposal`,
        { status: 'pending_approval', event_id: gate.row.id, decision: d, plan, proposal_id: gate.proposalId },
      );
    }

    const approved = gate.row;
    if (extras.signal.aborted) {
      store.ledger.release(approved.id, 'cancelled before execution');
      return refuse('failed', { stage: 'execute' }, `${spec.name} cancelled before execution; nothing was done`, { follows: approved.id });
    }
    let out: Record<string, unknown>;
    try {
      out = spec.output.parse(await withApproval(approved.id, () => spec.execute(plan, args, ctx))) as Record<string, unknown>;
    } catch (e) {
      const why = describeFailure(e, aws);
      const rolledBack = e instanceof RolledBack;
      try {
        store.ledger.release(approved.id, `${rolledBack ? 'rolled back' : 'failed'}: ${why}`);
      } catch (err) {
        log.error(`ledger release of ${approved.id} failed: ${(err as Error).message}`);
      }
      if (rolledBack) {
        const result = { error: why, ...e.detail };
        try {
          store.audit.appendRolledBack({ ...base, approvalId: approved.id, ran: { operations: plan.operations.length, then: 'health check failed' }, decision: { stage: 'health' }, result, roleArn: aws.session.assumedRoleArn ?? null, requestIds: scope.requestIds });
        } catch (err) {
          log.error(`audit append failed: ${(err as Error).message}`);
        }
        const answer = errorResult(`${spec.name} ${why}`);
        tell({ kind: 'rolled_back', subject: `${spec.name} by ${agent.id} was rolled back`, body: result, eventId: approved.id });
        // Every rollback here followed a failed health check; one in prod is the graver incident.
        const prod = spec.environmentOf?.(args, agent) === 'prod';
        review(...(prod ? (['prod_rollback', 'health_failure'] as const) : (['health_failure'] as const)));
        return answer;
      }
      return refuse('failed', { stage: 'execute' }, `${spec.name} failed: ${why}`, { follows: approved.id, result: { error: why }, requestIds: scope.requestIds });
    }
    try {
      store.transaction(() => {
        settleExecution(store, { spec, plan, out, args, approvalId: approved.id, project: agent.projectId, agent: agent.id, deltaCents });
        record({ kind: 'executed', follows: approved.id, result: out, roleArn: aws.session.assumedRoleArn ?? roleArn, requestIds: scope.requestIds });
      });
    } catch (e) {
      // The action happened; say so rather than hide it. The approved row already records the intent.
      log.error(`recording the outcome of ${approved.id} failed: ${(e as Error).message}`);
    }
    if (isMutating(spec)) review();
    const structured = isMutating(spec) ? { status: 'executed', event_id: approved.id, decision: d, plan, result: out } : out;
    return okResult(spec.summarize(out), structured);
  }
}

function describeFailure(e: unknown, aws: AgentAws): string {
  if (e instanceof WriteRefused || e instanceof AssumeRoleError || e instanceof Refusal || e instanceof RolledBack) return e.message;
  if (e instanceof z.ZodError) return `internal error: result did not match the output schema (${e.issues[0]?.message})`;
  const command = (e as { wardenCommand?: string }).wardenCommand ?? 'an AWS call';
  return describeAwsError(e, command, aws.session.assumedRoleArn);
}
