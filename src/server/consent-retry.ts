// The retry of a 2026-07-28 consent round: the same call again, carrying the person's answer and the state the first
// round signed. It decides that one proposal and runs nothing else. Every way it can be wrong is refused on the record
// with nothing done, and the proposal stays for wardenctl.
import type { CallToolResult, ServerContext } from '@modelcontextprotocol/server';
import { rateLimitsOf } from '../core/agent.js';
import { bucketsFor } from '../core/limits.js';
import { log } from '../core/log.js';
import type { Decision, Plan } from '../guard/types.js';
import { limitMessage } from '../registry/limits.js';
import { recordRefusal, runConsented, type CallDeps } from '../registry/lifecycle.js';
import { decisionOutput } from '../registry/tool-io.js';
import type { ToolSpec } from '../tools/tool.js';
import { argsDigest, type ConsentAnswer, type ConsentRounds, refusedResult } from './consent.js';
import type { CallTracker } from './drain.js';
import { answerWithin } from './long-call.js';
import { toToolResult } from './result.js';

export interface ConsentRetry {
  /** The request state as the client echoed it. */
  raw: string;
  answer: ConsentAnswer;
  /** The approver of record (`in-client:<client name>`). */
  who: string;
  spec: ToolSpec;
  args: unknown;
  traceparent?: string;
  boundSeconds: number;
  rounds: ConsentRounds;
  ctx: ServerContext;
}

type RetryDeps = CallDeps & { tools: readonly ToolSpec[]; tracker?: CallTracker };

/** A retry takes from the agent's flood limits like any change (a flood of forged answers is refused by them). */
export async function retryWithConsent(r: ConsentRetry, deps: RetryDeps): Promise<CallToolResult> {
  const { agent, store } = deps;
  const limits = rateLimitsOf(agent);
  const admission = store.rates.admit(agent.id, r.spec.name, bucketsFor(limits, true), limits.concurrent_calls);
  if (!admission.ok)
    return refusedResult(
      recordRefusal(
        deps,
        r.spec.name,
        'rate_limit',
        `${r.spec.name} consent refused by the ${limitMessage(agent.id, admission)}; nothing was approved or done`,
        r.traceparent,
      ),
    );
  let running: Promise<unknown> | undefined;
  const leave = () => {
    try {
      store.rates.leave(admission.slot);
    } catch (e) {
      log.error(`freeing a call slot failed (it expires by itself): ${(e as Error).message}`);
    }
  };
  try {
    return await decide(r, deps, (p) => (running = p));
  } finally {
    if (running) void running.finally(leave).catch(() => {});
    else leave();
  }
}

async function decide(r: ConsentRetry, deps: RetryDeps, started: (running: Promise<unknown>) => void): Promise<CallToolResult> {
  const { spec, answer } = r;
  const { agent, store } = deps;
  const refuse = (why: string) =>
    refusedResult(
      recordRefusal(deps, spec.name, 'consent', `${spec.name} consent refused: ${why}; nothing was approved or done`, r.traceparent),
    );
  const state = await r.rounds.read(r.raw, r.ctx);
  if (typeof state === 'string') return refuse(state);
  if (state.agent !== agent.id || state.tool !== spec.name || state.args_sha256 !== argsDigest(r.args))
    return refuse(`the answer was asked for ${state.agent}'s ${state.tool} with other arguments, not this call`);
  const p = store.proposals.get(state.proposal);
  if (!p) return refuse(`proposal ${state.proposal} does not exist`);
  if (p.agent !== agent.id || p.tool !== spec.name) return refuse(`proposal ${p.id} is not this agent's ${spec.name}`);
  if (p.plan_hash !== state.plan_hash)
    return refuse(`proposal ${p.id} has plan hash ${p.plan_hash}, the person was shown ${state.plan_hash}`);
  if (p.state !== 'pending') return refuse(`proposal ${p.id} is already ${p.state} (an answer counts once)`);
  if (Date.parse(p.expires_at) <= Date.now()) return refuse(`proposal ${p.id} expired at ${p.expires_at}`);
  // The policy as it is now decides whether the client may still approve these classes.
  const allowed = agent.project.in_client_consent as string[];
  const notAllowed = state.classes.filter((c) => !allowed.includes(c));
  if (state.classes.length === 0 || notAllowed.length)
    return refuse(`the policy does not let the client approve ${notAllowed.join(', ') || 'this proposal'}`);
  if (answer.kind === 'missing') return refuse('the retry carries no answer to the question');
  const pending = (why: string) =>
    toToolResult({
      status: 'pending_approval',
      eventId: p.event_id,
      decision: escalation(store, p.event_id),
      plan: JSON.parse(p.plan) as Plan,
      proposalId: p.id,
      summary: `pending approval: ${why}, so proposal ${p.id} waits for a human: \`wardenctl proposals approve ${p.id}\`; nothing was executed yet — check back with get_proposal`,
    });
  if (answer.kind === 'decline') return pending(answer.why);
  const run = () =>
    runConsented(
      store,
      agent.policy,
      { proposalId: p.id, who: r.who, decision: escalation(store, p.event_id), plan: JSON.parse(p.plan) as Plan },
      spec,
      { tools: deps.tools },
    );
  const running = deps.tracker ? deps.tracker.track(run) : run();
  started(running);
  return answerWithin(running, {
    store,
    project: agent.projectId,
    agent: agent.id,
    tool: spec.name,
    args: r.args,
    boundSeconds: r.boundSeconds,
    rows: { first: p.event_id, newest: p.event_id },
    detach: () => {},
    onProgress: () => {},
  });
}

/** The decision of the escalated row the proposal came from, as the tools' output shows a decision. */
function escalation(store: CallDeps['store'], eventId: string): Decision {
  const row = store.audit.get(eventId);
  const parsed = decisionOutput.safeParse(row?.decision ? JSON.parse(row.decision) : null);
  if (parsed.success) return parsed.data as Decision;
  return { outcome: 'escalate', rule: 'approval', reason: `escalated (row ${eventId})`, instead: '', checked: [] } as unknown as Decision;
}
