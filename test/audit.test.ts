// The audit chain: appends link, verify recomputes, and every kind of tampering names the first bad row.
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../src/store/audit.js';
import { openDb, type Db } from '../src/store/db.js';
import { migrate, migrations } from '../src/store/migrations.js';

function filled(n: number): { db: Db; audit: AuditLog } {
  const db = openDb(':memory:');
  const audit = new AuditLog(db);
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
  db.exec('DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;');
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
      "UPDATE audit_events SET kind = 'executed', hash = 'f' || substr(hash, 2) WHERE seq = 3",
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

describe('migrations', () => {
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
