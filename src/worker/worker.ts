// The worker: runs due jobs (changes held for a deploy window, periodic drift and backup checks) and records
// proposal expiries. Every job runs through the same guarded call as an agent's own call, as that agent, with the
// full guard checked again now. A job is claimed once; a job whose worker died mid-run is never run again: it is
// marked interrupted and a human is told.
import { hostname } from 'node:os';
import type { AgentAws } from '../aws/clients.js';
import { notify } from '../notify/notify.js';
import type { Policy } from '../policy/schema.js';
import { recordExpiries } from '../proposals/expire.js';
import { resolveAgent, type AgentContext } from '../core/agent.js';
import { awsFor } from '../registry/agent-aws.js';
import { runCall } from '../registry/lifecycle.js';
import { recoverApprovedProposals, recoverOpenApprovals, type RecoveryReport } from '../registry/recover.js';
import { succeeded, textOf, type Outcome } from '../registry/outcome.js';
import type { JobRow } from '../store/jobs.js';
import type { Store } from '../store/store.js';
import { allTools } from '../tools/index.js';
import { windowRule } from '../guard/windows.js';
import { AnchorBucket, anchorClient, Anchoring } from '../anchors/anchors.js';
import { pidAlive } from '../util/process.js';

export interface PassReport {
  expired: string[];
  enqueued: string[];
  ran: { job: string; tool: string; state: 'done' | 'failed'; text: string }[];
  rescheduled: { job: string; run_at: string }[];
  interrupted: string[];
  /** Approvals whose process died before their outcome, settled in this pass. */
  recovered: RecoveryReport[];
  /** The chain's head anchored outside the store in this pass, or why it could not be (policy `anchors`). */
  anchor?: { seq: number; hash: string } | { error: string };
}

const LEASE_MS = 120_000;
const PERIODIC: { tool: string; every: (p: NonNullable<Policy['projects'][string]['operations']>) => number | undefined }[] = [
  { tool: 'check_drift', every: (o) => o.drift_check_hours },
  { tool: 'verify_backups', every: (o) => o.backup_check_hours },
];

/** `host:pid` names a worker process; on this host a dead pid means a dead worker. */
export const workerId = () => `${hostname()}:${process.pid}`;

export class Worker {
  private readonly sessions = new Map<string, AgentAws>();
  private readonly tools = new Map(allTools.map((t) => [t.name, t]));
  private readonly anchoring: Anchoring | null;

  constructor(
    private readonly store: Store,
    private readonly policy: Policy,
    readonly id: string = workerId(),
  ) {
    const cfg = policy.anchors;
    this.anchoring = cfg ? new Anchoring(cfg, new AnchorBucket(cfg, anchorClient(cfg)), store.audit, id) : null;
  }

  /** Anchors the head after the pass's own rows; a bucket that fails or is unfit is reported, never stops the jobs. */
  private async anchor(): Promise<PassReport['anchor']> {
    if (!this.anchoring) return undefined;
    try {
      const step = await this.anchoring.step();
      if (!step) return undefined;
      if (step.refused) return { error: `not anchored: ${step.refused}` };
      return step.anchored && { seq: step.anchored.seq, hash: step.anchored.hash };
    } catch (e) {
      return { error: `not anchored: ${(e as Error).name}: ${(e as Error).message}` };
    }
  }

  /** Alive: this host's process still exists, or another host's worker renewed its lease recently. */
  private alive(worker: string): boolean {
    const [host, pid] = worker.split(':');
    if (host === hostname()) return pidAlive(Number(pid));
    return this.store.locks.leaseAlive(`worker:${worker}`);
  }

  private renewLease(): void {
    this.store.locks.renewLease(`worker:${this.id}`, this.id, LEASE_MS);
  }

  private awsFor(agent: AgentContext): AgentAws {
    let aws = this.sessions.get(agent.id);
    if (!aws) this.sessions.set(agent.id, (aws = awsFor(agent, this.store)));
    return aws;
  }

  /** One pass: expiries, orphans, periodic checks, then every due job in order. */
  async runOnce(): Promise<PassReport> {
    const report: PassReport = { expired: [], enqueued: [], ran: [], rescheduled: [], interrupted: [], recovered: [] };
    this.renewLease();
    report.expired = recordExpiries(this.store, this.policy).map((p) => p.id);
    for (const j of this.store.jobs.orphaned((w) => w === this.id || this.alive(w))) {
      const why = `worker ${j.claimed_by} stopped while running this job; it is not run again — check wardenctl audit and the resources, then ask again if needed`;
      this.store.transaction(() => {
        this.store.jobs.finish(j.id, 'interrupted', { error: why });
        this.store.audit.append({
          kind: 'failed',
          agent: 'warden',
          project: j.project,
          tool: j.tool,
          follows: j.event_id,
          decision: { stage: 'worker', rule: 'interrupted', job: j.id, worker: j.claimed_by },
          result: { error: why },
        });
      });
      const project = this.policy.projects[j.project];
      if (project)
        notify(this.store, project, {
          project: j.project,
          kind: 'interrupted',
          subject: `job ${j.id} (${j.tool}) was interrupted`,
          body: { job_id: j.id, why },
        });
      report.interrupted.push(j.id);
    }
    report.recovered = await this.recoverApprovals();
    report.enqueued = this.enqueuePeriodic();
    for (const job of this.store.jobs.due()) {
      const ran = await this.run(job, report);
      if (ran) report.ran.push(ran);
    }
    report.anchor = await this.anchor();
    return report;
  }

  /**
   * Every agent's approvals with no outcome whose process is gone (an interrupted job's, a crashed server's, a human's
   * approval whose wardenctl died): settled
   * by the tool's recovery step, so no reservation, lock or resource is left behind. A live process's are skipped.
   */
  private async recoverApprovals(): Promise<RecoveryReport[]> {
    const reports: RecoveryReport[] = [];
    for (const id of Object.keys(this.policy.agents)) {
      if (this.store.audit.openApprovals(id).length === 0) continue;
      try {
        const agent = resolveAgent(this.policy, id);
        reports.push(...(await recoverOpenApprovals(this.store, agent, this.awsFor(agent), [...this.tools.values()])));
      } catch (e) {
        reports.push({ approval: '', tool: '', outcome: 'failed', why: `recovering ${id}'s approvals failed: ${(e as Error).message}` });
      }
    }
    try {
      reports.push(...(await recoverApprovedProposals(this.store, this.policy, [...this.tools.values()])));
    } catch (e) {
      reports.push({ approval: '', tool: '', outcome: 'failed', why: `recovering approved proposals failed: ${(e as Error).message}` });
    }
    return reports;
  }

  private enqueuePeriodic(): string[] {
    const now = this.store.clock();
    const added: string[] = [];
    for (const [project, p] of Object.entries(this.policy.projects)) {
      const ops = p.operations;
      if (!ops) continue;
      for (const { tool, every } of PERIODIC) {
        const hours = every(ops);
        if (!hours) continue;
        const last = this.store.jobs.lastPeriodic(project, tool);
        if (last && (last.state === 'queued' || Date.parse(last.run_at) + hours * 3_600_000 > now.getTime())) continue;
        added.push(this.store.jobs.create({ project, agent: ops.agent, tool, args: {}, runAt: now, why: `periodic: every ${hours} h` }).id);
      }
    }
    return added;
  }

  private async run(job: JobRow, report: PassReport): Promise<PassReport['ran'][number] | null> {
    const spec = this.tools.get(job.tool);
    const args = JSON.parse(job.args) as Record<string, unknown>;
    let agent: AgentContext | undefined;
    let refused: string | null = null;
    try {
      agent = resolveAgent(this.policy, job.agent);
      if (agent.projectId !== job.project)
        refused = `${job.agent} now belongs to project ${agent.projectId}, not ${job.project}: the job is not run for another project`;
    } catch (e) {
      refused = `cannot run as ${job.agent}: ${(e as Error).message}`;
    }
    if (!spec) refused ??= `tool ${job.tool} is not served by this aws-warden`;
    if (agent && spec && !refused) {
      // A window that closed again (the worker was down at its opening) holds the job for the next one.
      const window = windowRule(agent.project.windows, spec.environmentOf?.(args as never, agent) ?? null, this.store.clock());
      if (window.outcome === 'queue') {
        this.store.jobs.reschedule(job.id, window.runAt);
        report.rescheduled.push({ job: job.id, run_at: window.runAt.toISOString() });
        return null;
      }
    }
    if (!this.store.jobs.claim(job.id, this.id)) return null;
    if (refused || !agent || !spec) return this.finish(job, 'failed', refused ?? 'cannot run', null);
    const heartbeat = setInterval(() => this.renewLease(), LEASE_MS / 4);
    try {
      const outcome = await runCall(
        spec,
        args,
        { agent, aws: this.awsFor(agent), store: this.store },
        {
          signal: new AbortController().signal,
          progress: async () => {},
          tools: allTools,
          scheduledJob: job.id,
        },
      );
      return this.finish(job, succeeded(outcome) ? 'done' : 'failed', textOf(outcome), structuredOf(outcome));
    } catch (e) {
      return this.finish(job, 'failed', `job ${job.id} failed: ${(e as Error).message}`, null);
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Records the outcome; humans hear of failed jobs and of drift a periodic check found (backup failures notify from verify_backups). */
  private finish(job: JobRow, state: 'done' | 'failed', text: string, structured: unknown): PassReport['ran'][number] {
    this.store.jobs.finish(job.id, state, state === 'failed' && structured === null ? { error: text } : { text, structured });
    const project = this.policy.projects[job.project];
    const drift = job.tool === 'check_drift' ? ((structured as { drift?: unknown[] } | null)?.drift ?? []) : [];
    if (project && state === 'failed')
      notify(this.store, project, {
        project: job.project,
        kind: 'failed',
        subject: `job ${job.id} (${job.tool}) failed`,
        body: { job_id: job.id, text },
      });
    else if (project && drift.length)
      notify(this.store, project, {
        project: job.project,
        kind: 'drift',
        subject: `${drift.length} drift(s) in ${job.project}`,
        body: { job_id: job.id, drift },
      });
    return { job: job.id, tool: job.tool, state, text };
  }
}

/** `aws-warden worker`: a pass every `intervalSeconds` until stopped (or one pass with once); how many jobs failed. */
export async function runWorker(
  store: Store,
  policy: Policy,
  opts: { once: boolean; intervalSeconds: number; log: (line: string) => void },
): Promise<{ failed: number }> {
  const worker = new Worker(store, policy);
  let failed = 0;
  let stopping = false;
  const stop = () => (stopping = true);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  do {
    const r = await worker.runOnce();
    for (const x of r.ran) opts.log(`job ${x.job} ${x.tool}: ${x.state} — ${x.text.split('\n')[0]}`);
    failed += r.ran.filter((x) => x.state === 'failed').length;
    for (const x of r.rescheduled) opts.log(`job ${x.job}: window closed, moved to ${x.run_at}`);
    for (const x of r.interrupted) opts.log(`job ${x}: interrupted (its worker died); not run again`);
    for (const x of r.recovered) opts.log(`recovered ${x.tool} approval ${x.approval}: ${x.outcome} (${x.why})`);
    failed += r.recovered.filter((x) => x.outcome === 'failed').length;
    if (r.anchor && 'error' in r.anchor) failed++;
    for (const x of r.expired) opts.log(`proposal ${x}: expired`);
    if (r.anchor) opts.log('error' in r.anchor ? r.anchor.error : `anchored the chain at #${r.anchor.seq} (${r.anchor.hash})`);
    if (opts.once || stopping) break;
    await new Promise((resolve) => setTimeout(resolve, opts.intervalSeconds * 1000));
  } while (!stopping);
  return { failed };
}

/** What a job keeps of its outcome for get_job: the tool's answer as data. */
function structuredOf(o: Outcome): Record<string, unknown> | null {
  switch (o.status) {
    case 'executed':
      return o.mutating ? { status: 'executed', event_id: o.eventId, decision: o.decision, plan: o.plan, result: o.result } : o.result;
    case 'dry_run':
    case 'pending_approval':
      return { status: o.status, event_id: o.eventId, ...(o.status === 'pending_approval' ? { proposal_id: o.proposalId } : {}) };
    case 'scheduled':
      return { status: 'scheduled', job_id: o.jobId, run_at: o.runAt };
    default:
      return null;
  }
}
