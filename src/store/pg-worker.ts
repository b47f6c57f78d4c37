// The worker thread that holds the PostgreSQL connections: the store's API is synchronous (one transaction runs to its
// end with nothing interleaved, as with SQLite), so the main thread waits on this worker for each statement (synckit).
import pg from 'pg';
import { runAsWorker } from 'synckit';

// Values as the SQLite store returns them: counts and sums as numbers, booleans as 0/1.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.BOOL, (v) => (v === 't' ? 1 : 0));

export type PgRequest =
  | { op: 'open'; url: string; readOnly: boolean; lockTimeoutMs: number }
  | {
      op: 'query';
      conn: number;
      text: string;
      values?: unknown[];
      array?: boolean;
      /** Run first, in the same hop: the transaction's BEGIN and write lock, sent with its first statement. */
      begin?: string;
      /** COMMIT after the statement (ROLLBACK if anything failed), in the same hop: a write that is its own transaction. */
      commit?: boolean;
    }
  | { op: 'close'; conn: number };

export type PgResponse =
  { ok: true; conn?: number; rows?: unknown[]; rowCount?: number } | { ok: false; message: string; code?: string; lost?: boolean };

const clients = new Map<number, { client: pg.Client; lost: string | null }>();
let nextConn = 1;

async function handle(req: PgRequest): Promise<PgResponse> {
  if (req.op === 'open') {
    const client = new pg.Client({
      connectionString: req.url,
      connectionTimeoutMillis: 10_000,
      application_name: 'aws-warden',
      // A statement that waits on a lock longer than this fails rather than hanging the process (SQLite's busy_timeout).
      lock_timeout: req.lockTimeoutMs,
      statement_timeout: 60_000,
      idle_in_transaction_session_timeout: 60_000,
    });
    const entry = { client, lost: null as string | null };
    // A connection the server drops (restart, admin kill) fails the next statement, never the process.
    client.on('error', (e) => (entry.lost = e.message));
    await client.connect();
    if (req.readOnly) await client.query('SET default_transaction_read_only = on');
    const conn = nextConn++;
    clients.set(conn, entry);
    return { ok: true, conn };
  }
  const entry = clients.get(req.conn);
  if (req.op === 'close') {
    clients.delete(req.conn);
    await entry?.client.end().catch(() => undefined);
    return { ok: true };
  }
  if (!entry) return { ok: false, message: 'the PostgreSQL connection is closed' };
  if (entry.lost) return { ok: false, message: `the PostgreSQL connection was lost: ${entry.lost}`, lost: true };
  const config: pg.QueryArrayConfig | pg.QueryConfig = req.array
    ? { text: req.text, values: req.values, rowMode: 'array' }
    : { text: req.text, values: req.values };
  let res: pg.QueryResult | pg.QueryResult[];
  try {
    if (req.begin) await entry.client.query(req.begin);
    res = (await entry.client.query(config as pg.QueryConfig)) as pg.QueryResult | pg.QueryResult[];
    if (req.commit) await entry.client.query('COMMIT');
  } catch (e) {
    // Its own transaction failed: nothing of it stays (a failed COMMIT has ended the transaction already).
    if (req.commit) await entry.client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
  // A multi-statement text (BEGIN; SELECT pg_advisory_xact_lock(…)) answers with one result per statement.
  const last = Array.isArray(res) ? res[res.length - 1] : res;
  return { ok: true, rows: last.rows, rowCount: last.rowCount ?? 0 };
}

runAsWorker(async (req: PgRequest): Promise<PgResponse> => {
  try {
    return await handle(req);
  } catch (e) {
    const err = e as Error & { code?: string };
    return { ok: false, message: err.message, code: err.code };
  }
});
