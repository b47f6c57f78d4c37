// The audit chain: appends link, verify recomputes, and every kind of tampering names the first bad row.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../src/store/audit.js';
import { openDb, type SqliteDb as Db } from '../src/store/db.js';
import { migrate, migrations } from '../src/store/migrations.js';

function filled(n: number, checkpointEvery?: number): { db: Db; audit: AuditLog } {
  const db = openDb(':memory:');
  const audit = new AuditLog(db, undefined, checkpointEvery);
  for (let i = 0; i < n; i++)
    audit.append({
      kind: i % 2 ? 'approved' : 'requested',
      agent: 'a',
      project: 'p',
      tool: 't',
      request: { i, nested: { z: 1, a: [1, 2] } },
    });
  return { db, audit };
}

/** Tampering as an attacker with file access would: around the append-only triggers. */
function tamper(db: Db, sql: string, ...params: unknown[]) {
  db.exec('DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete;');
  if (params.length) db.prepare(sql).run(...params);
  else db.exec(sql);
}

describe('audit chain', () => {
  it('links each row to the one before and verifies', () => {
    const { audit } = filled(10);
    const rows = audit.tail({ limit: 10 });
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    rows.slice(1).forEach((r, i) => expect(r.prev_hash).toBe(rows[i].hash));
    expect(audit.verify()).toEqual({ ok: true, count: 10, head: rows[9].hash });
  });

  it('stores JSON canonically, so the same request hashes the same whatever its key order', () => {
    const { audit } = filled(0);
    const a = audit.append({ kind: 'requested', agent: 'a', project: 'p', tool: 't', request: { b: 1, a: 2 } });
    const b = audit.append({ kind: 'requested', agent: 'a', project: 'p', tool: 't', request: { a: 2, b: 1 } });
    expect(a.request).toBe('{"a":2,"b":1}');
    expect(b.request).toBe(a.request);
  });

  it('refuses UPDATE and DELETE through the triggers', () => {
    const { db } = filled(3);
    expect(() => db.prepare("UPDATE audit_events SET kind = 'executed' WHERE seq = 2").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit_events WHERE seq = 2').run()).toThrow(/append-only/);
  });

  it.each([
    ['an edited row', 'UPDATE audit_events SET request = \'{"i":99}\' WHERE seq = 4', 4, /row edited/],
    ['an edited decision', 'UPDATE audit_events SET decision = \'"allow"\' WHERE seq = 5', 5, /row edited/],
    ['a deleted row', 'DELETE FROM audit_events WHERE seq = 4', 5, /sequence jumps from 3 to 5/],
    ['a deleted first row', 'DELETE FROM audit_events WHERE seq = 1', 2, /sequence jumps/],
    [
      'two rows swapped (seq renumbered)',
      'UPDATE audit_events SET seq = -4 WHERE seq = 4; UPDATE audit_events SET seq = 4 WHERE seq = 5; UPDATE audit_events SET seq = 5 WHERE seq = -4',
      4,
      /prev_hash|edited/,
    ],
    [
      'a row re-hashed after editing',
      "UPDATE audit_events SET kind = 'executed', hash = (CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' ELSE 'f' END) || substr(hash, 2) WHERE seq = 3",
      3,
      /row edited/,
    ],
  ])('detects %s and names the first bad row', (_what, sql, badSeq, reason) => {
    const { db, audit } = filled(8);
    tamper(db, sql);
    const v = audit.verify();
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.seq).toBe(badSeq);
      expect(v.reason).toMatch(reason);
    }
  });

  it('detects a forged row inserted with a recomputed own hash but a stale link', () => {
    const { db, audit } = filled(4);
    const last = audit.tail({ limit: 1 })[0];
    audit.append({ kind: 'executed', agent: 'a', project: 'p', tool: 't' });
    tamper(db, 'UPDATE audit_events SET prev_hash = ? WHERE seq = 5', last.prev_hash);
    expect(audit.verify()).toMatchObject({ ok: false, seq: 5 });
  });

  it('an open approval permits writes until its outcome is recorded', () => {
    const { audit } = filled(0);
    const req = audit.append({ kind: 'requested', agent: 'a', project: 'p', tool: 't' });
    const ok = audit.append({ kind: 'approved', agent: 'a', project: 'p', tool: 't', follows: req.id });
    expect(audit.isOpenApproval(req.id, 'a')).toBe(false);
    expect(audit.isOpenApproval(ok.id, 'b')).toBe(false);
    expect(audit.isOpenApproval('no-such-id', 'a')).toBe(false);
    expect(audit.isOpenApproval(ok.id, 'a')).toBe(true);
    audit.append({ kind: 'executed', agent: 'a', project: 'p', tool: 't', follows: ok.id });
    expect(audit.isOpenApproval(ok.id, 'a')).toBe(false);
  });
});

/** The tampering cases above, on a chain with checkpoints at rows 3 and 6 (verify re-hashes rows 7 and 8 only). */
const TAMPERED: [string, string, number, RegExp, 'found' | 'full only'][] = [
  ['an edited row in the tail', 'UPDATE audit_events SET request = \'{"i":99}\' WHERE seq = 8', 8, /row edited/, 'found'],
  ['an edited row before the checkpoint', 'UPDATE audit_events SET request = \'{"i":99}\' WHERE seq = 4', 4, /row edited/, 'full only'],
  ['a deleted row before the checkpoint', 'DELETE FROM audit_events WHERE seq = 4', 5, /sequence jumps from 3 to 5/, 'found'],
  ['a deleted first row', 'DELETE FROM audit_events WHERE seq = 1', 2, /sequence jumps/, 'found'],
  [
    'two rows swapped (seq renumbered)',
    'UPDATE audit_events SET seq = -4 WHERE seq = 4; UPDATE audit_events SET seq = 4 WHERE seq = 5; UPDATE audit_events SET seq = 5 WHERE seq = -4',
    4,
    /prev_hash|edited/,
    'found',
  ],
  [
    'a row re-hashed after editing',
    "UPDATE audit_events SET kind = 'executed', hash = (CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' ELSE 'f' END) || substr(hash, 2) WHERE seq = 2",
    2,
    /row edited/,
    'found',
  ],
];

describe('checkpoints', () => {
  it('every N rows the head is kept; verify re-hashes only the rows after the newest and says so', () => {
    const { db, audit } = filled(8, 3);
    const rows = audit.tail({ limit: 8 });
    expect(db.prepare('SELECT seq, head FROM audit_checkpoints ORDER BY seq').all()).toEqual([
      { seq: 3, head: rows[2].hash },
      { seq: 6, head: rows[5].hash },
    ]);
    expect(audit.verify()).toEqual({ ok: true, count: 8, head: rows[7].hash, checkpoint: 6 });
    expect(audit.verify({ full: true })).toEqual({ ok: true, count: 8, head: rows[7].hash });
    expect(() => db.prepare('UPDATE audit_checkpoints SET head = ? WHERE seq = 3').run('0'.repeat(64))).toThrow(/append-only/);
  });

  it.each(TAMPERED)(
    '%s: verify --full names the first bad row; verify alone too, unless only content before a checkpoint changed',
    (_what, sql, badSeq, reason, quick) => {
      const { db, audit } = filled(8, 3);
      tamper(db, sql);
      const full = audit.verify({ full: true });
      expect(full).toMatchObject({ ok: false, seq: badSeq, reason: expect.stringMatching(reason) });
      // Content edited under an unchanged hash, before the newest checkpoint, is what only a full re-hash can see.
      if (quick === 'found') expect(audit.verify()).toMatchObject({ ok: false, seq: badSeq, reason: expect.stringMatching(reason) });
      else expect(audit.verify()).toMatchObject({ ok: true, checkpoint: 6 });
    },
  );

  it('a chain recomputed consistently from a row on is caught by the checkpoints after it, which the chain alone cannot show', () => {
    const { db, audit } = filled(8, 3);
    // The attacker edits row 4 and re-hashes it and every row after it, so every link holds.
    tamper(db, 'UPDATE audit_events SET request = \'{"i":99}\' WHERE seq = 4');
    let prev = audit.tail({ limit: 8 })[2].hash;
    for (let seq = 4; seq <= 8; seq++) {
      const { body } = db
        .prepare(
          'SELECT json_array(seq, id, ts, kind, agent, project, tool, action, request, decision, result, role_arn, request_ids, follows) AS body FROM audit_events WHERE seq = ?',
        )
        .get(seq) as { body: string };
      const hash = createHash('sha256').update(`${prev}\n${body}`).digest('hex');
      db.prepare('UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?').run(prev, hash, seq);
      prev = hash;
    }
    // Every row re-hashes and links (the walk passes): only a checkpoint, kept as appended, disagrees.
    for (const v of [audit.verify(), audit.verify({ full: true })])
      expect(v).toMatchObject({
        ok: false,
        seq: 6,
        reason: expect.stringMatching(/checkpoint #6 holds head .* the chain was rewritten \(or cut\)/),
      });
  });

  it('rows cut from the end past a checkpoint are caught (a cut after the newest needs --head)', () => {
    const { db, audit } = filled(8, 3);
    tamper(db, 'DELETE FROM audit_events WHERE seq >= 6');
    expect(audit.verify()).toMatchObject({ ok: false, seq: 6, reason: expect.stringMatching(/no row there/) });
    const short = filled(8, 3);
    tamper(short.db, 'DELETE FROM audit_events WHERE seq >= 7');
    expect(short.audit.verify()).toMatchObject({ ok: true, count: 6 });
  });

  it('new rows have time-ordered ids (UUIDv7), so appends land at the right edge of the id index', () => {
    let t = Date.parse('2026-12-01T00:00:00Z');
    const db = openDb(':memory:');
    const audit = new AuditLog(db, () => new Date((t += 1)));
    const ids = Array.from({ length: 50 }, () => audit.append({ kind: 'read', agent: 'a', project: 'p', tool: 't' }).id);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(ids[0].replace(/-/g, '').slice(0, 12)).toBe((Date.parse('2026-12-01T00:00:00Z') + 1).toString(16).padStart(12, '0'));
  });
});

describe('migrations', () => {
  it('a store written before version 10 keeps its chain, gains checkpoints from then on, and drops the time index', () => {
    const db = openDb(':memory:');
    db.exec('DROP TABLE audit_checkpoints');
    const old = new AuditLog(db, undefined, 1_000_000);
    for (let i = 0; i < 5; i++) old.append({ kind: 'requested', agent: 'a', project: 'p', tool: 't', request: { i } });
    const head = old.tail({ limit: 1 })[0].hash;
    // Back to version 9's table: the migration copies every row, and every hash still links.
    db.pragma('user_version = 9');
    db.exec('ALTER TABLE jobs DROP COLUMN progress');
    db.exec('DROP TABLE agent_tokens');
    db.exec('ALTER TABLE audit_events RENAME TO audit_events_old');
    db.exec(`CREATE TABLE audit_events AS SELECT * FROM audit_events_old; DROP TABLE audit_events_old;`);
    migrate(db);
    const audit = new AuditLog(db, undefined, 3);
    expect(audit.verify()).toEqual({ ok: true, count: 5, head });
    audit.append({ kind: 'read', agent: 'a', project: 'p', tool: 't' });
    expect(audit.verify()).toMatchObject({ ok: true, count: 6, checkpoint: 6 });
    const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events'").pluck().all();
    expect(indexes).not.toContain('audit_events_ts');
    expect(indexes).toContain('audit_events_follows');
  });

  it('sets user_version and refuses a database newer than the code', () => {
    const db = openDb(':memory:');
    expect(db.pragma('user_version', { simple: true })).toBe(migrations.at(-1)?.version);
    db.pragma('user_version = 99');
    expect(() => migrate(db)).toThrow(/newer than this aws-warden/);
  });

  it('refuses a migration list whose versions do not increase', () => {
    const db = openDb(':memory:');
    expect(() =>
      migrate(db, [
        { version: 2, update() {} },
        { version: 2, update() {} },
      ]),
    ).toThrow(/must increase/);
  });
});
