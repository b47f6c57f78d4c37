// The append-only, hash-chained audit log: every tool call leaves its requested → decision → outcome rows here.
import { randomUUID } from 'node:crypto';
import { boundedJson } from './bounded.js';
import { chainHash } from './chain.js';
import { stmt, type Db } from './db.js';
import { canonicalJson } from '../util/canonical.js';

export const GENESIS_HASH = '0'.repeat(64);

export type EventKind =
  | 'requested'
  | 'denied'
  | 'escalated'
  | 'planned'
  | 'approved'
  | 'executed'
  | 'failed'
  | 'rolled_back'
  /** The client cancelled the call: what it had done is undone, and it never counts against the agent. */
  | 'cancelled';

export interface NewEvent {
  kind: EventKind;
  agent: string;
  project: string;
  tool: string;
  action?: string | null;
  request?: unknown;
  decision?: unknown;
  result?: unknown;
  roleArn?: string | null;
  requestIds?: string[] | null;
  follows?: string | null;
}

/** A row as stored: JSON fields are canonical JSON text, so the hash covers exactly these bytes. */
export interface AuditRow {
  seq: number;
  id: string;
  ts: string;
  kind: EventKind;
  agent: string;
  project: string;
  tool: string;
  action: string | null;
  request: string | null;
  decision: string | null;
  result: string | null;
  role_arn: string | null;
  request_ids: string | null;
  follows: string | null;
  prev_hash: string;
  hash: string;
}

const COLUMNS = [
  'seq',
  'id',
  'ts',
  'kind',
  'agent',
  'project',
  'tool',
  'action',
  'request',
  'decision',
  'result',
  'role_arn',
  'request_ids',
  'follows',
] as const;

/**
 * The exact bytes each row's hash covers: SQLite's json_array of its columns in this order. Rendered by
 * SQLite on append and on verify alike, so a verifier needs only SQLite and SHA-256:
 * hash = sha256(prev_hash + "\n" + json_array(seq, id, ts, kind, agent, project, tool, action, request,
 *        decision, result, role_arn, request_ids, follows)).
 */
const BODY_SQL = `json_array(${COLUMNS.join(', ')})`;

export { chainHash, registerChainHash } from './chain.js';

const json = (v: unknown) => (v === undefined || v === null ? null : canonicalJson(v));

export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Appends one event in its own immediate transaction, so concurrent writers keep one linear chain. */
  append(e: NewEvent): AuditRow {
    const insert = this.db.transaction((): AuditRow => {
      const last = stmt(this.db, 'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').get() as
        { seq: number; hash: string } | undefined;
      const seq = (last?.seq ?? 0) + 1;
      const prev = last?.hash ?? GENESIS_HASH;
      const fields = [
        seq,
        randomUUID(),
        this.clock().toISOString(),
        e.kind,
        e.agent,
        e.project,
        e.tool,
        e.action ?? null,
        // An agent's arguments and any result are kept bounded; decisions and plans are the warden's own, kept whole.
        e.kind === 'requested' ? boundedJson(e.request) : json(e.request),
        json(e.decision),
        boundedJson(e.result),
        e.roleArn ?? null,
        json(e.requestIds),
        e.follows ?? null,
      ] as const;
      // seq is cast because a bound JS number is a REAL, and json_array would render it "1.0".
      const values = COLUMNS.map((c, i) => (i === 0 ? `CAST(? AS INTEGER) AS ${c}` : `? AS ${c}`)).join(', ');
      const { hash } = stmt(
        this.db,
        `INSERT INTO audit_events (${COLUMNS.join(', ')}, prev_hash, hash)
         SELECT ${COLUMNS.join(', ')}, ?, warden_chain_hash(?, ${BODY_SQL}) FROM (SELECT ${values})
         RETURNING hash`,
      ).get(prev, prev, ...fields) as { hash: string };
      const row = Object.fromEntries(COLUMNS.map((c, i) => [c, fields[i]])) as unknown as AuditRow;
      return { ...row, prev_hash: prev, hash };
    });
    return insert.immediate();
  }

  /**
   * The outcome of a change that ran and was undone by its rollback plan: `executed` (what ran, following the
   * approval, which closes it) then `rolled_back` (why, following the execution), in one transaction.
   */
  appendRolledBack(e: Omit<NewEvent, 'kind' | 'follows'> & { approvalId: string; ran: unknown }): AuditRow {
    return this.db
      .transaction(() => {
        const { approvalId, ran, ...base } = e;
        const executed = this.append({ ...base, kind: 'executed', follows: approvalId, result: ran });
        return this.append({ ...base, kind: 'rolled_back', follows: executed.id });
      })
      .immediate();
  }

  /**
   * True when `id` is a committed "approved" event of this agent whose outcome is not yet recorded:
   * the AWS layer's permit to write. Once executed/failed/rolled_back follows it, it permits nothing.
   */
  isOpenApproval(id: string, agent: string): boolean {
    const row = stmt(
      this.db,
      `SELECT e.kind, e.agent,
              EXISTS (SELECT 1 FROM audit_events o WHERE o.follows = e.id
                      AND o.kind IN ('executed', 'failed', 'rolled_back', 'cancelled')) AS closed
       FROM audit_events e WHERE e.id = ?`,
    ).get(id) as { kind: string; agent: string; closed: number } | undefined;
    return row?.kind === 'approved' && row.agent === agent && row.closed === 0;
  }

  /** Approvals of `agent` with no outcome yet, oldest first: after a crash, what recovery must settle. */
  openApprovals(agent: string): AuditRow[] {
    return stmt(
      this.db,
      `SELECT e.* FROM audit_events e WHERE e.kind = 'approved' AND e.agent = ?
         AND NOT EXISTS (SELECT 1 FROM audit_events o WHERE o.follows = e.id AND o.kind IN ('executed', 'failed', 'rolled_back', 'cancelled'))
       ORDER BY e.seq`,
    ).all(agent) as AuditRow[];
  }

  /** Approvals humans gave (`human:<name>`) with no outcome yet, oldest first. */
  openHumanApprovals(): AuditRow[] {
    return stmt(
      this.db,
      `SELECT e.* FROM audit_events e WHERE e.kind = 'approved' AND e.agent LIKE 'human:%'
         AND NOT EXISTS (SELECT 1 FROM audit_events o WHERE o.follows = e.id AND o.kind IN ('executed', 'failed', 'rolled_back', 'cancelled'))
       ORDER BY e.seq`,
    ).all() as AuditRow[];
  }

  /** Rows that follow event `id`, oldest first. */
  followers(id: string): AuditRow[] {
    return stmt(this.db, 'SELECT * FROM audit_events WHERE follows = ? ORDER BY seq').all(id) as AuditRow[];
  }

  /** Whether one row still hashes to what it says and links to the row before it (a spot check of the chain). */
  rowIntact(seq: number): boolean {
    const row = stmt(this.db, `SELECT prev_hash, hash, ${BODY_SQL} AS body FROM audit_events WHERE seq = ?`).get(seq) as
      { prev_hash: string; hash: string; body: string } | undefined;
    if (!row || chainHash(row.prev_hash, row.body) !== row.hash) return false;
    const before =
      seq > 1
        ? (stmt(this.db, 'SELECT hash FROM audit_events WHERE seq = ?').get(seq - 1) as { hash: string } | undefined)
        : { hash: GENESIS_HASH };
    return before?.hash === row.prev_hash;
  }

  /** The row whose hash is `hash`, if any (wardenctl audit verify --head). */
  seqOfHash(hash: string): { seq: number } | undefined {
    return stmt(this.db, 'SELECT seq FROM audit_events WHERE hash = ?').get(hash) as { seq: number } | undefined;
  }

  get(id: string): AuditRow | undefined {
    return stmt(this.db, 'SELECT * FROM audit_events WHERE id = ?').get(id) as AuditRow | undefined;
  }

  /** The newest `limit` events (oldest first), optionally of one agent. */
  tail(opts: { agent?: string; limit?: number } = {}): AuditRow[] {
    const limit = opts.limit ?? 20;
    const rows = opts.agent
      ? stmt(this.db, 'SELECT * FROM audit_events WHERE agent = ? ORDER BY seq DESC LIMIT ?').all(opts.agent, limit)
      : stmt(this.db, 'SELECT * FROM audit_events ORDER BY seq DESC LIMIT ?').all(limit);
    return (rows as AuditRow[]).reverse();
  }

  /** Every event at or after `since` (ISO time), oldest first, streamed. */
  *since(since?: string): IterableIterator<AuditRow> {
    const rows = since
      ? stmt(this.db, 'SELECT * FROM audit_events WHERE ts >= ? ORDER BY seq').iterate(since)
      : stmt(this.db, 'SELECT * FROM audit_events ORDER BY seq').iterate();
    yield* rows as IterableIterator<AuditRow>;
  }

  counts(): { kind: string; agent: string; n: number; last: string }[] {
    return stmt(
      this.db,
      'SELECT agent, kind, COUNT(*) AS n, MAX(ts) AS last FROM audit_events GROUP BY agent, kind ORDER BY agent, kind',
    ).all() as { kind: string; agent: string; n: number; last: string }[];
  }

  /**
   * Recomputes the chain from the first row. Names the first row whose hash, link or sequence is wrong:
   * an edited row breaks its own hash, a deleted or reordered row breaks the next row's link.
   */
  /** The first run of unreadable rows at or after `from`: [first, last] (last null: to the end, or too many to probe). */
  private unreadable(from: number): [number, number | null] | null {
    const one = stmt(this.db, `SELECT ${BODY_SQL} FROM audit_events WHERE seq = ?`);
    const readable = (seq: number) => {
      try {
        one.get(seq);
        return true;
      } catch {
        return false;
      }
    };
    let first = from;
    while (first < from + 100_000 && readable(first)) first++;
    if (first >= from + 100_000) return null;
    for (let seq = first + 1; seq < first + 100_000; seq++) if (readable(seq)) return [first, seq - 1];
    return [first, null];
  }

  verify(): VerifyResult {
    // Paged rather than one long iterate(): fewer crossings into SQLite per row (about 2 µs a row in all).
    const page = stmt(this.db, `SELECT seq, id, prev_hash, hash, ${BODY_SQL} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT 5000`).raw(
      true,
    );
    let prev = GENESIS_HASH;
    let expectedSeq = 1;
    let count = 0;
    for (;;) {
      let rows: [number, string, string, string, string][];
      try {
        rows = page.all(expectedSeq - 1) as [number, string, string, string, string][];
      } catch (e) {
        // A damaged page: read row by row to name the rows it holds; past them the chain cannot be vouched for.
        const range = this.unreadable(expectedSeq);
        if (!range) throw e;
        const [from, to] = range;
        return {
          ok: false,
          count: count + (from - expectedSeq),
          seq: from,
          id: '',
          reason: `rows #${from}–#${to ?? 'end'} cannot be read (${(e as Error).message})`,
        };
      }
      if (rows.length === 0) break;
      for (const [seq, id, prevHash, hash, body] of rows) {
        const bad = (reason: string): VerifyResult => ({ ok: false, count, seq, id, reason });
        if (seq !== expectedSeq) return bad(`sequence jumps from ${expectedSeq - 1} to ${seq} (rows deleted)`);
        if (prevHash !== prev) return bad('prev_hash does not match the previous row (rows deleted, inserted or reordered)');
        if (chainHash(prevHash, body) !== hash) return bad('hash does not match the row (row edited)');
        prev = hash;
        expectedSeq++;
        count++;
      }
    }
    return { ok: true, count, head: prev };
  }
}

export type VerifyResult =
  { ok: true; count: number; head: string } | { ok: false; count: number; seq: number; id: string; reason: string };
