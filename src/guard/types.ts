// The data the guard reads: a plan (what a call intends), the caller's policy slice, and facts from the store.
import type { ProjectPolicy, TierPolicy } from '../policy/schema.js';

export type Tags = Record<string, string>;

export interface PlannedOperation {
  /** The API operation, `service:Operation` (e.g. ec2:CreateTags): the AWS layer admits exactly these. */
  action: string;
  target?: string;
  /** Resource ids this operation acts on, when they are not just `target` (the AWS layer admits only these). */
  resources?: string[];
  /** What a human reads about this step; executors take what they send from the plan's typed `params`. */
  params?: unknown;
}

export interface TouchedResource {
  arn: string;
  change: 'create' | 'modify' | 'delete' | 'read';
  /** Tags as read under the agent's role just now; null when they could not be read. */
  tags: Tags | null;
  unreadableWhy?: string;
  /** The tags could not be read because AWS did not answer (a network error or an outage), not because access was refused. */
  unreadableOutage?: boolean;
}

export type RiskFlag =
  | 'security_group'
  | 'nacl'
  | 'iam'
  | 'production_database'
  | 'critical_tag'
  | 'spend'
  | 'public_exposure'
  | 'budget_increase'
  | 'production_deploy'
  | 'deletion';

export interface Plan<P = unknown> {
  tool: string;
  summary: string;
  mutating: boolean;
  operations: PlannedOperation[];
  resources: TouchedResource[];
  /** Tags this plan will set on resources, server tags included. */
  tagsToSet: Tags;
  /** Change in projected monthly cost; null when a price is unknown (which the budget rule denies). */
  costDeltaUsdMonth: number | null;
  riskFlags: RiskFlag[];
  /** Steps that undo the plan, made before it runs. */
  rollback: PlannedOperation[];
  /** What the plan assumed about the world (e.g. a security group's current rules); approval re-checks it. */
  preconditions?: Record<string, unknown>;
  /** For capacity changes: what the tier's limits are checked against. */
  capacity?: {
    service: string;
    instanceType: string;
    /** Instances the service will have after the change. */
    countAfter: number;
    /** Instances launched plus instances terminated by this call. */
    change: number;
    /** The service's policy asks for a human rather than a refusal past a tier limit. */
    escalateOverLimits: boolean;
  };
  /** Cheaper variants the planner knows of, so a budget refusal can name one that fits. */
  alternatives?: { description: string; costDeltaUsdMonth: number }[];
  /** Store-wide locks the plan found it needs beyond the tool's own (a drift repair of a service takes the service's). */
  locks?: string[];
  /**
   * Everything the executor sends, typed by the tool's own schema and checked when the plan is made and whenever it is
   * read back (a proposal, a job, a recovery). It is part of the plan a human approves, so of its hash.
   */
  params: P;
}

export interface GuardRequest {
  agent: string;
  projectId: string;
  project: ProjectPolicy;
  tierName: string;
  tier: TierPolicy;
  tool: string;
}

/** Whole cents per month: the cap (policy plus approved increases), what is held, what is reserved. */
export interface BudgetFacts {
  capCents: number;
  committedCents: number;
  reservedCents: number;
}

export interface Facts {
  /** null when the ledger cannot answer (e.g. a held resource has no known price): new spending is refused. */
  budget: BudgetFacts | null;
}

export type Rule = 'tier' | 'limits' | 'ownership' | 'budget' | 'escalation' | 'pending_proposals';

/** What kind of thing a human is asked about; the policy may allow in-client consent for some. */
export type EscalationClass = RiskFlag | 'limits' | 'tier_policy';

export type Verdict =
  { outcome: 'allow' } | { outcome: 'deny' | 'escalate'; rule: Rule; reason: string; instead: string; classes?: EscalationClass[] };

export type Decision = Verdict & { checked: Rule[] };
