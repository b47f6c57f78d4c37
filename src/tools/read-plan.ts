// The plan of a read-only tool: no writes, no cost, nothing to roll back.
import type { Plan, PlannedOperation } from '../guard/types.js';

export function readPlan(tool: string, summary: string, operations: PlannedOperation[]): Plan<Record<string, never>> {
  return {
    tool,
    summary,
    mutating: false,
    operations,
    resources: [],
    tagsToSet: {},
    costDeltaUsdMonth: 0,
    riskFlags: [],
    rollback: [],
    params: {},
  };
}
