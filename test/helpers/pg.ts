// The run's PostgreSQL cluster (test/global-setup.ts): a fresh database per suite, so suites never see each other's rows.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export const pgAdminUrl = inject('pgAdminUrl');

/** Whether this run has PostgreSQL (always in CI); suites on it are skipped otherwise, and global setup says why. */
export const hasPostgres = pgAdminUrl !== '';

/** A new, empty database on the run's cluster; its URL. */
export async function freshPgDatabase(prefix = 't'): Promise<string> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client(pgAdminUrl);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(pgAdminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** One statement on a database behind the store's back (an attacker with the database's password, in tamper tests). */
export async function pgExec(url: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}
