// wardenctl store copy: an SQLite store into PostgreSQL and back, every table, the chain verifying with the same head.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STORE_TABLES } from '../src/store/copy.js';
import { rawDb, Store } from '../src/store/store.js';
import { freshPgDatabase, hasPostgres, pgExec } from './helpers/pg.js';
import { emptyPlan, wardenctl } from './helpers/spawned.js';

/** A store with rows in every kind of table a server fills, and a checkpoint in its chain. */
function filled(file: string): { head: string; count: number } {
  const store = Store.open(file);
  try {
    for (let i = 0; i < 25; i++)
      store.audit.append({
        kind: 'requested',
        agent: 'web-bot',
        project: 'shop',
        tool: 'get_status',
        request: { i, note: 'ünï 😀 \u0007' },
      });
    // A name no tool has, as an agent may send it (a lone surrogate in a text column of its own).
    store.audit.append({ kind: 'denied', agent: 'web-bot', project: 'shop', tool: 'no\ud800such', decision: { rule: 'unknown_tool' } });
    const plan = emptyPlan(1);
    store.proposals.create({
      kind: 'change',
      project: 'shop',
      agent: 'web-bot',
      tool: 't',
      reason: 'r',
      plan,
      args: { a: 1 },
      eventId: 'e1',
      ttlHours: 1,
    });
    store.ledger.reserve('e1', 'shop', 'web-bot', 't', 300);
    store.ledger.settle('e1', 'shop', 'web-bot', {
      add: [{ arn: 'arn:aws:ec2:x', description: 'x', hourlyUsd: 0.0104, centsMonth: 760 }],
      remove: [],
    });
    store.ledger.raiseCap('shop', 500, null, 'prop_x', 'human:ann');
    store.jobs.create({ project: 'shop', agent: 'web-bot', tool: 't', args: {}, runAt: new Date(), why: 'test' });
    store.desired.record('shop', 'e1', [{ resource: 'arn:aws:ec2:x', aspect: 'tags', value: { Owner: 'web-bot' } }]);
    store.notifications.record({ ts: new Date().toISOString(), project: 'shop', kind: 'k', subject: 's', body: 'b', eventId: null });
    store.tiers.record('web-bot', 'operator', 'human:ann', 'r');
    store.tokens.issue('web-bot', 'human:ann', null);
    store.locks.renewLease('worker', 'h:1:x', 60_000);
    const v = store.audit.verify({ full: true });
    if (!v.ok) throw new Error('the fixture chain does not verify');
    return { head: v.head, count: v.count };
  } finally {
    store.close();
  }
}

describe.skipIf(!hasPostgres)('wardenctl store copy', () => {
  it('copies SQLite into PostgreSQL and back: every table, every row, the same head; a password is never printed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-copy-'));
    const file = join(dir, 'warden.db');
    const { head, count } = filled(file);
    const url = new URL(await freshPgDatabase('copy'));
    url.password = 'hunter2-secret';
    const r = await wardenctl('store', 'copy', '--from', file, '--to', url.toString(), '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain('hunter2-secret');
    const out = JSON.parse(r.stdout) as { tables: { name: string; rows: number }[]; chain: { ok: boolean; events: number; head: string } };
    expect(out.chain).toEqual({ ok: true, events: count, head, sourceHasHead: true });

    const sqlite = Store.open(file, { readOnly: true });
    const pg = Store.open(url.toString(), { readOnly: true });
    try {
      for (const t of STORE_TABLES) {
        const rows = rawDb(sqlite).prepare(`SELECT * FROM ${t.name} ORDER BY ${t.key}`).all();
        expect(out.tables.find((x) => x.name === t.name)?.rows, t.name).toBe(rows.length);
        expect((await pgExec(url.toString(), `SELECT * FROM ${t.name}`)).rowCount, t.name).toBe(rows.length);
      }
      expect(pg.audit.verify({ full: true })).toMatchObject({ ok: true, count, head });
      expect(pg.ledger.summary('shop', 1000)).toEqual(sqlite.ledger.summary('shop', 1000));
      expect(pg.proposals.list()).toEqual(sqlite.proposals.list());
    } finally {
      sqlite.close();
      pg.close();
    }
    // New rows after the copy get ids after the copied ones.
    const live = Store.open(url.toString());
    live.notifications.record({ ts: 't', project: 'shop', kind: 'k', subject: 's', body: 'b', eventId: null });
    expect(live.notifications.list().map((n) => n.id)).toEqual([1, 2]);
    live.close();

    const back = join(dir, 'back.db');
    const r2 = await wardenctl('store', 'copy', '--from', url.toString(), '--to', back, '--json');
    expect(r2.code, r2.stderr).toBe(0);
    const again = Store.open(back, { readOnly: true });
    try {
      expect(again.audit.verify({ full: true })).toMatchObject({ ok: true, count, head });
    } finally {
      again.close();
    }
  }, 90_000);

  it('copies nothing into a store that holds rows, or from a chain that does not verify', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-copy-'));
    const file = join(dir, 'warden.db');
    filled(file);
    const url = await freshPgDatabase('copy');
    const target = Store.open(url);
    target.audit.append({ kind: 'read', agent: 'other', project: 'p', tool: 't' });
    target.close();
    const full = await wardenctl('store', 'copy', '--from', file, '--to', url);
    expect(full.code).toBe(2);
    expect(full.stderr).toMatch(/nothing copied: the target store is not empty \(audit_events/);
    expect((await pgExec(url, 'SELECT COUNT(*)::int AS n FROM audit_events')).rows[0]).toEqual({ n: 1 });

    const broken = Store.open(file);
    rawDb(broken).exec("DROP TRIGGER audit_events_no_update; UPDATE audit_events SET tool = 'x' WHERE seq = 3");
    broken.close();
    const bad = await wardenctl('store', 'copy', '--from', file, '--to', await freshPgDatabase('copy'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/does not verify at #3 .*nothing copied/);
    const same = await wardenctl('store', 'copy', '--from', file, '--to', file);
    expect(same.code).toBe(2);
  }, 90_000);
});
