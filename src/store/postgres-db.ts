// The PostgreSQL connection behind the store interface: the same statements as SQLite (`?` and `@name` placeholders,
// rows as objects), and write transactions serialised across every process and host by one advisory lock, which is
// what BEGIN IMMEDIATE gives on SQLite, so every check-then-write the store makes holds on PostgreSQL as it does there.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PgRequest, PgResponse } from './pg-worker.js';
import { latestPostgresVersion, migratePostgres, postgresVersion, WRITE_LOCK } from './pg-migrations.js';
import { shownLocation, type Db, type Statement } from './sql.js';

/** What opens every write transaction: BEGIN, then the store's write lock. */
const BEGIN = `BEGIN; SELECT pg_advisory_xact_lock(${WRITE_LOCK})`;

/** Waits for another process's write transaction this long before failing (SQLite's busy_timeout is the same). */
const LOCK_TIMEOUT_MS = 10_000;

function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  // Run from the TypeScript sources (the test runner), the worker is the compiled one: a worker thread runs plain JS.
  const file = here.endsWith('.ts') ? join(dirname(here), '../../dist/src/store/pg-worker.js') : join(dirname(here), 'pg-worker.js');
  if (!existsSync(file)) throw new Error(`the PostgreSQL worker ${file} is missing: run npm run build`);
  return file;
}

let bridge: ((req: PgRequest) => PgResponse) | undefined;
/** Loaded on the first PostgreSQL call, so a process on SQLite never loads the worker machinery. */
function call(req: PgRequest): PgResponse {
  if (!bridge) {
    const { createSyncFn } = createRequire(import.meta.url)('synckit') as typeof import('synckit');
    bridge = createSyncFn<(req: PgRequest) => Promise<PgResponse>>(workerFile());
  }
  return bridge(req);
}

/** `?` → `$n` and `@name` → `$n` (the same $n for each use of a name), outside quoted text. */
export function translate(sql: string): { text: string; names: string[] | null } {
  let out = '';
  let n = 0;
  const names: string[] = [];
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end < 0 ? sql.length : end;
      out += sql.slice(i, stop + 1);
      i = stop;
    } else if (c === '?') {
      out += `$${++n}`;
    } else if (c === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1))![0];
      let at = names.indexOf(name);
      if (at < 0) at = names.push(name) - 1;
      out += `$${at + 1}`;
      i += name.length;
    } else out += c;
  }
  if (n > 0 && names.length > 0) throw new Error(`a statement mixes ? and @name placeholders: ${sql}`);
  return { text: out, names: names.length ? names : null };
}

const bindable = (v: unknown) => (v === undefined ? null : typeof v === 'bigint' ? v.toString() : v);

class PgStatement implements Statement {
  private readonly text: string;
  private readonly names: string[] | null;
  private readonly writes: boolean;
  private array = false;

  constructor(
    private readonly db: PostgresDb,
    sql: string,
  ) {
    ({ text: this.text, names: this.names } = translate(sql));
    this.writes = !/^\s*SELECT\b/i.test(sql);
  }

  private values(params: unknown[]): unknown[] {
    if (!this.names) return params.map(bindable);
    const named = (params[0] ?? {}) as Record<string, unknown>;
    return this.names.map((n) => bindable(named[n]));
  }

  private exec(params: unknown[]) {
    return this.db.query(this.text, this.values(params), { array: this.array, writes: this.writes });
  }

  run(...params: unknown[]) {
    return { changes: this.exec(params).rowCount };
  }

  get(...params: unknown[]) {
    return this.exec(params).rows[0];
  }

  all(...params: unknown[]) {
    return this.exec(params).rows;
  }

  iterate(...params: unknown[]) {
    return this.exec(params).rows[Symbol.iterator]();
  }

  raw(toggle = true): Statement {
    this.array = toggle;
    return this;
  }
}

export class PostgresDb implements Db {
  readonly dialect = 'postgres';
  private conn: number | null;
  private depth = 0;
  /** Why an inner transaction failed: the whole transaction then rolls back, whatever the outer one does. */
  private poisoned: Error | null = null;
  /** A transaction is open here but its BEGIN not yet sent: it goes with the first statement. */
  private unbegun = false;

  private constructor(
    conn: number,
    readonly readonly: boolean,
    readonly location: string,
  ) {
    this.conn = conn;
  }

  /** Connects and migrates (or, read-only, requires the latest schema); `mustExist`: the store must already be there. */
  static connect(url: string, opts: { readOnly?: boolean; mustExist?: boolean } = {}): PostgresDb {
    const res = call({ op: 'open', url, readOnly: opts.readOnly ?? false, lockTimeoutMs: LOCK_TIMEOUT_MS });
    if (!res.ok) throw new Error(`cannot connect to ${shownLocation(url)}: ${res.message}`);
    const db = new PostgresDb(res.conn!, opts.readOnly ?? false, url);
    try {
      const current = postgresVersion(db);
      if ((opts.mustExist || opts.readOnly) && current === 0)
        throw new Error('the database holds no aws-warden store yet: start the server on it once, or copy one in (wardenctl store copy)');
      if (opts.readOnly && current !== latestPostgresVersion())
        throw new Error(
          `the store is at schema version ${current} and this aws-warden reads ${latestPostgresVersion()}; open it once with the server or a writing command to migrate`,
        );
      if (!opts.readOnly) migratePostgres(db);
    } catch (e) {
      db.close();
      throw e;
    }
    return db;
  }

  get open(): boolean {
    return this.conn !== null;
  }

  prepare(sql: string): Statement {
    return new PgStatement(this, sql);
  }

  /**
   * One hop to the worker. A write outside a transaction takes the write lock for itself, as an SQLite write would:
   * BEGIN and the lock, the statement and COMMIT in that one hop. The first statement of a transaction carries its
   * BEGIN and lock.
   */
  query(
    text: string,
    values?: unknown[],
    opts: { array?: boolean; writes?: boolean } = {},
  ): { rows: unknown[]; rowCount: number; command?: string } {
    if (this.conn === null) throw new Error('the store is closed');
    if (this.poisoned) throw new Error(`a store transaction inside this one failed (${this.poisoned.message}); it is rolled back whole`);
    const alone = opts.writes === true && this.depth === 0;
    const begin = alone || this.unbegun ? BEGIN : undefined;
    this.unbegun = false;
    let res = call({ op: 'query', conn: this.conn, text, values, array: opts.array, begin, commit: alone });
    // A table altered under a prepared statement (another process migrated the store), or the statement gone (a
    // pooler gave this transaction another server connection): outside a transaction nothing of the statement ran, so
    // it runs once more, prepared afresh or unprepared. Inside one, the transaction fails whole.
    if (!res.ok && (res.code === '0A000' || res.code === '26000') && this.depth === 0)
      res = call({ op: 'query', conn: this.conn, text, values, array: opts.array, begin, commit: alone });
    if (!res.ok) throw Object.assign(new Error(res.message), { code: res.code ? `PG_${res.code}` : undefined });
    return { rows: res.rows ?? [], rowCount: res.rowCount ?? 0, command: res.command };
  }

  /**
   * Runs `fn` in one transaction holding the store's write lock. A transaction inside another joins it, without a
   * savepoint (two round trips saved on every append inside a check): if the inner one fails, the whole transaction
   * is rolled back, even when the outer one catches the error, so nothing half-done is ever committed.
   */
  immediate<T>(fn: () => T): T {
    if (this.depth > 0) {
      this.depth++;
      try {
        const result = fn();
        if (result instanceof Promise) throw new TypeError('a store transaction cannot be async');
        return result;
      } catch (e) {
        this.poisoned ??= e as Error;
        throw e;
      } finally {
        this.depth--;
      }
    }
    // BEGIN and the lock go with the transaction's first statement (one hop fewer); one that runs none sends nothing.
    this.unbegun = true;
    this.depth = 1;
    let result: T;
    try {
      result = fn();
      if (result instanceof Promise) throw new TypeError('a store transaction cannot be async');
      if (this.poisoned) throw this.poisoned;
    } catch (e) {
      const begun = !this.unbegun;
      this.depth = 0;
      this.poisoned = null;
      this.unbegun = false;
      try {
        if (begun) this.query('ROLLBACK');
      } catch {
        // The connection is gone: PostgreSQL rolls back what it had.
      }
      throw e;
    }
    this.depth = 0;
    // A transaction that sent nothing has nothing to commit.
    if (this.unbegun) this.unbegun = false;
    else this.commit();
    return result;
  }

  /**
   * COMMIT. One PostgreSQL answers with ROLLBACK (a statement of the transaction had failed and its error was caught)
   * is a failure, not a success that kept nothing.
   */
  private commit(): void {
    try {
      if (this.query('COMMIT').command === 'ROLLBACK')
        throw new Error('PostgreSQL rolled the transaction back at its COMMIT: a statement in it had failed; nothing of it was kept');
    } catch (e) {
      try {
        this.query('ROLLBACK');
      } catch {
        // The connection is gone: PostgreSQL rolls back what it had.
      }
      throw e;
    }
  }

  /** Whether a transaction is open on this connection. */
  get inTransaction(): boolean {
    return this.depth > 0;
  }

  schemaVersion(): number {
    return postgresVersion(this);
  }

  close(): void {
    if (this.conn === null) return;
    const conn = this.conn;
    this.conn = null;
    call({ op: 'close', conn });
  }
}
