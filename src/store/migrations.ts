// Ordered schema migrations; the database's user_version records which have run.
import type Database from 'better-sqlite3';

export interface Migration {
  version: number;
  update(db: Database.Database): void;
}

export const migrations: Migration[] = [
  {
    version: 1,
    update(db) {
      db.exec(`
        CREATE TABLE audit_events (
          seq        INTEGER PRIMARY KEY,
          id         TEXT NOT NULL UNIQUE,
          ts         TEXT NOT NULL,
          kind       TEXT NOT NULL CHECK (kind IN
                       ('requested','denied','escalated','planned','approved','executed','failed','rolled_back')),
          agent      TEXT NOT NULL,
          project    TEXT NOT NULL,
          tool       TEXT NOT NULL,
          action     TEXT,
          request    TEXT,
          decision   TEXT,
          result     TEXT,
          role_arn   TEXT,
          request_ids TEXT,
          follows    TEXT,
          prev_hash  TEXT NOT NULL,
          hash       TEXT NOT NULL
        );
        CREATE INDEX audit_events_agent ON audit_events (agent, seq);
        CREATE INDEX audit_events_ts ON audit_events (ts);
        CREATE INDEX audit_events_follows ON audit_events (follows);
        -- Append-only: the chain detects edits made around these, the triggers stop casual ones.
        CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
          BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
        CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
          BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
      `);
    },
  },
];

export function migrate(db: Database.Database, list: Migration[] = migrations): void {
  list.forEach((m, i) => {
    if (i > 0 && m.version <= list[i - 1].version) throw new Error(`migration versions must increase (${m.version})`);
  });
  const latest = list.at(-1)?.version ?? 0;
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > latest)
    throw new Error(`database schema is version ${current}, newer than this aws-warden (${latest}); upgrade aws-warden`);
  for (const m of list) {
    if (m.version <= current) continue;
    db.transaction(() => {
      m.update(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
}
