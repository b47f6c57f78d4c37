// What each step of the scripted demo should come to, and the steps that did not: a demo that missed one exits 1
// naming it, never "chain verified" over a deploy that was refused.
import { callTool, type ToolClient, type ToolResult } from './tool-client.js';

/** ok: allowed and done; error: refused or failed (and undone); pending: a proposal; scheduled: held for a window. */
export type Expect = 'ok' | 'error' | 'pending' | 'scheduled';

export interface StepAnswer {
  got: Expect;
  text: string;
  structured: Record<string, unknown> | undefined;
}

export type Out = (s: string) => void;

export class Script {
  readonly missed: string[] = [];

  constructor(private readonly out: Out) {}

  /** Records a step whose result was not the one the script shows. */
  check(step: string, ok: boolean, saw: string): void {
    if (ok) return;
    this.missed.push(`${step}: ${saw}`);
    this.out(`  ✗✗ the demo expected otherwise here: ${saw}`);
  }

  /** Calls a tool, prints the answer the way the demo does, and checks it came to `expect`. */
  async call(client: ToolClient, agent: string, tool: string, args: Record<string, unknown>, expect: Expect): Promise<StepAnswer> {
    const res = await settled(client, await callTool(client, tool, args));
    const text = (res.content as { type: string; text: string }[]).find((c) => c.type === 'text')?.text ?? '';
    const structured = res.structuredContent as Record<string, unknown> | undefined;
    const status = structured?.status;
    const got: Expect = res.isError ? 'error' : status === 'pending_approval' ? 'pending' : status === 'scheduled' ? 'scheduled' : 'ok';
    this.check(`${agent} ${tool}`, got === expect, `${tool} came to "${got}", the demo expected "${expect}": ${text.split('\n')[0]}`);
    return { got, text, structured };
  }

  /** The closing verdict: 0 when every step came to what the demo shows. */
  verdict(): number {
    if (this.missed.length === 0) return 0;
    this.out(`\nDEMO FAILED: ${this.missed.length} step(s) did not come to the result the demo shows:`);
    for (const m of this.missed) this.out(`  - ${m}`);
    return 1;
  }
}

type Answer = ToolResult;

/**
 * What a patient client does with a change still running past long_call_seconds: it asks get_job until the job
 * settles, and takes the job's answer as the call's (an error answer when it failed).
 */
async function settled(client: ToolClient, res: Answer): Promise<Answer> {
  const first = res.structuredContent as { status?: string; job_id?: string } | undefined;
  if (res.isError || first?.status !== 'running' || !first.job_id) return res;
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const job = (await callTool(client, 'get_job', { job_id: first.job_id })).structuredContent as
      { state?: string; result?: Record<string, unknown> | null } | undefined;
    if (job?.state === 'running') continue;
    const result = job?.result ?? {};
    const ok = job?.state === 'done';
    return {
      isError: !ok,
      content: [{ type: 'text', text: `${first.job_id} ${job?.state ?? 'unknown'}: ${String(result.message ?? JSON.stringify(result))}` }],
      ...(ok ? { structuredContent: result } : {}),
    } as Answer;
  }
}
