// Scheduled jobs: changes held for a deploy window and the worker's periodic checks. A job is claimed once, in one
// transaction; a claim whose worker died is never run again, only marked interrupted for a human to look at.
import { randomUUID } from 'node:crypto';
import { stmt, type Db } from './db.js';

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';

export interface JobRow {
  id: string;
  project: string;
  agent: string;
  tool: string;
  args: string;
  run_at: string;
  why: string;
  state: JobState;
  event_id: string | null;
  created_at: string;
  claimed_by: string | null;
  started_at: string | null;
  finished_at: string | null;
  result: string | null;
  /** A running call's latest progress message (a change handed to a job after long_call_seconds). */
  progress: string | null;
}

export interface NewJob {
  project: string;
  agent: string;
  tool: string;
  args: unknown;
  runAt: Date;
  why: string;
  eventId?: string | null;
}

export class Jobs {
  constructor(
    private readonly db: Db,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  create(j: NewJob): JobRow {
    const id = `job-${randomUUID().slice(0, 8)}`;
    stmt(
      this.db,
      `INSERT INTO jobs (id, project, agent, tool, args, run_at, why, state, event_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)`,
    ).run(
      id,
      j.project,
      j.agent,
      j.tool,
      JSON.stringify(j.args ?? {}),
      j.runAt.toISOString(),
      j.why,
      j.eventId ?? null,
      this.clock().toISOString(),
    );
    return this.get(id) as JobRow;
  }

  /**
   * A call still running past long_call_seconds becomes a job of the process running it (`holder`, host:pid:uuid):
   * already running, never claimed by a worker; if that process dies, the worker marks it interrupted.
   */
  start(j: Omit<NewJob, 'runAt'> & { holder: string }): JobRow {
    const id = `job-${randomUUID().slice(0, 8)}`;
    const now = this.clock().toISOString();
    stmt(
      this.db,
      `INSERT INTO jobs (id, project, agent, tool, args, run_at, why, state, event_id, created_at, claimed_by, started_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)`,
    ).run(id, j.project, j.agent, j.tool, JSON.stringify(j.args ?? {}), now, j.why, j.eventId ?? null, now, j.holder, now);
    return this.get(id) as JobRow;
  }

  /** The latest progress of a running job. */
  progressed(id: string, message: string): void {
    stmt(this.db, "UPDATE jobs SET progress = ? WHERE id = ? AND state = 'running'").run(message.slice(0, 500), id);
  }

  get(id: string): JobRow | undefined {
    return stmt(this.db, 'SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
  }

  list(opts: { state?: JobState; project?: string; limit?: number } = {}): JobRow[] {
    return stmt(
      this.db,
      `SELECT * FROM jobs WHERE (CAST(? AS TEXT) IS NULL OR state = ?) AND (CAST(? AS TEXT) IS NULL OR project = ?) ORDER BY run_at, created_at LIMIT ?`,
    ).all(opts.state ?? null, opts.state ?? null, opts.project ?? null, opts.project ?? null, opts.limit ?? 200) as JobRow[];
  }

  /** Queued jobs whose time has come, oldest first. */
  due(now: Date = this.clock()): JobRow[] {
    return stmt(this.db, "SELECT * FROM jobs WHERE state = 'queued' AND run_at <= ? ORDER BY run_at, created_at").all(
      now.toISOString(),
    ) as JobRow[];
  }

  /** Takes a queued job for `worker`; false when another worker (or a cancel) got there first. */
  claim(id: string, worker: string): boolean {
    return (
      stmt(this.db, "UPDATE jobs SET state = 'running', claimed_by = ?, started_at = ? WHERE id = ? AND state = 'queued'").run(
        worker,
        this.clock().toISOString(),
        id,
      ).changes === 1
    );
  }

  /** A queued job whose window closed again before it ran waits for the next opening. */
  reschedule(id: string, runAt: Date): void {
    stmt(this.db, "UPDATE jobs SET run_at = ? WHERE id = ? AND state = 'queued'").run(runAt.toISOString(), id);
  }

  finish(id: string, state: 'done' | 'failed' | 'interrupted', result: unknown): void {
    stmt(this.db, 'UPDATE jobs SET state = ?, result = ?, finished_at = ? WHERE id = ?').run(
      state,
      JSON.stringify(result),
      this.clock().toISOString(),
      id,
    );
  }

  /** Cancels a job that has not started; false when it is not queued (running, finished, unknown). */
  cancel(id: string, by: string): boolean {
    return (
      stmt(this.db, "UPDATE jobs SET state = 'cancelled', result = ?, finished_at = ? WHERE id = ? AND state = 'queued'").run(
        JSON.stringify({ cancelled_by: by }),
        this.clock().toISOString(),
        id,
      ).changes === 1
    );
  }

  /** Jobs left running by a worker that is gone (no process holds them): never re-run, handed to a human. */
  orphaned(liveWorkers: (worker: string) => boolean): JobRow[] {
    return (stmt(this.db, "SELECT * FROM jobs WHERE state = 'running'").all() as JobRow[]).filter(
      (j) => !j.claimed_by || !liveWorkers(j.claimed_by),
    );
  }

  /** The newest periodic job of a tool for a project, whatever its state (the worker's interval is measured from it). */
  lastPeriodic(project: string, tool: string): JobRow | undefined {
    return stmt(this.db, "SELECT * FROM jobs WHERE project = ? AND tool = ? AND why LIKE 'periodic%' ORDER BY run_at DESC LIMIT 1").get(
      project,
      tool,
    ) as JobRow | undefined;
  }
}
