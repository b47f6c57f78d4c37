// The typed end of every call through the lifecycle; the MCP server, wardenctl and the worker each present it their way.
import type { Decision, Plan } from '../guard/types.js';

export type Outcome =
  | {
      status: 'executed';
      eventId: string;
      decision: Decision;
      plan: Plan;
      result: Record<string, unknown>;
      summary: string;
      mutating: boolean;
      proposalId?: string;
    }
  | { status: 'dry_run'; eventId: string; decision: Decision; plan: Plan; summary: string }
  | { status: 'pending_approval'; eventId: string; decision: Decision; plan: Plan; proposalId: string; summary: string }
  | { status: 'scheduled'; eventId: string; jobId: string; runAt: string; summary: string }
  | { status: 'denied'; rule: string; message: string }
  | { status: 'rolled_back'; eventId: string; message: string; detail: Record<string, unknown> }
  | { status: 'failed'; message: string; eventId?: string }
  | { status: 'cancelled'; message: string; eventId?: string };

/** Whether the outcome is one the caller asked for (an error result for an agent otherwise). */
export const succeeded = (o: Outcome) =>
  o.status === 'executed' || o.status === 'dry_run' || o.status === 'pending_approval' || o.status === 'scheduled';

/** The text a person or an agent reads. */
export const textOf = (o: Outcome) => ('summary' in o ? o.summary : o.message);
