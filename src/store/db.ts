// Opens the SQLite store with the pragmas every process sharing it must agree on, and migrates it; and the two calls
// every store module makes on either kind of connection (a cached statement, an immediate transaction).
import Database from 'better-sqlite3';
import { registerChainHash } from './chain.js';
import { latestVersion, migrate } from './migrations.js';
import type { PostgresDb } from './postgres-db.js';
import type { Db, Statement } from './sql.js';

export type { Db, Statement } from './sql.js';
export type SqliteDb = Database.Database;

export const isPostgres = (db: Db): db is PostgresDb => (db as { dialect?: string }).dialect === 'postgres';

export function openDb(file: string, opts: { mustExist?: boolean; readOnly?: boolean } = {}): SqliteDb {
  if (opts.readOnly) return openReadOnly(file);
  const db = new Database(file, { fileMustExist: opts.mustExist ?? false });
  try {
    // First, so that everything after it (switching a new file to WAL, migrating) waits for a process doing the same.
    db.pragma('busy_timeout = 10000');
    if (file !== ':memory:') db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives a process crash (kill -9); a power loss may roll back
    // the last few commits, never corrupt the file or the chain.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    registerChainHash(db);
    migrate(db);
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

const statements = new WeakMap<Db, Map<string, Statement>>();
const runners = new WeakMap<SqliteDb, Database.Transaction<(fn: () => unknown) => unknown>>();

/**
 * Runs `fn` in one BEGIN IMMEDIATE transaction (a savepoint when one is already open). The wrapper is made once per
 * connection: better-sqlite3 builds a new one on every db.transaction(), a third of an append's time.
 */
export function immediate<T>(db: Db, fn: () => T): T {
  if (isPostgres(db)) return db.immediate(fn);
  const sqlite = db as SqliteDb;
  let run = runners.get(sqlite);
  if (!run) runners.set(sqlite, (run = sqlite.transaction((f: () => unknown) => f())));
  return run.immediate(fn) as T;
}

/** A prepared statement, cached per connection. */
export function stmt(db: Db, sql: string): Statement {
  let cache = statements.get(db);
  if (!cache) statements.set(db, (cache = new Map()));
  let s = cache.get(sql);
  if (!s) cache.set(sql, (s = db.prepare(sql)));
  return s;
}

/**
 * For a human who only reads (audit tail, verify, export): no write of any kind, so a read-only file or a full disk
 * does not turn a good answer into a failure. A store not yet migrated to this version is refused, not migrated.
 */
function openReadOnly(file: string): SqliteDb {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 10000');
    registerChainHash(db);
    const current = db.pragma('user_version', { simple: true }) as number;
    const latest = latestVersion();
    if (current !== latest)
      throw new Error(
        `the store is at schema version ${current} and this aws-warden reads ${latest}; open it once with the server or a writing command to migrate`,
      );
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

export function closeDb(db: Db): void {
  if (isPostgres(db)) return db.close();
  if (!db.open) return;
  try {
    // Only a connection that may write tunes the file; a failure to (a full disk) loses nothing, so it never fails a close.
    if (!db.readonly) (db as SqliteDb).pragma('optimize');
  } catch {
    // Nothing to undo: optimize only gathers statistics.
  } finally {
    (db as SqliteDb).close();
  }
}
