// The append-only, hash-chained audit log: every change leaves its requested → decision → outcome rows here, every
// read one row (what was asked, the decision, a digest of the answer).
import { boundedJson, digestJson } from './bounded.js';
import { chainHash, GENESIS_HASH } from './chain.js';
import { immediate, isPostgres, stmt, type Db } from './db.js';
import { canonicalJson } from '../util/canonical.js';
import { orderedId } from '../util/ordered-id.js';

export { GENESIS_HASH };

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
  | 'cancelled'
  /** A read-only call that answered: its arguments, the decision and a digest of the answer, in its only row. */
  | 'read';

export interface NewEvent {
  kind: EventKind;
  agent: string;
  project: string;
  tool: string;
  action?: string | null;
  request?: unknown;
  /** What the agent asked (its raw arguments), kept bounded in the request column: a read's only row carries it. */
  asked?: unknown;
  /** A read's answer: the result column keeps its SHA-256, size and an excerpt, never the whole of it. */
  answer?: unknown;
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

/**
 * One append on SQLite, as one statement: it reads the head, inserts the row after it and hashes the body as SQLite
 * renders it (what verify re-hashes). Outside a transaction the statement is its own: SQLite takes the write lock
 * before the statement reads anything, as BEGIN IMMEDIATE would, so concurrent writers keep one linear chain, and a
 * commit costs one statement instead of four (BEGIN, the head's read, the insert, COMMIT).
 */
const APPEND_SQL = `INSERT INTO audit_events (${COLUMNS.join(', ')}, prev_hash, hash)
  SELECT ${COLUMNS.join(', ')}, prev_hash, warden_chain_hash(prev_hash, ${BODY_SQL})
  FROM (SELECT h.seq + 1 AS seq, ${COLUMNS.slice(1)
    .map((c) => `? AS ${c}`)
    .join(', ')}, h.hash AS prev_hash
        FROM (SELECT COALESCE(MAX(seq), 0) AS seq,
                     COALESCE((SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1), '${GENESIS_HASH}') AS hash
              FROM audit_events) h)
  RETURNING seq, prev_hash, hash`;

/** A row's fields after its seq, in column order, as bound: the store gives the seq, under its write lock. */
type Fields = readonly [
  id: string,
  ts: string,
  kind: EventKind,
  agent: string,
  project: string,
  tool: string,
  action: string | null,
  request: string | null,
  decision: string | null,
  result: string | null,
  role_arn: string | null,
  request_ids: string | null,
  follows: string | null,
];

/** Text as a UTF-8 store keeps it: a lone surrogate becomes U+FFFD. */
const wellFormed = (s: string) => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

/**
 * The body rendered here rather than by SQLite: byte for byte what json_array renders for the same stored values
 * (test/audit-body.test.ts checks every UTF-16 code unit and astral text, and a lone surrogate as SQLite reads it
 * back), so a PostgreSQL store hashes and verifies rows exactly as SQLite does, and a chain copied between them keeps
 * its head.
 */
export function renderBody(fields: readonly unknown[]): string {
  return `[${fields.map((f) => (f === null ? 'null' : typeof f === 'number' ? String(f) : JSON.stringify(wellFormed(String(f))))).join(',')}]`;
}

export { chainHash, registerChainHash } from './chain.js';

const json = (v: unknown) => (v === undefined || v === null ? null : canonicalJson(v));

/** How often the head as appended is kept as a checkpoint (audit_checkpoints): verify re-hashes only rows after the newest. */
export const CHECKPOINT_EVERY = 10_000;

export class AuditLog {
  /** What a read of a row's body selects: SQLite renders it (json_array); on PostgreSQL the columns, rendered here. */
  private readonly bodySql: string;
  private readonly pg: boolean;

  constructor(
    private readonly db: Db,
    private readonly clock: () => Date = () => new Date(),
    private readonly checkpointEvery = CHECKPOINT_EVERY,
  ) {
    this.pg = isPostgres(db);
    this.bodySql = this.pg ? COLUMNS.join(', ') : BODY_SQL;
  }

  /** The body from what `bodySql` selected (the tail of a raw row). */
  private body(selected: readonly unknown[]): string {
    return this.pg ? renderBody(selected) : (selected[0] as string);
  }

  /** Appends one event as one statement (its own transaction outside one), so concurrent writers keep one linear chain. */
  append(e: NewEvent): AuditRow {
    // One statement: outside a transaction it takes the write lock and commits by itself, in one round trip.
    if (this.pg) return this.appendPg(e);
    const fields = this.fields(e);
    const got = stmt(this.db, APPEND_SQL).get(...fields) as { seq: number; prev_hash: string; hash: string };
    return this.appended(fields, got);
  }

  /**
   * On PostgreSQL, one round trip to warden_append (pg-migrations.ts), which takes the write lock, reads the head,
   * inserts the row after it and hashes it in SQL: sha256 of prev_hash, a newline and the body, whose seq is the only
   * part not rendered here. Outside a transaction the lock is held only while the server runs it.
   */
  private appendPg(e: NewEvent): AuditRow {
    return this.callPg('warden_append', this.fields(e), [])!;
  }

  /**
   * The approved row and its reservation of `cents`, one round trip on PostgreSQL (warden_approve): written only if
   * the project's budget still covers the reservation under the write lock; null, and nothing written, if not.
   */
  appendReservingPg(e: NewEvent, hold: { cents: number; baseCents: number; month: string }): AuditRow | null {
    return this.callPg('warden_approve', this.fields(e), [hold.baseCents, hold.month, hold.cents]);
  }

  private callPg(fn: 'warden_append' | 'warden_approve', fields: Fields, extra: unknown[]): AuditRow | null {
    const params = [...fields, renderBody(fields).slice(1), this.checkpointEvery, ...extra];
    const got = stmt(
      this.db,
      `SELECT out_seq AS seq, out_prev AS prev_hash, out_hash AS hash FROM ${fn}(${params.map(() => '?').join(', ')})`,
    ).get(...params) as { seq: number; prev_hash: string; hash: string } | undefined;
    return got ? this.row(fields, got) : null;
  }

  /**
   * The row as appended; every `checkpointEvery` rows, its head kept as a checkpoint. On SQLite outside a transaction
   * that is a commit of its own: a checkpoint lost to a crash in between only makes verify re-hash more rows.
   */
  private appended(fields: Fields, got: { seq: number; prev_hash: string; hash: string }): AuditRow {
    if (got.seq % this.checkpointEvery === 0)
      stmt(this.db, 'INSERT INTO audit_checkpoints (seq, head, at) VALUES (?, ?, ?)').run(got.seq, got.hash, fields[1]);
    return this.row(fields, got);
  }

  private row(fields: Fields, got: { seq: number; prev_hash: string; hash: string }): AuditRow {
    const [id, ts, kind, agent, project, tool, action, request, decision, result, role_arn, request_ids, follows] = fields;
    const { seq, prev_hash, hash } = got;
    return { seq, id, ts, kind, agent, project, tool, action, request, decision, result, role_arn, request_ids, follows, prev_hash, hash };
  }

  /** The row's fields after its seq, as stored: with the seq, what its hash covers. */
  private fields(e: NewEvent): Fields {
    const at = this.clock();
    return [
      orderedId(at),
      at.toISOString(),
      e.kind,
      e.agent,
      e.project,
      e.tool,
      e.action ?? null,
      // An agent's arguments and any result are kept bounded; decisions and plans are the warden's own, kept whole.
      e.asked !== undefined ? boundedJson(e.asked) : e.kind === 'requested' ? boundedJson(e.request) : json(e.request),
      json(e.decision),
      e.answer !== undefined ? digestJson(e.answer) : boundedJson(e.result),
      e.roleArn ?? null,
      json(e.requestIds),
      e.follows ?? null,
    ];
  }

  /**
   * The outcome of a change that ran and was undone by its rollback plan: `executed` (what ran, following the
   * approval, which closes it) then `rolled_back` (why, following the execution), in one transaction.
   */
  appendRolledBack(e: Omit<NewEvent, 'kind' | 'follows'> & { approvalId: string; ran: unknown }): AuditRow {
    return immediate(this.db, () => {
      const { approvalId, ran, ...base } = e;
      const executed = this.append({ ...base, kind: 'executed', follows: approvalId, result: ran });
      return this.append({ ...base, kind: 'rolled_back', follows: executed.id });
    });
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
    const row = stmt(this.db, `SELECT prev_hash, hash, ${this.bodySql} FROM audit_events WHERE seq = ?`).raw(true).get(seq) as
      [string, string, ...unknown[]] | undefined;
    if (!row || chainHash(row[0], this.body(row.slice(2))) !== row[1]) return false;
    const prevHash = row[0];
    const before =
      seq > 1
        ? (stmt(this.db, 'SELECT hash FROM audit_events WHERE seq = ?').get(seq - 1) as { hash: string } | undefined)
        : { hash: GENESIS_HASH };
    return before?.hash === prevHash;
  }

  /** The newest row's seq, hash and time (what an anchor records), or undefined for an empty chain. */
  head(): { seq: number; hash: string; ts: string } | undefined {
    return stmt(this.db, 'SELECT seq, hash, ts FROM audit_events ORDER BY seq DESC LIMIT 1').get() as
      { seq: number; hash: string; ts: string } | undefined;
  }

  /** The hash row `seq` holds, if there is such a row. */
  hashAt(seq: number): string | undefined {
    return (stmt(this.db, 'SELECT hash FROM audit_events WHERE seq = ?').get(seq) as { hash: string } | undefined)?.hash;
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

  /** The first run of unreadable rows at or after `from`: [first, last] (last null: to the end, or too many to probe). */
  private unreadable(from: number): [number, number | null] | null {
    const one = stmt(this.db, `SELECT ${this.bodySql} FROM audit_events WHERE seq = ?`);
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

  /**
   * Checks the chain. Every row's link and sequence are checked in SQL, every checkpoint against its row, and the rows
   * after the newest checkpoint are re-hashed; `full` re-hashes every row. Names the first bad row: an edited row breaks
   * its own hash, a deleted or reordered row the next row's link, a chain rewritten from some row on the checkpoints
   * after it. A row before the newest checkpoint whose content alone was edited is found by `full`.
   */
  verify(opts: { full?: boolean } = {}): VerifyResult {
    const newest = stmt(this.db, 'SELECT seq, head FROM audit_checkpoints ORDER BY seq DESC LIMIT 1').get() as
      { seq: number; head: string } | undefined;
    if (opts.full || !newest) return this.checkedAgainstCheckpoints(this.walk(1, GENESIS_HASH, 0), newest);
    let links: { first: string | null; links: number };
    try {
      links = this.links(newest.seq);
    } catch {
      // A page SQLite cannot read: the walk names the rows it holds.
      return this.walk(1, GENESIS_HASH, 0);
    }
    // Something is wrong before the checkpoint, or with one: the whole walk names the row.
    if (links.first !== GENESIS_HASH || links.links !== newest.seq - 1 || this.offCheckpoint())
      return this.checkedAgainstCheckpoints(this.walk(1, GENESIS_HASH, 0), newest);
    // Every checkpoint matched its row just now: only the tail is left to re-hash.
    const tail = this.walk(newest.seq + 1, newest.head, newest.seq);
    return tail.ok ? { ...tail, checkpoint: newest.seq } : tail;
  }

  /** In SQL, for rows up to `seq`: row 1's link, and how many rows link to the row before them (seq - 1 when all do). */
  private links(seq: number): { first: string | null; links: number } {
    return stmt(
      this.db,
      `SELECT (SELECT prev_hash FROM audit_events WHERE seq = 1) AS first,
              (SELECT COUNT(*) FROM audit_events a JOIN audit_events b ON b.seq = a.seq + 1
                 WHERE b.seq <= ? AND b.prev_hash = a.hash) AS links`,
    ).get(seq) as { first: string | null; links: number };
  }

  /** The first checkpoint whose row is gone or hashes otherwise. */
  private offCheckpoint(): { seq: number; head: string; hash: string | null } | undefined {
    return stmt(
      this.db,
      `SELECT c.seq, c.head, e.hash FROM audit_checkpoints c LEFT JOIN audit_events e ON e.seq = c.seq
        WHERE e.hash IS DISTINCT FROM c.head ORDER BY c.seq LIMIT 1`,
    ).get() as { seq: number; head: string; hash: string | null } | undefined;
  }

  /**
   * A chain that holds by itself but disagrees with a checkpoint was recomputed from some row on (or cut from the end
   * past one): the first checkpoint whose row is gone or hashes otherwise is named.
   */
  private checkedAgainstCheckpoints(v: VerifyResult, newest: { seq: number } | undefined): VerifyResult {
    if (!v.ok || !newest) return v;
    const off = this.offCheckpoint();
    if (!off) return v;
    return {
      ok: false,
      count: Math.min(v.count, off.seq - 1),
      seq: off.seq,
      id: '',
      reason: `checkpoint #${off.seq} holds head ${off.head.slice(0, 16)}… but the chain has ${off.hash ? `${off.hash.slice(0, 16)}…` : 'no row'} there: the chain was rewritten (or cut) at or before it`,
    };
  }

  /** Re-hashes rows from `start` on: `head` is the hash before it, `before` how many rows come before it. */
  private walk(start: number, head: string, before: number): VerifyResult {
    // Paged rather than one long iterate(): fewer crossings into SQLite per row (about 2 µs a row in all).
    const page = stmt(
      this.db,
      `SELECT seq, id, prev_hash, hash, ${this.bodySql} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT 5000`,
    ).raw(true);
    let prev = head;
    let expectedSeq = start;
    let count = before;
    for (;;) {
      let rows: [number, string, string, string, ...unknown[]][];
      try {
        rows = page.all(expectedSeq - 1) as [number, string, string, string, ...unknown[]][];
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
      for (const row of rows) {
        const [seq, id, prevHash, hash] = row;
        const bad = (reason: string): VerifyResult => ({ ok: false, count, seq, id, reason });
        if (seq !== expectedSeq) return bad(`sequence jumps from ${expectedSeq - 1} to ${seq} (rows deleted)`);
        if (prevHash !== prev) return bad('prev_hash does not match the previous row (rows deleted, inserted or reordered)');
        if (chainHash(prevHash, this.pg ? renderBody(row.slice(4)) : (row[4] as string)) !== hash)
          return bad('hash does not match the row (row edited)');
        prev = hash;
        expectedSeq++;
        count++;
      }
    }
    return { ok: true, count, head: prev };
  }
}

export type VerifyResult =
  /** `checkpoint`: rows up to it were checked by link and checkpoint, the rows after it re-hashed (absent: all re-hashed). */
  { ok: true; count: number; head: string; checkpoint?: number } | { ok: false; count: number; seq: number; id: string; reason: string };
