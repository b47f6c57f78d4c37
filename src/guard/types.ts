// The data the guard reads: a plan (what a call intends), the caller's policy slice, and facts from the store.
import type { ProjectPolicy, TierPolicy } from '../policy/schema.js';

export type Tags = Record<string, string>;

export interface PlannedOperation {
  /** e.g. ec2:CreateTags */
  action: string;
  target?: string;
  params?: unknown;
}

export interface TouchedResource {
  arn: string;
  change: 'create' | 'modify' | 'delete' | 'read';
  /** Tags as read under the agent's role just now; null when they could not be read. */
  tags: Tags | null;
  unreadableWhy?: string;
}

export type RiskFlag =
  | 'security_group'
  | 'nacl'
  | 'iam'
  | 'production_database'
  | 'critical_tag'
  | 'spend'
  | 'public_exposure';

export interface Plan {
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
}

export interface GuardRequest {
  agent: string;
  projectId: string;
  project: ProjectPolicy;
  tierName: string;
  tier: TierPolicy;
  tool: string;
}

export interface BudgetFacts {
  capUsd: number;
  committedUsd: number;
  reservedUsd: number;
}

export interface Facts {
  /** null until a budget ledger can answer: positive spend is then refused (fail closed). */
  budget: BudgetFacts | null;
}

export type Rule = 'tier' | 'ownership' | 'budget' | 'escalation';

export type Verdict =
  | { outcome: 'allow' }
  | { outcome: 'deny' | 'escalate'; rule: Rule; reason: string; instead: string };

export type Decision = Verdict & { checked: Rule[] };
