// Opens the SQLite store with the pragmas every process sharing it must agree on, and migrates it.
import Database from 'better-sqlite3';
import { registerChainHash } from './chain.js';
import { migrate } from './migrations.js';

export type Db = Database.Database;

export function openDb(file: string, opts: { mustExist?: boolean } = {}): Db {
  const db = new Database(file, { fileMustExist: opts.mustExist ?? false });
  try {
    if (file !== ':memory:') db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives a process crash (kill -9); a power loss may roll back
    // the last few commits, never corrupt the file or the chain.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 10000');
    db.pragma('foreign_keys = ON');
    registerChainHash(db);
    migrate(db);
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

const statements = new WeakMap<Db, Map<string, Database.Statement>>();

/** A prepared statement, cached per connection. */
export function stmt(db: Db, sql: string): Database.Statement {
  let cache = statements.get(db);
  if (!cache) statements.set(db, (cache = new Map()));
  let s = cache.get(sql);
  if (!s) cache.set(sql, (s = db.prepare(sql)));
  return s;
}

export function closeDb(db: Db): void {
  if (!db.open) return;
  try {
    db.pragma('optimize');
  } finally {
    db.close();
  }
}
