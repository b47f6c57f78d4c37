// The schemas a tool shows the client: its input (plus dry_run when it writes) and its output (an envelope when it writes).
import { z } from 'zod';
import { isMutating, type ToolSpec } from '../tools/tool.js';

const operation = z.object({
  action: z.string(),
  target: z.string().optional(),
  resources: z.array(z.string()).optional(),
  params: z.unknown().optional(),
});

export const planOutput = z.object({
  tool: z.string(),
  summary: z.string(),
  mutating: z.boolean(),
  operations: z.array(operation),
  resources: z.array(
    z.object({
      arn: z.string(),
      change: z.enum(['create', 'modify', 'delete', 'read']),
      tags: z.record(z.string(), z.string()).nullable(),
      unreadableWhy: z.string().optional(),
      unreadableOutage: z.boolean().optional(),
    }),
  ),
  tagsToSet: z.record(z.string(), z.string()),
  costDeltaUsdMonth: z.number().nullable(),
  riskFlags: z.array(z.string()),
  rollback: z.array(operation),
  preconditions: z.record(z.string(), z.unknown()).optional(),
  capacity: z
    .object({ service: z.string(), instanceType: z.string(), countAfter: z.number(), change: z.number(), escalateOverLimits: z.boolean() })
    .optional(),
  alternatives: z.array(z.object({ description: z.string(), costDeltaUsdMonth: z.number() })).optional(),
  locks: z.array(z.string()).optional(),
  params: z.unknown().describe('what the executor will send, exactly (part of the plan hash a human approves)'),
});

export const decisionOutput = z.object({
  outcome: z.enum(['allow', 'deny', 'escalate']),
  rule: z.string().optional(),
  reason: z.string().optional(),
  instead: z.string().optional(),
  classes: z.array(z.string()).optional(),
  checked: z.array(z.string()),
});

/** What a mutating tool answers: the result when it ran, the plan and decision for dry_run, or when it is scheduled. */
export function mutatingOutput(result: z.ZodObject) {
  return z.object({
    status: z.enum(['executed', 'dry_run', 'pending_approval', 'scheduled', 'running']),
    event_id: z
      .string()
      .describe(
        'audit event id of the approval (executed), the plan (dry_run), the escalation or the scheduling; running: the newest so far',
      ),
    decision: decisionOutput.optional().describe('absent when scheduled: the guard decides when the job runs'),
    plan: planOutput.optional(),
    result: result.optional(),
    proposal_id: z.string().optional().describe('pending_approval: what a human decides with wardenctl proposals approve|reject'),
    job_id: z
      .string()
      .optional()
      .describe('scheduled: the job that runs at the window (wardenctl schedule list|cancel); running: the job get_job reports on'),
    run_at: z.string().optional().describe('scheduled: when the window opens (UTC)'),
  });
}

export function inputSchemaOf(spec: ToolSpec): z.ZodObject {
  if (!isMutating(spec)) return spec.input;
  return spec.input.safeExtend({
    dry_run: z.boolean().default(false).describe('return the plan and the guard decision without executing anything'),
  }) as unknown as z.ZodObject;
}

export function outputSchemaOf(spec: ToolSpec): z.ZodObject {
  return isMutating(spec) ? mutatingOutput(spec.output) : spec.output;
}
