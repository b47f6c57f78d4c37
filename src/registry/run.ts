// The run and settle stages, shared by every entry point: the executor under the approved plan's permit (reads under
// none), then the outcome row, ledger, desired state, proposal state, notifications and trust review.
import { z } from 'zod';
import { describeAwsError } from '../aws/errors.js';
import { permitFor } from '../aws/permit.js';
import { AssumeRoleError } from '../aws/session.js';
import { OwnershipLost, withPermit, WriteRefused } from '../aws/write-gate.js';
import { Refusal, RollbackIncomplete, RolledBack } from '../core/errors.js';
import { log } from '../core/log.js';
import type { Decision, Plan } from '../guard/types.js';
import type { AuditRow } from '../store/audit.js';
import { isMutating, type ToolContext, type ToolSpec } from '../tools/tool.js';
import type { Call } from './call.js';
import type { Outcome } from './outcome.js';

export interface Approved {
  row: AuditRow;
  plan: Plan;
  args: Record<string, unknown>;
  deltaCents: number;
  decision: Decision;
  /** Set when a human approved a proposal: its state follows the outcome. */
  proposalId?: string;
}

/** A plan read back from the store (a proposal, a job, a recovery) is checked against the tool's schema again. */
export function checkedPlan(spec: ToolSpec, plan: Plan): Plan {
  const params = spec.params.safeParse(plan.params);
  if (!params.success)
    throw new Refusal(
      `the stored plan's params do not match ${spec.name}'s plan schema (${params.error.issues[0]?.path.join('.')}: ${params.error.issues[0]?.message}); refused`,
      'plan',
    );
  return { ...plan, params: params.data };
}

/** Runs the executor: a mutating tool with exactly its plan's permit, a read-only tool with no write scope at all. */
export function execute(spec: ToolSpec, a: Approved, project: string, ctx: ToolContext): Promise<unknown> {
  const run = () => spec.execute(a.plan, a.args, ctx);
  return isMutating(spec) ? withPermit(permitFor(a.row.id, project, a.plan), run) : run();
}

/** Settles a run: success, rollback or failure, each with its rows, ledger and the humans told. */
export async function runAndSettle(
  call: Call,
  a: Approved,
  ctx: ToolContext,
  run: () => Promise<unknown> = () => execute(call.spec, a, call.agent.projectId, ctx),
): Promise<Outcome> {
  const { spec, store } = call;
  let out: Record<string, unknown>;
  try {
    out = spec.output.parse(await run()) as Record<string, unknown>;
  } catch (e) {
    return settleFailure(call, a, e);
  }
  // What stays on the record: the answer without the fields that go to the agent alone (a credential).
  const kept = withoutSecrets(spec, out);
  try {
    store.transaction(() => {
      const change = spec.ledger?.(a.plan, out);
      if (change || a.deltaCents > 0)
        store.ledger.settle(a.deltaCents > 0 ? a.row.id : null, call.agent.projectId, call.agent.id, change ?? { add: [], remove: [] });
      store.desired.apply(call.agent.projectId, a.row.id, spec.desired?.(a.plan, out, a.args));
      call.record({ kind: 'executed', follows: a.row.id, result: kept, roleArn: call.roleArn, requestIds: call.requestIds });
      if (a.proposalId) store.proposals.finish(a.proposalId, 'executed', kept);
    });
  } catch (e) {
    // The action happened; say so rather than hide it. The approved row records the intent, and stays open for the
    // recovery that can write to settle (the lock is released by the caller all the same).
    log.error(`recording the outcome of ${a.row.id} failed: ${(e as Error).message}`);
    return {
      status: 'failed',
      eventId: a.row.id,
      message: `${spec.name} ran (${spec.summarize(out)}) but its outcome could not be recorded in the audit store (${(e as Error).message}); approval ${a.row.id} stays open for recovery — tell a human to check the store before acting again`,
    };
  }
  if (a.proposalId)
    call.tell({
      kind: 'approved',
      subject: `proposal ${a.proposalId} approved by ${call.actor.replace(/^human:/, '')} and executed`,
      body: { proposal_id: a.proposalId, result: kept },
      eventId: a.row.id,
    });
  if (isMutating(spec)) call.review();
  return {
    status: 'executed',
    eventId: a.row.id,
    decision: a.decision,
    plan: a.plan,
    result: out,
    summary: spec.summarize(out),
    mutating: isMutating(spec),
    proposalId: a.proposalId,
  };
}

/**
 * A read-only tool's run, under no permit: its one row records the decision and a digest of the answer in one commit
 * after the read. No row, no answer: a read whose row cannot be written withholds what it read.
 */
export async function runRead(
  call: Call,
  a: { plan: Plan; args: Record<string, unknown>; decision: Decision; planHash: string },
  ctx: ToolContext,
): Promise<Outcome> {
  const { spec } = call;
  const decided = { ...a.decision, plan_hash: a.planHash };
  let out: Record<string, unknown>;
  try {
    out = spec.output.parse(await spec.execute(a.plan, a.args, ctx)) as Record<string, unknown>;
  } catch (e) {
    const why = describeFailure(e, call);
    const extra = { result: { error: why }, requestIds: call.requestIds };
    const cancelled = call.deadline?.signal.aborted ? null : call.cancelledBy;
    if (cancelled)
      return call.refuse(
        'cancelled',
        null,
        { ...decided, stage: 'execute', cancelled_by: cancelled.by, reason: cancelled.reason },
        `${spec.name} cancelled by ${cancelled.by} (${cancelled.reason}); it only read, so nothing needs undoing`,
        extra,
      );
    return call.refuse('failed', null, { ...decided, stage: 'execute' }, `${spec.name} failed: ${why}`, extra);
  }
  let row: AuditRow;
  try {
    row = call.record({ kind: 'read', decision: decided, answer: out, roleArn: call.roleArn, requestIds: call.requestIds });
  } catch (e) {
    log.error(`recording the read ${spec.name} failed: ${(e as Error).message}`);
    return {
      status: 'failed',
      message: `${spec.name} refused: its answer could not be recorded in the audit store (${(e as Error).message}). No log, no answer: what it read is withheld — tell a human`,
    };
  }
  return {
    status: 'executed',
    eventId: row.id,
    decision: a.decision,
    plan: a.plan,
    result: out,
    summary: spec.summarize(out),
    mutating: false,
  };
}

/**
 * The client cancelled the call while it ran: the tool stopped and undid what it did (its RolledBack says how). The
 * outcome is `cancelled`, following the approval, naming who asked; humans are told; it is no health failure and is
 * never reviewed toward demotion.
 */
function settleCancelled(call: Call, a: Approved, e: unknown, who: { by: string; reason: string }): Outcome {
  const { spec, store } = call;
  const undone = e instanceof RolledBack;
  const why = describeFailure(e, call);
  const message = `${spec.name} cancelled by ${who.by} (${who.reason}); ${undone ? `what it did was undone: ${why}` : `it stopped: ${why}`}`;
  try {
    store.transaction(() => {
      store.ledger.release(a.row.id, `cancelled: ${why}`);
      if (a.proposalId) store.proposals.finish(a.proposalId, 'failed', { error: message });
      call.record({
        kind: 'cancelled',
        follows: a.row.id,
        decision: { stage: 'execute', cancelled_by: who.by, reason: who.reason },
        result: { undone, error: why, ...(e instanceof RolledBack || e instanceof RollbackIncomplete ? e.detail : {}) },
        roleArn: call.roleArn,
        requestIds: call.requestIds,
      });
    });
  } catch (err) {
    log.error(`recording the cancellation of ${a.row.id} failed: ${(err as Error).message}`);
  }
  call.tell({
    kind: e instanceof RollbackIncomplete ? 'failed' : 'cancelled',
    subject: `${spec.name} by ${call.agent.id} was cancelled by ${who.by}${e instanceof RollbackIncomplete ? ' and its undo is incomplete' : ''}`,
    body: { error: why, reason: who.reason, ...(e instanceof RolledBack || e instanceof RollbackIncomplete ? e.detail : {}) },
    eventId: a.row.id,
  });
  return { status: 'cancelled', eventId: a.row.id, message };
}

function settleFailure(call: Call, a: Approved, e: unknown): Outcome {
  const cancelled = call.cancelledBy;
  if (cancelled && !call.deadline?.signal.aborted) return settleCancelled(call, a, e, cancelled);
  const { spec, store } = call;
  const why = describeFailure(e, call);
  const rolledBack = e instanceof RolledBack;
  // An undo that could not be proven is a failure a human must finish: always told, whatever the path.
  const incomplete = e instanceof RollbackIncomplete;
  try {
    store.transaction(() => {
      store.ledger.release(a.row.id, `${rolledBack ? 'rolled back' : 'failed'}: ${why}`);
      if (a.proposalId) store.proposals.finish(a.proposalId, 'failed', { error: why });
      if (rolledBack) {
        const then = {
          health: 'health check failed',
          ownership: 'a resource was no longer owned',
          interrupted: 'the process running it stopped',
          aws_failure: 'an AWS call failed',
        }[e.trigger];
        store.audit.appendRolledBack({
          agent: call.actor,
          project: call.agent.projectId,
          tool: spec.name,
          approvalId: a.row.id,
          ran: { operations: a.plan.operations.length, then },
          decision: { stage: e.trigger },
          result: { error: why, ...e.detail },
          roleArn: call.roleArn,
          requestIds: call.requestIds,
        });
      } else
        call.record({
          kind: 'failed',
          follows: a.row.id,
          decision: { stage: 'execute', ...(e instanceof OwnershipLost ? { rule: 'ownership', resource: e.resource } : {}) },
          result: { error: why, ...(incomplete ? e.detail : {}) },
          requestIds: call.requestIds,
          roleArn: call.roleArn,
        });
    });
  } catch (err) {
    log.error(`recording the failure of ${a.row.id} failed: ${(err as Error).message}`);
  }
  const what = rolledBack ? 'was rolled back' : incomplete ? 'failed and its rollback is incomplete' : 'failed';
  const subject = a.proposalId ? `approved proposal ${a.proposalId} ${what}` : `${spec.name} by ${call.agent.id} ${what}`;
  if (rolledBack || incomplete || a.proposalId)
    call.tell({
      kind: rolledBack ? 'rolled_back' : 'failed',
      subject,
      body: { ...(a.proposalId ? { proposal_id: a.proposalId } : {}), error: why, ...(rolledBack || incomplete ? e.detail : {}) },
      eventId: a.row.id,
    });
  if (rolledBack) {
    // A health failure counts toward demotion (in prod, gravely); a resource someone else took away does not.
    if (e.trigger === 'health') {
      const prod = spec.environmentOf?.(a.args as never, call.agent) === 'prod';
      call.review(...(prod ? (['prod_rollback', 'health_failure'] as const) : (['health_failure'] as const)));
    }
    return { status: 'rolled_back', eventId: a.row.id, message: `${spec.name} ${why}`, detail: e.detail };
  }
  return { status: 'failed', eventId: a.row.id, message: `${spec.name} failed: ${why}` };
}

export function describeFailure(e: unknown, call: Pick<Call, 'aws'> & { deadline?: Call['deadline'] }): string {
  if (
    e instanceof WriteRefused ||
    e instanceof AssumeRoleError ||
    e instanceof Refusal ||
    e instanceof RolledBack ||
    e instanceof RollbackIncomplete
  )
    return e.message;
  // Past the deadline, what an AWS request failed with is the deadline itself (its abort).
  const deadline = call.deadline;
  if (deadline?.signal.aborted)
    return `stopped at its deadline of ${deadline.seconds} s (call_deadline_seconds) during ${(e as { wardenCommand?: string }).wardenCommand ?? 'a wait'}: AWS did not answer in time — an outage or a slow AWS, not your request; what it did is recorded, retry later`;
  if (e instanceof z.ZodError) return `internal error: result did not match the output schema (${e.issues[0]?.message})`;
  const command = (e as { wardenCommand?: string }).wardenCommand ?? 'an AWS call';
  return describeAwsError(e, command, call.aws.session.assumedRoleArn);
}

/** The output with each of the tool's secret fields replaced by a placeholder saying where it went. */
export function withoutSecrets(spec: ToolSpec, out: Record<string, unknown>): Record<string, unknown> {
  if (!spec.secretOutput?.length) return out;
  const kept = { ...out };
  for (const field of spec.secretOutput) if (field in kept) kept[field] = '[secret: given to the agent only, never stored]';
  return kept;
}
