// get_job: the agent checks a change held for a deploy window, a change that outlived long_call_seconds, or a periodic
// check: queued, running (with its progress), done, failed, what it did.
import { z } from 'zod';
import type { ToolPorts } from '../core/ports.js';
import { readPlan } from './read-plan.js';
import { Refusal } from '../core/errors.js';
import { defineTool, noParams } from './tool.js';

export const name = 'get_job';

const output = z.object({
  job_id: z.string(),
  state: z.string().describe('queued, running, done, failed, cancelled or interrupted'),
  tool: z.string(),
  requested_by: z.string(),
  run_at: z.string().describe('when it runs (or ran), UTC'),
  why: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  result: z.unknown().nullable().describe('the answer the tool gave when the job ran'),
  progress: z.string().nullable().describe('while running: its latest progress'),
});

function find(ports: ToolPorts, project: string, id: string) {
  const job = ports.jobs.get(id);
  // Another project's job is reported exactly like a missing one.
  if (!job || job.project !== project) throw new Refusal(`job_id ${id}: no such job in project ${project}`);
  return job;
}

export const getJob = defineTool({
  name,
  title: 'Check a scheduled job',
  description:
    'Shows a job of your project: a change held for its deploy window (after a scheduled answer), a change still running after long_call_seconds (after a running answer), or a periodic check. Whether it is queued, running (and how far it got), done, failed or was cancelled by a human, and what it answered.',
  input: z.object({ job_id: z.string().regex(/^job-[0-9a-f]{8}$/, 'a job id such as job-0123abcd') }).strict(),
  output,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  iam: {},
  params: noParams,
  async plan(args, { agent, ports }) {
    find(ports, agent.projectId, args.job_id);
    return readPlan(name, 'read a job', []);
  },
  async execute(_plan, args, { agent, ports }) {
    const j = find(ports, agent.projectId, args.job_id);
    return {
      job_id: j.id,
      state: j.state,
      tool: j.tool,
      requested_by: j.agent,
      run_at: j.run_at,
      why: j.why,
      started_at: j.started_at,
      finished_at: j.finished_at,
      result: j.result === null ? null : JSON.parse(j.result),
      progress: j.progress,
    };
  },
  summarize: (o) => `${o.job_id} (${o.tool}): ${o.state}, ${o.state === 'queued' ? 'runs' : 'was due'} at ${o.run_at}`,
});
