// What a tool is: zod input/output, explicit MCP hints, a planner that only reads, and an executor that runs the plan.
import { z } from 'zod';
import type { AgentAws } from '../aws/clients.js';
import type { Plan } from '../guard/types.js';
import type { AgentContext } from '../server/agent-context.js';
import type { DesiredEntry } from '../store/desired.js';
import type { LedgerChange } from '../store/ledger.js';
import type { Store } from '../store/store.js';

export interface Hints {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

export interface ToolContext {
  agent: AgentContext;
  aws: AgentAws;
  /** Read access to the store (budget, proposals) for tools that report on them. */
  store: Store;
  signal: AbortSignal;
  /** Sends notifications/progress when the client asked for them; a no-op otherwise. */
  progress(done: number, total: number | undefined, message: string): Promise<void>;
}

/** A refusal the planner decides (bad reference, unknown name): audited as denied, told to the agent. */
export class Refusal extends Error {
  override name = 'Refusal';
  constructor(
    message: string,
    /** The guard rule the refusal belongs to, for the audit (input by default). */
    readonly rule: string = 'input',
  ) {
    super(message);
  }
}

/** The executor ran its rollback plan after a failed health check: audited as rolled_back, humans notified. */
export class RolledBack extends Error {
  override name = 'RolledBack';
  constructor(
    message: string,
    readonly detail: Record<string, unknown>,
  ) {
    super(message);
  }
}

export interface ToolSpec<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  description: string;
  input: I;
  output: O;
  annotations: Hints;
  /** Reads only: the AWS layer refuses writes here, since no approval exists yet. */
  plan(args: z.infer<I>, ctx: ToolContext): Promise<Plan>;
  /** Runs exactly `plan`, inside the scope of its approved audit event. */
  execute(plan: Plan, args: z.infer<I>, ctx: ToolContext): Promise<z.infer<O>>;
  /** One line for the text content beside structuredContent. */
  summarize(out: z.infer<O>): string;
  /** Resources whose run-rate this execution started or ended, for the budget ledger. */
  ledger?(plan: Plan, out: z.infer<O>): LedgerChange;
  /** What this execution set on managed resources (check_drift compares AWS with it) or stopped managing. */
  desired?(plan: Plan, out: z.infer<O>, args: z.infer<I>): DesiredChange;
  /** The environment a change lands in (its deploy window applies), or null. */
  environmentOf?(args: z.infer<I>, agent: AgentContext): string | null;
  /** The agent's stated reason for a proposal, shown to the human (default: the plan's summary). */
  reasonOf?(args: z.infer<I>): string;
  /** A store-wide lock key held from planning to the outcome, so concurrent calls on one thing serialize. */
  lockKey?(args: z.infer<I>, agent: AgentContext): string;
}

export interface DesiredChange {
  set?: DesiredEntry[];
  /** Resources aws-warden deleted: their desired state goes with them. */
  forget?: string[];
}

/**
 * What an execution leaves in the store besides its audit row: the run-rate it started or ended (the reservation of
 * `approvalId` committed when it reserved any) and the desired state it set. Inside the caller's transaction.
 */
export function settleExecution(store: Store, s: { spec: ToolSpec; plan: Plan; out: Record<string, unknown>; args: Record<string, unknown>; approvalId: string; project: string; agent: string; deltaCents: number }): void {
  const change = s.spec.ledger?.(s.plan, s.out);
  if (change || s.deltaCents > 0) store.ledger.settle(s.deltaCents > 0 ? s.approvalId : null, s.project, s.agent, change ?? { add: [], remove: [] });
  store.desired.apply(s.project, s.approvalId, s.spec.desired?.(s.plan, s.out, s.args));
}

export function defineTool<I extends z.ZodObject, O extends z.ZodObject>(spec: ToolSpec<I, O>): ToolSpec {
  return spec as unknown as ToolSpec;
}

export const isMutating = (spec: ToolSpec) => !spec.annotations.readOnlyHint;

/** The agent's reason for something a human will read (a proposal): at least a sentence, kept verbatim. */
export const humanReason = (what: string) => z.string().trim().min(10, 'say why in at least 10 characters').max(2000).describe(what);
