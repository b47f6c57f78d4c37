// The store's guarantees, held by both implementations: the embedded SQLite file and PostgreSQL (the run's throwaway
// cluster, a fresh database per case). Races run in separate processes, as they do in production.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../src/store/audit.js';
import { STORE_TABLES } from '../src/store/copy.js';
import { latestVersion } from '../src/store/migrations.js';
import { latestPostgresVersion } from '../src/store/pg-migrations.js';
import { PostgresDb } from '../src/store/postgres-db.js';
import { rawDb, Store } from '../src/store/store.js';
import { freshPgDatabase, hasPostgres, pgExec } from './helpers/pg.js';
import { emptyPlan, runNode } from './helpers/spawned.js';

const RACER = join(process.cwd(), 'test', 'fixtures', 'store-race.mjs');

async function race(args: string[]): Promise<string[]> {
  const r = await runNode(RACER, args);
  if (r.code !== 0) throw new Error(`racer exit ${r.code}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

interface Backend {
  name: 'sqlite' | 'postgres';
  fresh(): Promise<string>;
  /** Runs SQL behind the store's back, as someone holding the database's credentials could. */
  tamper(location: string, sql: string): Promise<void>;
}

const backends: Backend[] = [
  {
    name: 'sqlite',
    fresh: async () => join(mkdtempSync(join(tmpdir(), 'warden-contract-')), 'warden.db'),
    tamper: async (file, sql) => {
      const store = Store.open(file);
      rawDb(store).exec(sql);
      store.close();
    },
  },
  { name: 'postgres', fresh: () => freshPgDatabase('contract'), tamper: async (url, sql) => void (await pgExec(url, sql)) },
];

const untriggered = (b: Backend, sql: string) =>
  b.name === 'sqlite'
    ? `DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete; ${sql}`
    : `ALTER TABLE audit_events DISABLE TRIGGER USER; ${sql}`;

describe.each(backends)('the $name store', (b) => {
  const skip = b.name === 'postgres' && !hasPostgres;
  const withStore = async (fn: (store: Store, location: string) => Promise<void> | void) => {
    const location = await b.fresh();
    const store = Store.open(location);
    try {
      await fn(store, location);
    } finally {
      store.close();
    }
  };

  it.skipIf(skip)('is created at the latest schema version, the same on both, and refuses a newer one', async () => {
    expect(latestPostgresVersion()).toBe(latestVersion());
    const location = await b.fresh();
    const store = Store.open(location);
    expect(store.schemaVersion()).toBe(latestVersion());
    expect(store.dialect).toBe(b.name);
    store.close();
    // Opening again migrates nothing and keeps the rows.
    const again = Store.open(location);
    again.audit.append({ kind: 'read', agent: 'a', project: 'p', tool: 't' });
    again.close();
    if (b.name === 'sqlite') {
      const s = Store.open(location);
      rawDb(s).pragma('user_version = 99');
      s.close();
    } else await pgExec(location, 'UPDATE warden_schema SET version = 99');
    expect(() => Store.open(location)).toThrow(/newer than this aws-warden/);
  });

  it.skipIf(skip)('has exactly the tables store copy copies', async () => {
    const location = await b.fresh();
    Store.open(location).close();
    const tables =
      b.name === 'sqlite'
        ? (() => {
            const s = Store.open(location);
            const names = rawDb(s).prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all();
            s.close();
            return names;
          })()
        : (
            await pgExec(
              location,
              "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'warden_schema' ORDER BY tablename",
            )
          ).rows.map((r: { tablename: string }) => r.tablename);
    expect(tables).toEqual(STORE_TABLES.map((t) => t.name).sort());
  });

  it.skipIf(skip)('opened to read only, writes nothing and refuses a location with no store', async () => {
    const location = await b.fresh();
    // A database (or file) that never held a store is not one: nothing is created in it.
    expect(() => Store.open(location, { mustExist: true })).toThrow(
      b.name === 'sqlite' ? /unable to open|directory does not exist|no such file/i : /holds no aws-warden store/,
    );
    Store.open(location).close();
    const reader = Store.open(location, { readOnly: true });
    try {
      expect(() => reader.audit.append({ kind: 'read', agent: 'a', project: 'p', tool: 't' })).toThrow(/read-only|readonly/i);
    } finally {
      reader.close();
    }
  });

  it.skipIf(skip)('keeps the audit append-only and finds an edited or deleted row by its seq', () =>
    withStore(async (store, location) => {
      for (let i = 0; i < 30; i++)
        store.audit.append({ kind: 'requested', agent: 'a', project: 'p', tool: 't', request: { i, text: 'ünï €😀\u0001' } });
      const head = store.audit.verify();
      expect(head).toMatchObject({ ok: true, count: 30 });
      // The store itself refuses to rewrite its history.
      await expect(b.tamper(location, "UPDATE audit_events SET kind = 'denied' WHERE seq = 7")).rejects.toThrow(/append-only/);
      await expect(b.tamper(location, 'DELETE FROM audit_events WHERE seq = 7')).rejects.toThrow(/append-only/);
      // Someone with the database's own credentials goes around that: verify names the row.
      await b.tamper(location, untriggered(b, `UPDATE audit_events SET request = '{"i":99}' WHERE seq = 12`));
      expect(store.audit.verify()).toMatchObject({ ok: false, seq: 12, reason: expect.stringMatching(/row edited/) });
      await b.tamper(location, `DELETE FROM audit_events WHERE seq = 5`);
      expect(store.audit.verify()).toMatchObject({ ok: false, seq: 6, reason: expect.stringMatching(/rows deleted/) });
    }),
  );

  it.skipIf(skip)(
    '4 processes × 100 concurrent appends keep one linear, gapless chain',
    async () => {
      const location = await b.fresh();
      Store.open(location).close();
      const startAt = Date.now() + 3000;
      const seqs = await Promise.all(['a1', 'a2', 'a3', 'a4'].map((a) => race([location, 'append', a, '100', String(startAt)])));
      const all = seqs
        .flat()
        .map(Number)
        .sort((x, y) => x - y);
      expect(all).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
      const store = Store.open(location);
      try {
        expect(store.audit.verify({ full: true })).toMatchObject({ ok: true, count: 400 });
        const agents = store.audit.tail({ limit: 400 }).map((e) => e.agent);
        expect(agents.filter((a, i) => i > 0 && a !== agents[i - 1]).length).toBeGreaterThan(3);
      } finally {
        store.close();
      }
    },
    90_000,
  );

  it.skipIf(skip)(
    'a proposal is approved once and a job claimed once when two processes race for each',
    async () => {
      const location = await b.fresh();
      const store = Store.open(location);
      const plan = emptyPlan();
      const proposals = Array.from(
        { length: 30 },
        (_, i) =>
          store.proposals.create({
            kind: 'change',
            project: 'p',
            agent: 'a',
            tool: 't',
            reason: `r${i}`,
            plan,
            args: {},
            eventId: `e${i}`,
            ttlHours: 1,
          }).id,
      );
      const jobs = Array.from(
        { length: 30 },
        () => store.jobs.create({ project: 'p', agent: 'a', tool: 't', args: {}, runAt: new Date(), why: 'test' }).id,
      );
      store.close();
      const startAt = Date.now() + 3000;
      const [d1, d2, c1, c2] = await Promise.all([
        race([location, 'decide', 'human:ann', String(startAt), ...proposals]),
        race([location, 'decide', 'human:bob', String(startAt), ...proposals]),
        race([location, 'claim', 'w1', String(startAt), ...jobs]),
        race([location, 'claim', 'w2', String(startAt), ...jobs]),
      ]);
      expect([...d1, ...d2].sort()).toEqual([...proposals].sort());
      expect([...c1, ...c2].sort()).toEqual([...jobs].sort());
      const after = Store.open(location);
      try {
        for (const id of d1) expect(after.proposals.get(id)).toMatchObject({ state: 'approved', decided_by: 'human:ann' });
        for (const id of c2) expect(after.jobs.get(id)).toMatchObject({ state: 'running', claimed_by: 'w2' });
      } finally {
        after.close();
      }
    },
    90_000,
  );

  it.skipIf(skip)('checks and reserves budget in one transaction with the row that justifies it', () =>
    withStore((store) => {
      store.ledger.reserve('e1', 'p', 'a', 't', 600);
      expect(() =>
        store.transaction(() => {
          store.ledger.reserve('e2', 'p', 'a', 't', 300);
          throw new Error('the approval row failed');
        }),
      ).toThrow(/approval row failed/);
      expect(store.ledger.facts('p', 1000)).toEqual({ capCents: 1000, committedCents: 0, reservedCents: 600 });
      store.ledger.settle('e1', 'p', 'a', { add: [{ arn: 'arn:x', description: 'x', hourlyUsd: 0.01, centsMonth: 600 }], remove: [] });
      store.ledger.adopt('p', { arn: 'arn:y', description: 'y', hourlyUsd: null, centsMonth: null }, null);
      // A held resource with no price blocks spending (fail closed), on either store.
      expect(store.ledger.facts('p', 1000)).toBeNull();
      store.ledger.raiseCap('p', 500, null, 'prop_1', 'human:ann');
      expect(store.ledger.summary('p', 1000)).toMatchObject({ capCents: 1500, committedCents: 600, unpriced: ['arn:y'] });
    }),
  );

  it.skipIf(skip)('approves with a reservation only while what is left of the cap covers it, and writes nothing when not', () =>
    withStore((store) => {
      const approval = { kind: 'approved' as const, agent: 'a', project: 'p', tool: 't' };
      store.ledger.reserve('e1', 'p', 'a', 't', 600);
      // $10.00 cap, $6.00 reserved: $4.01 does not fit, and neither the row nor the reservation is written.
      expect(store.approveReserving(approval, { cents: 401, baseCents: 1000 })).toBeNull();
      expect(store.audit.verify()).toMatchObject({ ok: true, count: 0 });
      // Exactly what is left fits: the row, and the reservation under its id.
      const row = store.approveReserving(approval, { cents: 400, baseCents: 1000 });
      expect(row).toMatchObject({ seq: 1, kind: 'approved' });
      expect(store.audit.verify()).toMatchObject({ ok: true, count: 1, head: row!.hash });
      expect(store.ledger.summary('p', 1000).reservations).toContainEqual(expect.objectContaining({ eventId: row!.id, cents: 400 }));
      expect(store.approveReserving(approval, { cents: 1, baseCents: 1000 })).toBeNull();
      // What is held counts, and so does this month's raise of the cap.
      store.ledger.settle('e1', 'p', 'a', { add: [{ arn: 'arn:x', description: 'x', hourlyUsd: 0.01, centsMonth: 600 }], remove: [] });
      expect(store.approveReserving(approval, { cents: 1, baseCents: 1000 })).toBeNull();
      store.ledger.raiseCap('p', 500, store.ledger.summary('p', 1000).month, 'prop_1', 'human:ann');
      expect(store.approveReserving(approval, { cents: 500, baseCents: 1000 })).toMatchObject({ seq: 2 });
      store.ledger.raiseCap('p', 100, null, 'prop_2', 'human:ann');
      // A held resource with no price blocks it, however much is left.
      store.ledger.adopt('p', { arn: 'arn:y', description: 'y', hourlyUsd: null, centsMonth: null }, null);
      expect(store.approveReserving(approval, { cents: 1, baseCents: 1000 })).toBeNull();
      expect(store.audit.verify()).toMatchObject({ ok: true, count: 2 });
      expect(store.ledger.summary('p', 1000)).toMatchObject({ reservedCents: 900, committedCents: 600, capCents: 1600 });
    }),
  );

  it.skipIf(skip)('keeps a checkpoint of the head every N appends, written with the row it names', () =>
    withStore((store, location) => {
      const db = b.name === 'sqlite' ? rawDb(store) : PostgresDb.connect(location);
      try {
        const audit = new AuditLog(db, undefined, 3);
        const rows = Array.from({ length: 7 }, () => audit.append({ kind: 'requested', agent: 'a', project: 'p', tool: 't' }));
        expect(audit.verify()).toEqual({ ok: true, count: 7, head: rows[6].hash, checkpoint: 6 });
        expect(audit.verify({ full: true })).toMatchObject({ ok: true, count: 7, head: rows[6].hash });
      } finally {
        if (b.name === 'postgres') db.close();
      }
    }),
  );

  it.skipIf(skip)('never commits the writes of a failed inner transaction, even when the outer one catches its error', () =>
    withStore((store) => {
      const outer = () =>
        store.transaction(() => {
          store.ledger.reserve('a', 'p', 'x', 't', 1);
          try {
            store.transaction(() => {
              store.ledger.reserve('b', 'p', 'x', 't', 10);
              throw new Error('inner failed');
            });
          } catch {
            // The outer transaction goes on.
          }
          store.ledger.reserve('c', 'p', 'x', 't', 100);
        });
      // SQLite rolls back to the inner savepoint and commits the rest; PostgreSQL rolls the whole transaction back.
      if (b.name === 'sqlite') outer();
      else expect(outer).toThrow(/inner failed/);
      expect(store.ledger.facts('p', 1000)?.reservedCents).toBe(b.name === 'sqlite' ? 101 : 0);
    }),
  );

  it.skipIf(skip)('leaves nothing of a write that fails on its own, and the next write and transaction commit', () =>
    withStore((store) => {
      store.ledger.reserve('e1', 'p', 'x', 't', 5);
      // A second reservation for the same approval breaks its key: that write is refused whole.
      expect(() => store.ledger.reserve('e1', 'p', 'x', 't', 500)).toThrow(/unique|UNIQUE/);
      // The connection is not left inside a failed transaction: the next writes commit, alone and in a transaction.
      store.audit.append({ kind: 'requested', agent: 'a', project: 'p', tool: 't' });
      // A transaction that runs no statement commits nothing and leaves the connection as it was.
      expect(store.transaction(() => 7)).toBe(7);
      store.transaction(() => store.ledger.reserve('e2', 'p', 'x', 't', 10));
      expect(store.ledger.facts('p', 1000)?.reservedCents).toBe(15);
      expect(store.audit.verify()).toMatchObject({ ok: true, count: 1 });
    }),
  );

  it.skipIf(skip)('serves on when another process alters a table under its prepared statements', () =>
    withStore(async (store, location) => {
      const first = store.audit.append({ kind: 'requested', agent: 'a', project: 'p', tool: 't' });
      expect(store.audit.tail({ limit: 5 })).toHaveLength(1);
      expect(store.audit.get(first.id)?.id).toBe(first.id);
      // A newer aws-warden migrating the shared store adds a column: the rows these statements return change shape.
      await b.tamper(location, 'ALTER TABLE audit_events ADD COLUMN note TEXT');
      expect(store.audit.tail({ limit: 5 }).map((r) => r.id)).toEqual([first.id]);
      expect(store.audit.get(first.id)?.id).toBe(first.id);
      store.audit.append({ kind: 'requested', agent: 'a', project: 'p', tool: 't' });
      expect(store.audit.tail({ limit: 5 })).toHaveLength(2);
    }),
  );

  it.skipIf(skip)('commits a reservation alone in its transaction, shows it to a read after it, and keeps nothing of one that fails', () =>
    withStore((store, location) => {
      // The reservation alone in its transaction (on PostgreSQL its BEGIN goes with it): committed, as another
      // connection sees.
      store.transaction(() => store.ledger.reserve('e1', 'p', 'x', 't', 5));
      const other = Store.open(location);
      expect(other.ledger.facts('p', 1000)?.reservedCents).toBe(5);
      other.close();
      // A read after a reservation in the same transaction sees it.
      expect(store.transaction(() => (store.ledger.reserve('e2', 'p', 'x', 't', 10), store.ledger.facts('p', 1000)?.reservedCents))).toBe(
        15,
      );
      // An approved row and a reservation that breaks its key: the transaction fails whole, the row is not kept.
      expect(() =>
        store.transaction(() => {
          store.audit.append({ kind: 'approved', agent: 'a', project: 'p', tool: 't' });
          store.ledger.reserve('e1', 'p', 'x', 't', 500);
        }),
      ).toThrow(/unique|UNIQUE/);
      expect(store.audit.verify()).toMatchObject({ ok: true, count: 0 });
      expect(store.ledger.facts('p', 1000)?.reservedCents).toBe(15);
    }),
  );

  it.skipIf(skip)('holds locks with leases: one holder, taken over once expired or released', () =>
    withStore((store) => {
      const first = store.locks.tryAcquire('svc', 60_000);
      expect(first).toBeTruthy();
      expect(store.locks.tryAcquire('svc', 60_000)).toBeNull();
      store.locks.release('svc', first!);
      // A lease that ran out is free for the next taker, without its holder releasing it.
      expect(store.locks.tryAcquire('svc', -1)).toBeTruthy();
      expect(store.locks.tryAcquire('svc', 60_000)).toBeTruthy();
      expect(store.locks.tryAcquire('svc', 60_000)).toBeNull();
      store.locks.renewLease('worker', 'host:1:a', 60_000);
      expect(store.locks.leaseAlive('worker')).toBe(true);
      store.locks.renewLease('worker', 'host:1:a', -1);
      expect(store.locks.leaseAlive('worker')).toBe(false);
    }),
  );

  it.skipIf(skip)('keeps the rest as SQLite does: rate buckets, tokens, desired state, deployments, notices, trust counts', () =>
    withStore((store) => {
      const buckets = [{ kind: 'calls_per_minute', capacity: 2, periodMs: 60_000 }];
      const a = store.rates.admit('a', 't', buckets, 5);
      const b2 = store.rates.admit('a', 't', buckets, 5);
      expect(a.ok && b2.ok).toBe(true);
      expect(store.rates.admit('a', 't', buckets, 5)).toMatchObject({ ok: false, limit: 'calls_per_minute' });
      if (a.ok) store.rates.leave(a.slot);
      expect(store.rates.usage('a', buckets)).toMatchObject({ inFlight: 1 });

      const { token, row } = store.tokens.issue('web-bot', 'human:ann', null);
      expect(store.tokens.check(token)).toEqual({ agent: 'web-bot', id: row.id });
      expect(store.tokens.revoke(row.id, 'human:ann')).toBe(true);
      expect(store.tokens.check(token)).toHaveProperty('refused');

      store.desired.record('p', 'e1', [{ resource: 'arn:a', aspect: 'tags', value: { A: '1' } }]);
      store.desired.record('p', 'e2', [{ resource: 'arn:a', aspect: 'tags', value: { A: '2' } }]);
      expect(store.desired.list('p')).toMatchObject([{ resource: 'arn:a', value: { A: '2' }, event_id: 'e2' }]);

      const d = { id: 'ev1', project: 'p', site: 's', environment: 'prod', bucket: 'b', source: '/x' };
      store.deployments.start(d);
      store.deployments.start(d);
      store.deployments.finish('ev1', 'live', { 'index.html': 'v1' }, []);
      expect(store.deployments.lastDeploys('p')).toMatchObject([{ bucket: 'b', site: 's', environment: 'prod' }]);

      const n1 = store.notifications.record({ ts: 't', project: 'p', kind: 'k', subject: 's', body: 'b', eventId: null });
      const n2 = store.notifications.record({ ts: 't', project: 'p', kind: 'k', subject: 's', body: 'b', eventId: null });
      expect(n2).toBeGreaterThan(n1);

      store.tiers.record('a', 'operator', 'human:ann', 'promoted');
      expect(store.tiers.list('a')).toMatchObject([{ tier: 'operator', by: 'human:ann' }]);
      store.audit.append({ kind: 'denied', agent: 'a', project: 'p', tool: 't', decision: { rule: 'budget', reason: 'over' } });
      expect(store.tiers.counts('a', '2000-01-01')).toMatchObject({ denials: 1, budgetRefusals: 1, daysActive: 1 });
      expect(store.proposals.list({ state: 'pending' })).toEqual([]);
      expect(store.jobs.list({ state: 'queued' })).toEqual([]);
      expect(store.backups.latest()).toEqual([]);
    }),
  );
});

// What only a PostgreSQL connection has: statements prepared on the server, and a COMMIT the server may turn into a
// ROLLBACK. The connection is built here, so the test can act on it behind the store's back.
describe.skipIf(!hasPostgres)('the PostgreSQL connection', () => {
  const fresh = async (fn: (location: string) => void | Promise<void>) => fn(await freshPgDatabase('contract'));

  it('serves on unprepared when its prepared statements vanish (a pooler in front)', () =>
    fresh((location) => {
      const db = PostgresDb.connect(location);
      const store = new Store(db);
      const first = store.audit.append({ kind: 'requested', agent: 'a', project: 'p', tool: 't' });
      expect(store.audit.get(first.id)?.id).toBe(first.id);
      // What a transaction-mode pooler does to a connection's prepared statements: they are not there on the next one.
      db.query('DEALLOCATE ALL');
      expect(store.audit.get(first.id)?.id).toBe(first.id);
      store.audit.append({ kind: 'requested', agent: 'a', project: 'p', tool: 't' });
      expect(store.transaction(() => store.audit.tail({ limit: 5 }))).toHaveLength(2);
      expect(store.audit.verify()).toMatchObject({ ok: true, count: 2 });
      store.close();
    }));

  it('fails a transaction PostgreSQL rolled back at its COMMIT, when a failed statement was caught inside it', () =>
    fresh((location) => {
      const db = PostgresDb.connect(location);
      const store = new Store(db);
      store.ledger.reserve('e1', 'p', 'x', 't', 5);
      expect(() =>
        store.transaction(() => {
          store.audit.append({ kind: 'approved', agent: 'a', project: 'p', tool: 't' });
          try {
            db.query(
              "INSERT INTO budget_reservations (event_id, project, agent, tool, cents_month, state, created_at) VALUES ('e1', 'p', 'x', 't', 1, 'reserved', 'now')",
            );
          } catch {
            // Caught: as far as this code knows, the transaction goes on.
          }
        }),
      ).toThrow(/rolled the transaction back at its COMMIT/);
      expect(store.audit.verify()).toMatchObject({ ok: true, count: 0 });
      store.close();
    }));
});
