// What a tool is: zod input/output, explicit MCP hints, the IAM it needs, a typed plan made by a planner that only
// reads, and an executor that runs exactly that plan. The registry (src/registry) wires every tool through the guard.
import { z } from 'zod';
import type { AgentAws } from '../aws/clients.js';
import type { AgentContext } from '../core/agent.js';
import type { DesiredEntry, LedgerChange, ToolPorts } from '../core/ports.js';
import type { Plan } from '../guard/types.js';

export interface Hints {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

/** IAM actions a tool's role needs, by how they are scoped in the rendered role (wardenctl iam render reads these). */
export interface IamNeeds {
  /** Reads with no resource scope (EC2 describes, CloudWatch, CloudTrail). */
  read?: string[];
  /** Actions on existing resources that carry the project's ProjectId tag. */
  owned?: string[];
  /** Creations allowed only with the project's and agent's request tags. */
  create?: string[];
  /** S3 actions on the project's own site buckets. */
  s3?: string[];
  /** SSM reads of public AMI parameters. */
  ssm?: string[];
  /** S3 actions on the project's restore scratch buckets. */
  scratch?: string[];
  /** RDS actions on the project's restore scratch instances (restore-<project>-…) and the snapshots they restore. */
  scratch_db?: string[];
  /** RDS creations of snapshots, allowed only with the project's request tag (the new snapshot has no tag to check yet). */
  rds_create?: string[];
  /** IAM database authentication, rendered only for the project's databases whose policy names an iam_resource_id. */
  db_connect?: string[];
  /** Actions only a human-approved plan sends: the approver role has them (on owned resources), agents are denied them. */
  approver?: string[];
}

export interface ToolContext {
  agent: AgentContext;
  aws: AgentAws;
  /** The parts of the store a tool may use (records it reports on, deployments and backup results it keeps). */
  ports: ToolPorts;
  signal: AbortSignal;
  /** Sends notifications/progress when the client asked for them; a no-op otherwise. */
  progress(done: number, total: number | undefined, message: string): Promise<void>;
}

export interface ToolSpec<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject, P = unknown> {
  name: string;
  title: string;
  description: string;
  input: I;
  output: O;
  annotations: Hints;
  /** What the tool's IAM role must allow; `wardenctl iam render` builds the roles from these. */
  iam: IamNeeds;
  /** The schema of the plan's `params`: checked when the plan is made and whenever a stored plan is read back. */
  params: z.ZodType<P>;
  /** Reads only: the AWS layer refuses writes here, since no approval exists yet. */
  plan(args: z.infer<I>, ctx: ToolContext): Promise<Plan<P>>;
  /** Runs exactly `plan`, inside the write scope of its approved audit event; everything it sends comes from the plan. */
  execute(plan: Plan<P>, args: z.infer<I>, ctx: ToolContext): Promise<z.infer<O>>;
  /** One line for the text content beside structuredContent. */
  summarize(out: z.infer<O>): string;
  /** Resources whose run-rate this execution started or ended, for the budget ledger. */
  ledger?(plan: Plan<P>, out: z.infer<O>): LedgerChange;
  /** What this execution set on managed resources (check_drift compares AWS with it) or stopped managing. */
  desired?(plan: Plan<P>, out: z.infer<O>, args: z.infer<I>): DesiredChange;
  /** The environment a change lands in (its deploy window applies), or null. */
  environmentOf?(args: z.infer<I>, agent: AgentContext): string | null;
  /** The agent's stated reason for a proposal, shown to the human (default: the plan's summary). */
  reasonOf?(args: z.infer<I>): string;
  /** Output fields that go to the agent only: the audit row, the proposal and notices keep a placeholder instead. */
  secretOutput?: readonly string[];
  /** A store-wide lock key held from planning to the outcome, so concurrent calls on one thing serialize. */
  lockKey?(args: z.infer<I>, agent: AgentContext): string;
  /**
   * Settles an approval whose process died before its outcome was recorded: finds what AWS holds for it and
   * completes or undoes it. Runs under the same approval's permit. Undefined: the registry cannot recover it itself.
   */
  recover?(plan: Plan<P>, args: z.infer<I>, ctx: ToolContext & { approvalId: string }): Promise<Recovered<z.infer<O>>>;
  /**
   * Every operation is a warden: action that a human's approval applies in the same store transaction as the approval
   * and its outcome (src/proposals/approve.ts): no crash leaves one approved and unsettled, so it needs no recovery step.
   */
  settledInStore?: true;
}

export type Recovered<O> =
  | { outcome: 'completed'; result: O; why: string }
  | { outcome: 'undone'; why: string; detail: Record<string, unknown> }
  | { outcome: 'skipped'; why: string };

export interface DesiredChange {
  set?: DesiredEntry[];
  /** Resources aws-warden deleted: their desired state goes with them. */
  forget?: string[];
}

export function defineTool<I extends z.ZodObject, O extends z.ZodObject, P>(spec: ToolSpec<I, O, P>): ToolSpec {
  return spec as unknown as ToolSpec;
}

export const isMutating = (spec: ToolSpec) => !spec.annotations.readOnlyHint;

/** The plan params of a tool whose plan carries nothing beyond its operations (reads, proposals resolved by warden:). */
export const noParams = z.object({}).strict();

/** The agent's reason for something a human will read (a proposal): at least a sentence, kept verbatim. */
export const humanReason = (what: string) => z.string().trim().min(10, 'say why in at least 10 characters').max(2000).describe(what);
