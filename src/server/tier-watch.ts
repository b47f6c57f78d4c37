// notifications/tools/list_changed when the agent's tier changes: after a call (an automatic demotion or promotion),
// and every few seconds (a human's `wardenctl trust set` in another process), so a client stops offering lost tools.
export class TierWatch {
  private last: string | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly tierName: () => string,
    private readonly changed: () => void,
    private readonly everyMs = 5000,
  ) {}

  /** The tier a client was shown (tools/list): the one to compare with. */
  seen(tier: string): void {
    this.last = tier;
  }

  /** Tells the client once when the tier in force is no longer the one it was shown. */
  check(): void {
    if (this.last === null) return;
    let now: string;
    try {
      now = this.tierName();
    } catch {
      return; // a store being closed: nothing to tell
    }
    if (now === this.last) return;
    this.last = now;
    this.changed();
  }

  start(): void {
    this.timer ??= setInterval(() => this.check(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
