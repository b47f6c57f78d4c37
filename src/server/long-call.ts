// A change that outlives long_call_seconds: the client gets `status: running` and a job id at the bound, while the call
// goes on in this server, no longer tied to the request (a client that times out or leaves does not cancel it). The job
// keeps its progress and, when it settles, the answer the client would have had; get_job reports both. The record is
// the shape an MCP task needs (id, state, progress, result), so exposing it as one is a mapping.
import type { CallToolResult } from '@modelcontextprotocol/server';
import { log } from '../core/log.js';
import { succeeded, type Outcome } from '../registry/outcome.js';
import { newHolder } from '../store/holders.js';
import type { Store } from '../store/store.js';
import { toToolResult } from './result.js';

export interface LongCall {
  store: Store;
  project: string;
  agent: string;
  tool: string;
  args: unknown;
  boundSeconds: number;
  /** The call's first audit row and its newest so far. */
  rows: { first?: string; newest?: string };
  /** Stops the call following the request's cancellation. */
  detach: () => void;
  /** From the handoff on, each progress message is kept on the job too. */
  onProgress: (keep: (message: string) => void) => void;
}

/** The call's answer if it settles within the bound, else the running answer naming the job that carries it on. */
export async function answerWithin(running: Promise<Outcome>, c: LongCall): Promise<CallToolResult> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<null>((r) => (timer = setTimeout(() => r(null), c.boundSeconds * 1000)));
  const first = await Promise.race([running.then((o) => ({ o })), bound]).finally(() => clearTimeout(timer));
  if (first) return toToolResult(first.o);
  c.detach();
  let jobId: string;
  try {
    // The job follows the call's first row, never its approval: a worker that finds the job orphaned (this process
    // died) records that against the request, and the approval stays open for this agent's crash recovery to settle.
    jobId = c.store.jobs.start({
      project: c.project,
      agent: c.agent,
      tool: c.tool,
      args: c.args ?? {},
      why: `${c.tool} still running after long_call_seconds (${c.boundSeconds} s)`,
      eventId: c.rows.first ?? null,
      holder: newHolder(),
    }).id;
  } catch (e) {
    // No job can be written: the client waits for the answer instead.
    log.error(`recording the job of a long ${c.tool} failed: ${(e as Error).message}; answering when it settles`);
    return toToolResult(await running);
  }
  // Kept at most once a second (a deploy reports every batch): the job's answer comes with its end anyway.
  let kept = 0;
  c.onProgress((message) => {
    if (Date.now() - kept < 1000) return;
    kept = Date.now();
    try {
      c.store.jobs.progressed(jobId, message);
    } catch (e) {
      log.error(`recording progress of ${jobId} failed: ${(e as Error).message}`);
    }
  });
  void running.then(
    (o) => settle(c.store, jobId, o),
    (e) => settle(c.store, jobId, { status: 'failed', message: `${c.tool} failed: ${(e as Error).message}` }),
  );
  const summary = `${c.tool} is still running after ${c.boundSeconds} s (long_call_seconds); it goes on in the server as ${jobId} — get_job with job_id ${jobId} shows its progress and, once it settles, its answer`;
  const out = { status: 'running', event_id: c.rows.newest ?? c.rows.first ?? '', job_id: jobId };
  return {
    content: [
      { type: 'text', text: summary },
      { type: 'text', text: JSON.stringify(out) },
    ],
    structuredContent: out,
  };
}

function settle(store: Store, jobId: string, o: Outcome): void {
  const answer = toToolResult(o);
  const text = answer.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
  try {
    store.jobs.finish(jobId, succeeded(o) ? 'done' : 'failed', answer.structuredContent ?? { status: o.status, message: text });
  } catch (e) {
    log.error(`recording the end of ${jobId} failed: ${(e as Error).message}`);
  }
}
