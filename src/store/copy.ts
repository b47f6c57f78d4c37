// Copies a whole store into an empty one, between SQLite and PostgreSQL in either direction: every table, row for
// row, inside the source's and the target's write transactions, so nothing is written to either meanwhile.
import { immediate, isPostgres, stmt, type Db } from './db.js';

/** Every table of the schema (test/store-contract.test.ts holds this list to the migrated schema), with its key. */
export const STORE_TABLES: readonly { name: string; key: string; identity?: boolean }[] = [
  { name: 'audit_events', key: 'seq' },
  { name: 'audit_checkpoints', key: 'seq' },
  { name: 'proposals', key: 'id' },
  { name: 'budget_resources', key: 'id', identity: true },
  { name: 'budget_reservations', key: 'event_id' },
  { name: 'budget_adjustments', key: 'id', identity: true },
  { name: 'locks', key: 'key' },
  { name: 'deployments', key: 'id' },
  { name: 'jobs', key: 'id' },
  { name: 'desired_state', key: 'project, resource, aspect' },
  { name: 'backup_checks', key: 'id', identity: true },
  { name: 'notifications', key: 'id', identity: true },
  { name: 'tier_changes', key: 'id', identity: true },
  { name: 'rate_buckets', key: 'agent, kind' },
  { name: 'call_slots', key: 'id' },
  { name: 'agent_tokens', key: 'id' },
];

const PAGE = 2000;

export interface CopyReport {
  tables: { name: string; rows: number }[];
}

const quoted = (c: string) => `"${c.replaceAll('"', '""')}"`;

/** Copies `from` into `to`, which must hold no rows at all; the caller checks both stores' schema versions first. */
export function copyTables(from: Db, to: Db): CopyReport {
  return immediate(from, () =>
    immediate(to, () => {
      const full = STORE_TABLES.filter((t) => (stmt(to, `SELECT COUNT(*) AS n FROM ${t.name}`).get() as { n: number }).n > 0);
      if (full.length)
        throw new Error(`the target store is not empty (${full.map((t) => t.name).join(', ')} hold rows); copy into a new one`);
      const tables: CopyReport['tables'] = [];
      for (const t of STORE_TABLES) {
        let rows = 0;
        for (let offset = 0; ; offset += PAGE) {
          const page = stmt(from, `SELECT * FROM ${t.name} ORDER BY ${t.key} LIMIT ? OFFSET ?`).all(PAGE, offset) as Record<
            string,
            unknown
          >[];
          if (page.length === 0) break;
          const columns = Object.keys(page[0]);
          // One statement per batch, within both engines' limits on bound values.
          const perInsert = Math.max(1, Math.floor(8000 / columns.length));
          for (let i = 0; i < page.length; i += perInsert) {
            const batch = page.slice(i, i + perInsert);
            const values = batch.map(() => `(${columns.map(() => '?').join(', ')})`).join(', ');
            stmt(to, `INSERT INTO ${t.name} (${columns.map(quoted).join(', ')}) VALUES ${values}`).run(
              ...batch.flatMap((r) => columns.map((c) => r[c])),
            );
          }
          rows += page.length;
          if (page.length < PAGE) break;
        }
        // PostgreSQL's identity columns do not follow explicit ids: the next id must come after the copied ones.
        if (t.identity && isPostgres(to))
          stmt(
            to,
            `SELECT setval(pg_get_serial_sequence('${t.name}', 'id'), COALESCE((SELECT MAX(id) FROM ${t.name}), 0) + 1, false)`,
          ).get();
        tables.push({ name: t.name, rows });
      }
      return { tables };
    }),
  );
}
