// The one path every tool call takes: audit → validate → tier → plan → guard → audit → execute → audit.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { AgentAws } from '../aws/clients.js';
import { describeAwsError } from '../aws/errors.js';
import { AssumeRoleError } from '../aws/session.js';
import { inCallScope, withApproval, WriteRefused } from '../aws/write-gate.js';
import { decide, explain } from '../guard/decide.js';
import { tierRule } from '../guard/rules.js';
import type { Decision, Facts, GuardRequest, Plan } from '../guard/types.js';
import { canonicalJson, sha256 } from '../store/canonical.js';
import type { AuditLog, AuditRow, NewEvent } from '../store/audit.js';
import { isMutating, Refusal, type ToolContext, type ToolSpec } from '../tools/tool.js';
import type { AgentContext } from './agent-context.js';
import { issueMessage } from '../util/zod-issue.js';
import { log } from './log.js';
import { inputSchemaOf } from './tool-io.js';

export interface CallDeps {
  agent: AgentContext;
  aws: AgentAws;
  audit: AuditLog;
  /** Store facts the guard reads (budget ledger, …); see Facts. */
  facts(agent: AgentContext): Facts;
}

export interface CallExtras {
  signal: AbortSignal;
  progress: ToolContext['progress'];
}

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

/** Zod's first complaint, naming the field: `set.ProjectId: tag key "ProjectId" is reserved …`. */
export function describeInputError(tool: string, error: z.ZodError): string {
  const lines = error.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join('.') : '(arguments)'}: ${issueMessage(i)}`);
  return `invalid arguments for ${tool}: ${lines.join('; ')}`;
}

export async function guardedCall(spec: ToolSpec, rawArgs: unknown, deps: CallDeps, extras: CallExtras): Promise<CallToolResult> {
  const { agent, audit, aws } = deps;
  const base = { agent: agent.id, project: agent.projectId, tool: spec.name };
  const record = (e: Omit<NewEvent, 'agent' | 'project' | 'tool'>): AuditRow => audit.append({ ...base, ...e });

  let requested: AuditRow;
  try {
    requested = record({ kind: 'requested', request: rawArgs ?? {} });
  } catch (e) {
    log.error(`audit append failed: ${(e as Error).message}`);
    return errorResult(
      `${spec.name} refused: the audit store cannot be written (${(e as Error).message}). No log, no action: nothing was done — tell a human`,
    );
  }

  /** Records a refusal and answers the agent with it; if even that row cannot be written, the answer says so. */
  const refuse = (kind: 'denied' | 'escalated' | 'failed', decision: object, message: string, extra: Partial<NewEvent> = {}) => {
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
    return refuse('denied', { outcome: 'deny', rule: 'input', reason: message }, message);
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

  // Every call, reads too, runs as the agent's own role; not being able to become it is a denial.
  try {
    await aws.session.credentials();
  } catch (e) {
    const why = e instanceof AssumeRoleError ? e.message : describeFailure(e, aws);
    return refuse('denied', { outcome: 'deny', rule: 'identity', reason: why }, `${spec.name} denied: ${why} — nothing was done; a human must fix the agent's role`);
  }

  const ctx: ToolContext = { agent, aws, signal: extras.signal, progress: extras.progress };
  const scope = { agent: agent.id, tool: spec.name, requestIds: [] as string[] };
  return inCallScope(scope, async () => {
    let plan: Plan;
    try {
      plan = await spec.plan(args, ctx);
    } catch (e) {
      if (e instanceof Refusal) return refuse('denied', { outcome: 'deny', rule: 'input', reason: e.message }, `${spec.name} refused: ${e.message}`);
      return refuse('failed', { stage: 'plan' }, `${spec.name} failed while planning: ${describeFailure(e, aws)}`, {
        result: { error: describeFailure(e, aws) },
        requestIds: scope.requestIds,
      });
    }

    let decision: Decision;
    try {
      decision = decide(req, plan, deps.facts(agent));
    } catch (e) {
      return refuse('denied', { outcome: 'deny', rule: 'facts', reason: (e as Error).message }, `${spec.name} denied: the guard could not read its facts (${(e as Error).message}); nothing was done`);
    }
    const planHash = sha256(canonicalJson(plan));
    if (decision.outcome === 'deny') return refuse('denied', { ...decision, plan_hash: planHash }, `${spec.name} ${explain(decision)}`, { request: plan });
    if (decision.outcome === 'escalate')
      return refuse('escalated', { ...decision, plan_hash: planHash }, `${spec.name} ${explain(decision)}`, { request: plan });

    const roleArn = aws.session.assumedRoleArn ?? null;
    if (dryRun) {
      let planned: AuditRow;
      try {
        planned = record({ kind: 'planned', decision: { ...decision, plan_hash: planHash }, request: plan, follows: requested.id, roleArn });
      } catch (e) {
        return errorResult(`${spec.name} dry run refused: the audit store cannot be written (${(e as Error).message})`);
      }
      const out = { status: 'dry_run', event_id: planned.id, decision, plan };
      return okResult(`dry run: ${plan.summary} — would be allowed; cost delta $${(plan.costDeltaUsdMonth ?? 0).toFixed(2)}/month`, out);
    }

    let approved: AuditRow;
    try {
      approved = record({
        kind: 'approved',
        action: plan.operations.map((o) => o.action).join(' ') || null,
        decision: { ...decision, plan_hash: planHash },
        request: isMutating(spec) ? plan : args,
        follows: requested.id,
        roleArn,
      });
    } catch (e) {
      log.error(`audit append failed: ${(e as Error).message}`);
      return errorResult(`${spec.name} refused: the approval could not be written to the audit store (${(e as Error).message}). No log, no action: nothing was done`);
    }
    if (extras.signal.aborted)
      return refuse('failed', { stage: 'execute' }, `${spec.name} cancelled before execution; nothing was done`, { follows: approved.id });

    let out: Record<string, unknown>;
    try {
      out = spec.output.parse(await withApproval(approved.id, () => spec.execute(plan, args, ctx))) as Record<string, unknown>;
    } catch (e) {
      const why = describeFailure(e, aws);
      return refuse('failed', { stage: 'execute' }, `${spec.name} failed: ${why}`, {
        follows: approved.id,
        result: { error: why },
        requestIds: scope.requestIds,
      });
    }
    try {
      record({ kind: 'executed', follows: approved.id, result: out, roleArn: aws.session.assumedRoleArn ?? roleArn, requestIds: scope.requestIds });
    } catch (e) {
      // The action happened; say so rather than hide it. The approved row already records the intent.
      log.error(`audit append of executed ${approved.id} failed: ${(e as Error).message}`);
    }
    const structured = isMutating(spec) ? { status: 'executed', event_id: approved.id, decision, plan, result: out } : out;
    return okResult(spec.summarize(out), structured);
  });
}

function describeFailure(e: unknown, aws: AgentAws): string {
  if (e instanceof WriteRefused || e instanceof AssumeRoleError || e instanceof Refusal) return e.message;
  if (e instanceof z.ZodError) return `internal error: result did not match the output schema (${e.issues[0]?.message})`;
  const command = (e as { wardenCommand?: string }).wardenCommand ?? 'an AWS call';
  return describeAwsError(e, command, aws.session.assumedRoleArn);
}
