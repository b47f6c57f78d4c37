// How a lifecycle outcome reads to an MCP client: structured content for what the agent asked for, isError otherwise.
import type { CallToolResult } from '@modelcontextprotocol/server';
import { textOf, type Outcome } from '../registry/outcome.js';

function ok(summary: string, out: Record<string, unknown>): CallToolResult {
  return {
    content: [
      { type: 'text', text: summary },
      { type: 'text', text: JSON.stringify(out) },
    ],
    structuredContent: out,
  };
}

export function toToolResult(o: Outcome): CallToolResult {
  switch (o.status) {
    case 'executed':
      // A read-only tool answers with its result alone; a change with the envelope of decision, plan and result.
      return ok(
        o.summary,
        o.mutating
          ? {
              status: 'executed',
              event_id: o.eventId,
              decision: o.decision,
              plan: o.plan,
              ...(o.proposalId ? { proposal_id: o.proposalId } : {}),
              result: o.result,
            }
          : o.result,
      );
    case 'dry_run':
      return ok(o.summary, { status: 'dry_run', event_id: o.eventId, decision: o.decision, plan: o.plan });
    case 'pending_approval':
      return ok(o.summary, {
        status: 'pending_approval',
        event_id: o.eventId,
        decision: o.decision,
        plan: o.plan,
        proposal_id: o.proposalId,
      });
    case 'scheduled':
      return ok(o.summary, { status: 'scheduled', event_id: o.eventId, job_id: o.jobId, run_at: o.runAt });
    default:
      return { isError: true, content: [{ type: 'text', text: textOf(o) }] };
  }
}
