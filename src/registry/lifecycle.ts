// The one lifecycle of an agent's call (an MCP call or a worker's job), in stages:
//   admit (requested row, input, tier, window, identity, lock) ▶ plan (reads only, typed params) ▶ decide and record
//   (guard decision + approved row + reservation, one transaction) ▶ run (under exactly the plan's permit) ▶ settle.
// A read-only tool's call passes the same stages but writes one row, when it ends: its answer's digest, or why not.
// Approvals by a human (approve.ts) and crash recovery (recover.ts) reuse the same stages.
import { setMaxListeners } from 'node:events';
import { z } from 'zod';
import type { AgentAws } from '../aws/clients.js';
import { inCallScope } from '../aws/write-gate.js';
import { rateLimitsOf, roleFor, type AgentContext } from '../core/agent.js';
import { Refusal } from '../core/errors.js';
import { bucketsFor } from '../core/limits.js';
import { log } from '../core/log.js';
import { explain } from '../guard/decide.js';
import { tierRule } from '../guard/rules.js';
import type { Decision, GuardRequest, Plan } from '../guard/types.js';
import { windowRule } from '../guard/windows.js';
import type { Policy } from '../policy/schema.js';
import type { Store } from '../store/store.js';
import { isMutating, type ToolContext, type ToolSpec } from '../tools/tool.js';
import { withCurrentTier } from '../trust/tiers.js';
import { issueMessage } from '../util/zod-issue.js';
import { AssumeRoleError } from '../aws/session.js';
import { portsFor } from './agent-aws.js';
import { approveAndRun, type RunDeps } from './approve.js';
import { Call } from './call.js';
import { decideAndRecord, type Gate } from './decide.js';
import type { Admission } from '../store/rate-limits.js';
import { oversizedArgument } from './limits.js';
import type { Outcome } from './outcome.js';
import { checkedPlan, describeFailure, runAndSettle, runRead } from './run.js';
import { inputSchemaOf } from './tool-io.js';

export interface CallDeps {
  agent: AgentContext;
  aws: AgentAws;
  store: Store;
}

export interface CallExtras {
  signal: AbortSignal;
  /** Who the client that may cancel this call is (`client:<name>`), for the `cancelled` audit row. */
  cancelledBy?: string;
  progress: ToolContext['progress'];
  /**
   * Asks the person at the MCP client to approve (elicitation), when the client can; true only for an
   * explicit approval. Absent when the client cannot elicit: then escalations wait for wardenctl.
   */
  consent?: (ask: ConsentAsk) => Promise<{ approved: boolean; who: string }>;
  /** The tools this server serves (an approved proposal runs with the same set). */
  tools?: readonly ToolSpec[];
  /** The worker runs a scheduled job at its window: it is not held for a window again. */
  scheduledJob?: string;
  /** The request's W3C traceparent (from its _meta), recorded on the call's first row. */
  traceparent?: string;
  /** Told the id of each audit row the call writes (a call handed to a job names its newest). */
  onRecorded?: (eventId: string) => void;
}

/** What the person at the client is asked to approve: exactly one proposal's plan. */
export interface ConsentAsk {
  message: string;
  planHash: string;
  proposalId: string;
  classes: readonly string[];
}

/** Zod's complaints, each naming its field: `set.ProjectId: tag key "ProjectId" is reserved …`. */
export function describeInputError(tool: string, error: z.ZodError): string {
  const lines = error.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join('.') : '(arguments)'}: ${issueMessage(i)}`);
  return `invalid arguments for ${tool}: ${lines.join('; ')}`;
}

/**
 * A call of a tool this server does not serve is a denial on the record like any other (the name clipped, so a flood
 * of long names cannot grow the row); the caller answers it as a protocol error. Returns the message.
 */
export function recordUnknownTool(deps: Pick<CallDeps, 'agent' | 'store'>, name: unknown, rawArgs: unknown, traceparent?: string): string {
  const agent = withCurrentTier(deps.store, deps.agent);
  const shown = JSON.stringify(String(name).slice(0, 64));
  const message = `unknown tool ${shown}; tools you may call: ${agent.tier.tools.join(', ')}`;
  try {
    deps.store.audit.append({
      kind: 'denied',
      agent: agent.id,
      project: agent.projectId,
      tool: String(name).slice(0, 64),
      decision: {
        outcome: 'deny',
        rule: 'unknown_tool',
        reason: message,
        name_length: String(name).length,
        ...(traceparent ? { traceparent } : {}),
      },
      request: { argument_keys: Object.keys((rawArgs as object | undefined) ?? {}).slice(0, 20) },
    });
  } catch (e) {
    log.error(`audit append failed: ${(e as Error).message}`);
  }
  return message;
}

/**
 * A call the server refuses before its lifecycle starts (it is shutting down; the policy in force no longer serves the
 * agent): a denied row with `rule`, nothing done. Returns the message.
 */
export function recordRefusal(
  deps: Pick<CallDeps, 'agent' | 'store'>,
  tool: string,
  rule: string,
  message: string,
  traceparent?: string,
): string {
  try {
    deps.store.audit.append({
      kind: 'denied',
      agent: deps.agent.id,
      project: deps.agent.projectId,
      tool,
      decision: { outcome: 'deny', rule, reason: message, ...(traceparent ? { traceparent } : {}) },
    });
  } catch (e) {
    log.error(`audit append failed: ${(e as Error).message}`);
  }
  return message;
}

/** An agent's call, from its first audit row to its outcome. */
export async function runCall(spec: ToolSpec, rawArgs: unknown, deps: CallDeps, extras: CallExtras): Promise<Outcome> {
  // The tier in force now: a promotion or demotion since the server started applies to this very call,
  // and a tier the policy maps to its own IAM role is acted in as that role.
  const agent = withCurrentTier(deps.store, deps.agent);
  deps.aws.session.useRole(roleFor(agent));
  const call = new Call(spec, deps.store, agent, deps.aws, agent.id);
  call.onRecorded = extras.onRecorded;
  // Size and shape first (no I/O): they decide which buckets the call takes from.
  const tooBig = oversizedArgument(rawArgs, agent);
  const parsed = tooBig ? null : inputSchemaOf(spec).safeParse(rawArgs ?? {});
  // Every call takes from the agent's per-minute bucket, invalid ones too; a change that will run, from the hourly one.
  const willChange = Boolean(parsed?.success && isMutating(spec) && (parsed.data as { dry_run?: boolean }).dry_run !== true);
  const limits = rateLimitsOf(agent);
  let requested: string | null = null;
  let admission: Admission | null = null;
  const source = agent.policySource;
  // What the call's first row says beside the request: the policy in force, and the caller's trace when it sent one.
  const inForce = {
    ...(source ? { policy_sha256: source.sha256 } : {}),
    ...(extras.traceparent ? { traceparent: extras.traceparent } : {}),
  };
  try {
    const admit = () => {
      if (!tooBig) admission = call.takeSlot(bucketsFor(limits, willChange), limits.concurrent_calls);
    };
    if (isMutating(spec))
      // A change's first row and its admission in one commit. The policy in force is named on that row.
      requested = deps.store.transaction(() => {
        const row = call.record({
          kind: 'requested',
          request: rawArgs ?? {},
          ...(Object.keys(inForce).length ? { decision: inForce } : {}),
        });
        admit();
        return row.id;
      });
    else {
      // A read is admitted alone and writes its one row when it ends (its answer, a denial or a failure).
      call.recordOnce(rawArgs ?? {}, inForce);
      admit();
    }
  } catch (e) {
    log.error(`audit append failed: ${(e as Error).message}`);
    return {
      status: 'failed',
      message: `${spec.name} refused: the audit store cannot be written (${(e as Error).message}). No log, no action: nothing was done — tell a human`,
    };
  }
  // The whole call is bounded: past its deadline every AWS request it makes is aborted and its waits end.
  const seconds = agent.policy.call_deadline_seconds;
  call.deadline = { signal: AbortSignal.timeout(seconds * 1000), seconds };
  call.cancel = { signal: extras.signal, by: extras.cancelledBy ?? 'client' };
  const signal = AbortSignal.any([extras.signal, call.deadline.signal]);
  // Every AWS request of the call listens to this one signal, a deploy's batches and parts many at once: that is no
  // leak, and Node's warning at 11 listeners would only reach the client's log.
  setMaxListeners(0, signal);
  try {
    return await inCallScope({ agent: agent.id, tool: spec.name, requestIds: call.requestIds, signal }, () =>
      admitted(call, requested, { tooBig, parsed, willChange, admission }, { ...extras, signal }),
    );
  } finally {
    call.unlock();
  }
}

interface Admitted {
  tooBig: string | null;
  parsed: ReturnType<ReturnType<typeof inputSchemaOf>['safeParse']> | null;
  willChange: boolean;
  admission: Admission | null;
}

/** Admit: input, tier, window, identity, lock. Then plan, decide, run. */
async function admitted(call: Call, requested: string | null, a: Admitted, extras: CallExtras): Promise<Outcome> {
  const { spec, agent, store, aws } = call;
  const { tooBig, parsed, willChange, admission } = a;
  if (tooBig || !parsed)
    return call.refuse(
      'denied',
      requested,
      { outcome: 'deny', rule: 'input', reason: tooBig },
      `${spec.name} refused: ${tooBig}; nothing was done`,
    );
  if (admission && !admission.ok) return call.refuseLimit(requested, admission);
  if (willChange && store.damage)
    return call.refuse(
      'denied',
      requested,
      { outcome: 'deny', rule: 'store_integrity', reason: store.damage },
      `${spec.name} refused: ${store.damage}; no change is made while the record cannot be trusted — tell a human`,
    );
  if (!parsed.success) {
    const message = describeInputError(spec.name, parsed.error);
    const answer = call.refuse('denied', requested, { outcome: 'deny', rule: 'input', reason: message }, message);
    // Naming a reserved tag is an attempt to step over the ownership boundary.
    if (/is reserved/.test(message)) call.review('boundary_escape');
    return answer;
  }
  const { dry_run: dryRun = false, ...args } = parsed.data as Record<string, unknown> & { dry_run?: boolean };
  const req = call.guardRequest;
  // The tier rule runs before planning too, so a tool the tier does not grant never even reads AWS.
  const tier = tierRule(req);
  if (tier.outcome !== 'allow') {
    const d: Decision = { ...tier, checked: ['tier'] };
    return call.refuse('denied', requested, d, `${spec.name} ${explain(d)}`);
  }

  // A change to an environment outside its deploy window is not refused: it waits for the window as a job.
  const env = isMutating(spec) && !dryRun && !extras.scheduledJob ? (spec.environmentOf?.(args, agent) ?? null) : null;
  const window = windowRule(agent.project.windows, env, store.clock());
  if (window.outcome === 'deny')
    return call.refuse('denied', requested, window, `${spec.name} refused: ${window.reason}; nothing was done`);
  if (window.outcome === 'queue') return schedule(call, requested, args, env as string, window.runAt, window.reason);

  // Every call, reads too, runs as the agent's own role; not being able to become it is a denial.
  try {
    await aws.session.credentials();
  } catch (e) {
    const why = e instanceof AssumeRoleError ? e.message : describeFailure(e, call);
    const outage = e instanceof AssumeRoleError && e.outage;
    const configuration = e instanceof AssumeRoleError && e.configuration;
    return call.refuse(
      'denied',
      requested,
      { outcome: 'deny', rule: 'identity', reason: why, ...(outage ? { outage: true } : {}) },
      outage
        ? `${spec.name} refused: ${why} — nothing was done; retry when AWS answers again`
        : configuration
          ? `${spec.name} refused: ${why} — nothing was done; a human must fix the server's AWS configuration`
          : `${spec.name} denied: ${why} — nothing was done; a human must fix the agent's role`,
    );
  }

  const busy = await call.lockAll([spec.lockKey?.(args, agent)], requested);
  if (busy) return busy;
  const ctx: ToolContext = {
    agent,
    aws,
    ports: portsFor(store, agent.projectId, agent.project),
    signal: extras.signal,
    progress: extras.progress,
  };
  const planned = await planStage(call, requested, args, ctx);
  if ('status' in planned) return planned;
  return decideStage(call, requested, req, planned.plan, args, dryRun, ctx, extras);
}

/** Plan: reads only, the params checked against the tool's schema; a plan that needs more locks is made again under them. */
export async function planStage(
  call: Call,
  requested: string | null,
  args: Record<string, unknown>,
  ctx: ToolContext,
): Promise<{ plan: Plan } | Outcome> {
  const { spec } = call;
  const once = async (): Promise<{ plan: Plan } | Outcome> => {
    try {
      return { plan: checkedPlan(spec, await spec.plan(args, ctx)) };
    } catch (e) {
      if (e instanceof Refusal)
        return call.refuse(
          'denied',
          requested,
          { outcome: 'deny', rule: e.rule, reason: e.message },
          `${spec.name} ${e.rule === 'input' ? 'refused' : `denied by the ${e.rule} rule`}: ${e.message}`,
        );
      const why = describeFailure(e, call);
      return call.refuse('failed', requested, { stage: 'plan' }, `${spec.name} failed while planning: ${why}`, {
        result: { error: why },
        requestIds: call.requestIds,
      });
    }
  };
  const first = await once();
  if ('status' in first || !first.plan.locks?.length) return first;
  const wanted = first.plan.locks;
  const busy = await call.lockAll(wanted, requested);
  if (busy) return busy;
  // Planned before the locks were held: plan again now that nothing else can change what they guard.
  const again = await once();
  if ('status' in again) return again;
  const extra = (again.plan.locks ?? []).filter((k) => !wanted.includes(k));
  if (extra.length)
    return call.refuse(
      'denied',
      requested,
      { outcome: 'deny', rule: 'concurrency', reason: `the plan moved to ${extra.join(', ')}` },
      `${spec.name} refused: what it acts on changed while it was planned (${extra.join(', ')}); call it again`,
    );
  return again;
}

async function decideStage(
  call: Call,
  requested: string | null,
  req: GuardRequest,
  plan: Plan,
  args: Record<string, unknown>,
  dryRun: boolean,
  ctx: ToolContext,
  extras: CallExtras,
): Promise<Outcome> {
  const { spec, store, agent } = call;
  let gate: Gate;
  try {
    gate = decideAndRecord(store, {
      req,
      plan,
      agent,
      requestedId: requested,
      roleArn: call.roleArn,
      dryRun,
      reason: spec.reasonOf?.(args),
      mutating: isMutating(spec),
      args,
    });
  } catch (e) {
    log.error(`guard transaction failed: ${(e as Error).message}`);
    return {
      status: 'failed',
      message: `${spec.name} refused: the decision could not be written to the audit store (${(e as Error).message}). No log, no action: nothing was done`,
    };
  }
  const d = gate.decision;
  if ('row' in gate) call.onRecorded?.(gate.row.id);
  if (gate.kind === 'refused') {
    const answer = call.refuse('denied', requested, { ...d, plan_hash: gate.planHash }, `${spec.name} ${explain(d)}`, { request: plan });
    if (d.outcome === 'deny' && d.rule === 'ownership') call.review('boundary_escape');
    return answer;
  }
  // A dry run the ownership rule refuses answers with the refusal alone: its plan would show what another project owns
  // (its rules, its tags). The audit row keeps the whole plan for humans.
  if (gate.kind === 'planned' && d.outcome === 'deny' && d.rule === 'ownership')
    return { status: 'denied', rule: 'ownership', message: `${spec.name} (dry run) ${explain(d)}` };
  if (gate.kind === 'planned') {
    const verdict = d.outcome === 'allow' ? 'would be allowed' : `would be ${explain(d)}`;
    const cost = plan.costDeltaUsdMonth === null ? 'unknown' : `$${plan.costDeltaUsdMonth.toFixed(2)}`;
    return {
      status: 'dry_run',
      eventId: gate.row.id,
      decision: d,
      plan,
      summary: `dry run: ${plan.summary} — ${verdict}; cost delta ${cost}/month`,
    };
  }
  if (gate.kind === 'proposed') return proposed(call, gate, plan, extras);
  if (gate.kind === 'read') return runRead(call, { plan, args, decision: d, planHash: gate.planHash }, ctx);
  if (extras.signal.aborted) {
    const who = call.cancelledBy ?? { by: 'client', reason: 'no reason given' };
    store.ledger.release(gate.row.id, 'cancelled before execution');
    return call.refuse(
      'cancelled',
      gate.row.id,
      { stage: 'execute', cancelled_by: who.by, reason: who.reason },
      `${spec.name} cancelled by ${who.by} before execution; nothing was done`,
    );
  }
  return runAndSettle(call, { row: gate.row, plan, args, deltaCents: gate.deltaCents, decision: d }, ctx);
}

/** Escalated: the proposal waits for wardenctl, unless the policy lets the person at the client consent to this class. */
async function proposed(call: Call, gate: Extract<Gate, { kind: 'proposed' }>, plan: Plan, extras: CallExtras): Promise<Outcome> {
  const { agent, spec, store } = call;
  const d = gate.decision;
  const reason = d.outcome !== 'allow' ? d.reason : '';
  call.tell({
    kind: 'proposal',
    subject: `${agent.id} proposes: ${plan.summary}`,
    body: { proposal_id: gate.proposalId, reason, plan },
    eventId: gate.row.id,
  });
  const classes = d.outcome === 'escalate' ? (d.classes ?? []) : [];
  const consentable = classes.length > 0 && classes.every((c) => (agent.project.in_client_consent as string[]).includes(c));
  if (consentable && extras.consent) {
    const answer = await extras.consent({
      message: `${agent.id} asks to run: ${plan.summary}\nA human must approve because: ${reason}\nPlan hash: ${gate.planHash}\nApprove exactly this plan?`,
      planHash: gate.planHash,
      proposalId: gate.proposalId,
      classes,
    });
    // The same approval path as wardenctl's; this call's own locks are already held for it.
    if (answer.approved)
      return runConsented(store, agent.policy, { proposalId: gate.proposalId, who: answer.who, decision: d, plan }, spec, {
        tools: extras.tools,
        locksHeld: new Set(call.locks.keys()),
      });
  }
  return {
    status: 'pending_approval',
    eventId: gate.row.id,
    decision: d,
    plan,
    proposalId: gate.proposalId,
    summary: `pending approval: proposal ${gate.proposalId} — ${reason}. A human decides with \`wardenctl proposals approve ${gate.proposalId}\`; nothing was executed yet — check back with get_proposal`,
  };
}

/** A proposal the person at the client approved, run on wardenctl's approval path: its outcome as the agent's answer. */
export async function runConsented(
  store: Store,
  policy: Policy,
  approval: { proposalId: string; who: string; decision: Decision; plan: Plan },
  spec: ToolSpec,
  deps: RunDeps,
): Promise<Outcome> {
  const { proposalId, who, plan } = approval;
  const eventId = store.proposals.get(proposalId)?.event_id ?? '';
  try {
    const done = await approveAndRun(store, policy, proposalId, who, 'approved in the MCP client', deps);
    return {
      status: 'executed',
      eventId,
      decision: approval.decision,
      plan,
      result: spec.output.safeParse(done.result).success ? done.result : {},
      summary: `approved in the client by ${who} and executed: ${plan.summary}`,
      mutating: true,
      proposalId,
    };
  } catch (e) {
    return { status: 'failed', eventId, message: `${spec.name}: approved in the client, but ${(e as Error).message}` };
  }
}

function schedule(call: Call, requested: string | null, args: Record<string, unknown>, env: string, at: Date, reason: string): Outcome {
  const { store, agent, spec } = call;
  let job;
  try {
    job = store.transaction(() => {
      const row = call.record({
        kind: 'escalated',
        follows: requested,
        decision: { outcome: 'schedule', rule: 'deploy_window', reason, run_at: at.toISOString() },
      });
      return {
        row,
        job: store.jobs.create({
          project: agent.projectId,
          agent: agent.id,
          tool: spec.name,
          args: { ...args },
          runAt: at,
          why: `deploy window of ${env}`,
          eventId: row.id,
        }),
      };
    });
  } catch (e) {
    return {
      status: 'failed',
      message: `${spec.name} refused: the job could not be written to the store (${(e as Error).message}); nothing was done`,
    };
  }
  call.tell({
    kind: 'scheduled',
    subject: `${agent.id}: ${spec.name} waits for ${env}'s window (${at.toISOString()})`,
    body: { job_id: job.job.id, run_at: at.toISOString(), args },
    eventId: job.row.id,
  });
  return {
    status: 'scheduled',
    eventId: job.row.id,
    jobId: job.job.id,
    runAt: at.toISOString(),
    summary: `scheduled: ${spec.name} is held — ${reason}. Job ${job.job.id} runs then, with the full guard checked again; a human can cancel it with \`wardenctl schedule cancel ${job.job.id}\``,
  };
}
