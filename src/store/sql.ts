// What the store modules need of a connection, met by better-sqlite3's Database and by PostgresDb alike, and how a
// store location names which one: a postgres:// URL, or an SQLite file.

/** A prepared statement: `?` placeholders (or `@name` with one object), rows as objects, or as arrays after raw(true). */
export interface Statement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
  raw(toggle?: boolean): Statement;
}

export interface Db {
  prepare(sql: string): Statement;
  readonly open: boolean;
  readonly readonly: boolean;
}

/** Whether a store location is a PostgreSQL URL rather than an SQLite file path. */
export const isPostgresUrl = (location: string): boolean => /^postgres(ql)?:\/\//i.test(location);

/** The location as it may be shown or logged: a URL's password is never printed. */
export function shownLocation(location: string): string {
  if (!isPostgresUrl(location)) return location;
  try {
    const url = new URL(location);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}
