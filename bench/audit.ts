// The audit's own figures beside their floors, measured in the same run: appends against a bare insert of the very same
// rows into the same table (one committed transaction each), and verify against SHA-256 alone over the same bodies.
import Database from 'better-sqlite3';
import { hash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, type NewEvent } from '../src/store/audit.js';
import { closeDb, openDb, type SqliteDb } from '../src/store/db.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'warden-bench-audit-'));

/** What a read writes: its arguments, the decision, a digest of its answer. */
const readRow = (i: number): NewEvent => ({
  kind: 'read',
  agent: 'bench-bot',
  project: 'bench',
  tool: 'list_resources',
  asked: { i, max_results: 100 },
  decision: {
    outcome: 'allow',
    checked: ['tier', 'limits', 'ownership', 'budget', 'escalation'],
    plan_hash: 'a'.repeat(64),
    policy_sha256: 'b'.repeat(64),
  },
  answer: { project: 'bench', resources: [], next_token: null, i },
  roleArn: 'arn:aws:sts::123456789012:assumed-role/bench-bot/warden-bench-bot',
});

/**
 * The floor: the same rows inserted as they are (hash already computed), one statement each and so one commit each,
 * into the same schema. An append does more (it reads the head and hashes in the same statement); this is what one
 * commit of such a row costs on this disk.
 */
function bareInserts(rows: unknown[][], schema: string[], sync: string): number {
  const file = join(tmp(), 'bare.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync}`);
  for (const sql of schema) db.exec(sql);
  const insert = db.prepare(`INSERT INTO audit_events VALUES (${rows[0].map(() => '?').join(', ')})`);
  const t = performance.now();
  for (const row of rows) insert.run(...row);
  const s = (performance.now() - t) / 1000;
  db.close();
  return rows.length / s;
}

export function appendsBench(out: (s: string) => void): void {
  for (const sync of ['NORMAL', 'FULL'] as const) {
    const db = openDb(join(tmp(), 'warden.db'));
    db.pragma(`synchronous = ${sync}`);
    const audit = new AuditLog(db);
    const n = sync === 'NORMAL' ? 30_000 : 3_000;
    const t = performance.now();
    for (let i = 0; i < n; i++) audit.append(readRow(i));
    const ours = n / ((performance.now() - t) / 1000);
    const rows = db.prepare('SELECT * FROM audit_events ORDER BY seq').raw(true).all() as unknown[][];
    const schema = db
      .prepare("SELECT sql FROM sqlite_master WHERE tbl_name = 'audit_events' AND type IN ('table', 'index') AND sql IS NOT NULL")
      .pluck()
      .all() as string[];
    closeDb(db);
    const floor = bareInserts(rows, schema, sync);
    out(
      `audit append of a read's row, one committed transaction each (WAL, synchronous=${sync}), ${n.toLocaleString('en')}: ${Math.round(ours).toLocaleString('en')}/s; bare insert of the same rows, one commit each ${Math.round(floor).toLocaleString('en')}/s; ratio ${(floor / ours).toFixed(2)}× the floor`,
    );
  }
}

function fill(db: SqliteDb, audit: AuditLog, n: number): void {
  db.transaction(() => {
    for (let i = 0; i < n; i++)
      audit.append({
        kind: i % 3 === 0 ? 'requested' : i % 3 === 1 ? 'approved' : 'executed',
        agent: 'bench-bot',
        project: 'bench',
        tool: 'list_resources',
        request: { i },
        roleArn: 'arn:aws:sts::123456789012:assumed-role/bench-bot/warden-bench-bot',
      });
  })();
}

/** SHA-256 alone over the bodies verify hashes, read out beforehand: the floor of re-hashing every row. */
function hashFloor(db: SqliteDb): number {
  const bodies = db
    .prepare(
      'SELECT prev_hash || char(10) || json_array(seq, id, ts, kind, agent, project, tool, action, request, decision, result, role_arn, request_ids, follows) FROM audit_events ORDER BY seq',
    )
    .pluck()
    .all() as string[];
  const t = performance.now();
  let x = 0;
  for (const b of bodies) x += hash('sha256', b).length;
  if (x === 0) throw new Error('no rows');
  return (performance.now() - t) / 1000;
}

export function verifyBench(out: (s: string) => void): void {
  const db = openDb(join(tmp(), 'warden.db'));
  const audit = new AuditLog(db);
  let total = 0;
  // 1,004,999: the newest checkpoint is at 1,000,000, so verify re-hashes a tail of 4,999 rows as well.
  for (const target of [100_000, 1_004_999]) {
    fill(db, audit, target - total);
    total = target;
    const timed = (full: boolean) => {
      const t = performance.now();
      const v = audit.verify({ full });
      if (!v.ok || v.count !== target) throw new Error(`verify failed: ${JSON.stringify(v)}`);
      return (performance.now() - t) / 1000;
    };
    const quick = timed(false);
    const full = timed(true);
    const floor = hashFloor(db);
    out(
      `audit verify ${target.toLocaleString('en')} events: ${quick.toFixed(2)} s (links and checkpoints in SQL, the tail re-hashed); --full ${full.toFixed(2)} s; SHA-256 alone over the same bodies ${floor.toFixed(2)} s — verify ${(quick / floor).toFixed(2)}×, --full ${(full / floor).toFixed(2)}× that floor`,
    );
  }
  closeDb(db);
}
