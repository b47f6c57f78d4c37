// One call's state as it moves through the lifecycle: who acts (an agent, or a human approving for one), its audit
// rows, the locks it holds, and the helpers every stage records, tells and reviews through.
import type { AgentAws } from '../aws/clients.js';
import type { AgentContext } from '../core/agent.js';
import { log } from '../core/log.js';
import { notify, type Notice } from '../notify/notify.js';
import type { GuardRequest } from '../guard/types.js';
import type { AuditRow, NewEvent } from '../store/audit.js';
import type { Admission, Bucket } from '../store/rate-limits.js';
import type { Store } from '../store/store.js';
import type { ToolSpec } from '../tools/tool.js';
import { reviewTrust, type Incident } from '../trust/tiers.js';
import { guardRequest } from './decide.js';
import { limitMessage } from './limits.js';
import type { Outcome } from './outcome.js';

/** A lock outlives no call by much: a crashed holder frees it after this (or at once, on its host, once its pid is gone). */
export const LOCK_TTL_MS = 30 * 60_000;
export const LOCK_WAIT_MS = 60_000;

export class Call {
  /** Lock keys this call holds, with their holder tokens. */
  readonly locks = new Map<string, string>();
  /** AWS request ids of every command sent for this call. */
  readonly requestIds: string[] = [];
  /** The call's deadline: aborts its AWS requests and waits when it passes (agent calls; set by the lifecycle). */
  deadline: { signal: AbortSignal; seconds: number } | null = null;
  /** The client's own cancellation (notifications/cancelled), as distinct from the deadline. */
  cancel: { signal: AbortSignal; by: string } | null = null;
  /** Told each row this call writes. */
  onRecorded?: (eventId: string) => void;
  /** The call's slot among the agent's calls in flight, while it holds one. */
  private slot: string | null = null;
  /**
   * A read-only call writes one row, after the read: what it asked, and what the decision adds to it (the policy in
   * force). Set until that row is written; whatever the call ends with (its answer, a denial, a failure) is that row.
   */
  private oneRow: { asked: unknown; decision: Record<string, unknown> } | null = null;

  constructor(
    readonly spec: ToolSpec,
    readonly store: Store,
    /** The agent the change is for (the proposer, when a human approves). */
    readonly agent: AgentContext,
    readonly aws: AgentAws,
    /** Who the audit names as acting: the agent's id, or `human:<name>`. */
    readonly actor: string,
  ) {}

  /** Why the client cancelled this call, when it did: who asked, and the reason it gave. */
  get cancelledBy(): { by: string; reason: string } | null {
    const c = this.cancel;
    if (!c?.signal.aborted) return null;
    const reason = c.signal.reason;
    return { by: c.by, reason: typeof reason === 'string' && reason ? reason : 'no reason given' };
  }

  /** What the guard is asked about: this tool, for the agent the change is for, in the tier in force. */
  get guardRequest(): GuardRequest {
    return guardRequest(this.agent, this.spec.name);
  }

  /** Takes each lock in turn; the first that cannot be had is the refusal, recorded and returned. */
  async lockAll(keys: readonly (string | undefined)[], follows: string | null): Promise<Outcome | null> {
    for (const key of keys) {
      if (!key) continue;
      const busy = await this.lock(key);
      if (busy)
        return this.refuse(
          'denied',
          follows,
          { outcome: 'deny', rule: 'concurrency', reason: busy },
          `${this.spec.name} refused: ${busy}; nothing was done`,
        );
    }
    return null;
  }

  /** From now on this call writes one row, when it ends: a read-only call (see oneRow). */
  recordOnce(asked: unknown, decision: Record<string, unknown>): void {
    this.oneRow = { asked, decision };
  }

  record(e: Omit<NewEvent, 'agent' | 'project' | 'tool'>): AuditRow {
    const row = this.write(e);
    this.onRecorded?.(row.id);
    return row;
  }

  private write(e: Omit<NewEvent, 'agent' | 'project' | 'tool'>): AuditRow {
    const base = { agent: this.actor, project: this.agent.projectId, tool: this.spec.name };
    const one = this.oneRow;
    if (!one) return this.store.audit.append({ ...base, ...e });
    // The read's only row: its arguments and decision together; a plan a refusal shows goes with the decision. The call
    // slot is freed in the same commit, so a read costs its admission and this one commit.
    const { request, ...rest } = e;
    const decision = {
      ...one.decision,
      ...((e.decision as object | undefined) ?? {}),
      ...(request === undefined ? {} : { plan: request }),
    };
    return this.store.transaction(() => {
      const row = this.store.audit.append({ ...base, ...rest, follows: null, asked: one.asked, decision });
      this.oneRow = null;
      if (this.slot) this.store.rates.leave(this.slot);
      this.slot = null;
      return row;
    });
  }

  get roleArn(): string | null {
    return this.aws.session.assumedRoleArn ?? null;
  }

  /** Records a refusal and returns it as the outcome; if even that row cannot be written, the answer still goes out. */
  refuse(
    kind: 'denied' | 'failed' | 'cancelled',
    follows: string | null,
    decision: object,
    message: string,
    extra: Partial<NewEvent> = {},
  ): Outcome {
    let row: AuditRow | null = null;
    try {
      row = this.record({ kind, decision, follows, roleArn: this.roleArn, ...extra });
    } catch (e) {
      log.error(`audit append failed: ${(e as Error).message}`);
    }
    if (kind === 'failed') return { status: 'failed', message };
    if (kind === 'cancelled') return { status: 'cancelled', eventId: follows ?? row?.id ?? '', message };
    return { status: 'denied', rule: String((decision as { rule?: unknown }).rule ?? 'input'), message };
  }

  /** Humans hear of rollbacks and escalations; a failure to record the notice never blocks the answer. */
  tell(n: Omit<Notice, 'project'>): void {
    try {
      notify(this.store, this.agent.project, { ...n, project: this.agent.projectId });
    } catch (e) {
      log.error(`notification failed: ${(e as Error).message}`);
    }
  }

  /** The trust review of the agent the change was for: demotion on an incident, promotion when earned. */
  review(...incidents: Incident[]): void {
    try {
      reviewTrust(this.store, this.agent, incidents);
    } catch (e) {
      log.error(`trust review failed: ${(e as Error).message}`);
    }
  }

  /** Takes `key` (waiting up to LOCK_WAIT_MS); null when taken, else why not. */
  async lock(key: string, held?: ReadonlySet<string>): Promise<string | null> {
    if (this.locks.has(key) || held?.has(key)) return null;
    let holder: string | null;
    try {
      holder = await this.store.locks.acquire(key, LOCK_TTL_MS, LOCK_WAIT_MS);
    } catch (e) {
      return `cannot take the ${key} lock (${(e as Error).message})`;
    }
    if (!holder) return `another change to ${key} is still running after ${LOCK_WAIT_MS / 1000}s; retry when it finishes`;
    this.locks.set(key, holder);
    return null;
  }

  /**
   * Takes one token of each bucket and a slot among the agent's calls in flight, or nothing (a flood limit reached).
   * Runs inside the transaction that writes the call's first row, so admitting a call costs no commit of its own.
   */
  takeSlot(buckets: readonly Bucket[], maxInFlight: number): Admission {
    const a = this.store.rates.admit(this.agent.id, this.spec.name, buckets, maxInFlight);
    if (a.ok) this.slot = a.slot;
    return a;
  }

  /** The recorded refusal of a call past a flood limit, saying when a retry can pass. */
  refuseLimit(follows: string | null, a: Extract<Admission, { ok: false }>): Outcome {
    const reason = limitMessage(this.agent.id, a);
    const retry = a.retryAfterMs === null ? {} : { retry_after_seconds: Math.ceil(a.retryAfterMs / 1000) };
    return this.refuse(
      'denied',
      follows,
      { outcome: 'deny', rule: 'rate_limit', limit: a.limit, reason, ...retry },
      `${this.spec.name} refused by the ${reason}; nothing was done`,
    );
  }

  /** Releases every lock and the call slot; a store that cannot be written leaves them to expire, which is logged, never thrown. */
  unlock(): void {
    for (const [key, holder] of this.locks) {
      try {
        this.store.locks.release(key, holder);
      } catch (e) {
        log.error(`releasing lock ${key} failed (it expires by itself): ${(e as Error).message}`);
      }
    }
    this.locks.clear();
    if (this.slot) {
      try {
        this.store.rates.leave(this.slot);
      } catch (e) {
        log.error(`freeing the call slot failed (it is freed when this process ends): ${(e as Error).message}`);
      }
      this.slot = null;
    }
  }
}
