// notifications/progress as the MCP spec means them: one call's progress only ever increases. A tool reports in
// phases (objects uploaded, then seconds waited for health, then instances terminated); each new phase starts where
// the last one ended, so the numbers a client sees rise monotonically and the total grows by each phase's own total.
export type SendProgress = (progress: number, total: number | undefined, message: string) => Promise<void>;

export class ProgressStream {
  /** Where the current phase starts. */
  private base = 0;
  private phase: { done: number; total: number | undefined } | null = null;
  private last = -1;

  constructor(private readonly send: SendProgress) {}

  /** A tool's report within its current phase; a lower `done` or another `total` begins a new phase. */
  async report(done: number, total: number | undefined, message: string): Promise<void> {
    if (!Number.isFinite(done) || done < 0) return;
    const p = this.phase;
    if (p && (done < p.done || total !== p.total)) this.base += Math.max(p.total ?? 0, p.done);
    this.phase = { done, total };
    const progress = this.base + done;
    // Never the same number twice: a report that does not advance is not sent (the next one that does, is).
    if (progress <= this.last) return;
    this.last = progress;
    await this.send(progress, total === undefined ? undefined : this.base + total, message);
  }
}
