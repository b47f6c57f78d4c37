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
  | { ok: true; conn?: number; rows?: unknown[]; rowCount?: number; command?: string }
  | { ok: false; message: string; code?: string; lost?: boolean };

interface Connection {
  client: pg.Client;
  lost: string | null;
  /** The statements prepared on this connection, by text: PostgreSQL parses and plans each once, not at every call. */
  prepared: Map<string, string>;
  /** Names handed out on this connection (a forgotten statement's name is never reused). */
  named: number;
  /**
   * A prepared statement went missing under the connection (a pooler in front of PostgreSQL that hands each
   * transaction another server connection): this connection runs every statement unprepared from then on.
   */
  unprepared: boolean;
}

const clients = new Map<number, Connection>();

/** Distinct statement texts prepared per connection at most; past this a new text runs unprepared. */
const MAX_PREPARED = 500;

/**
 * The name a statement with parameters runs under on `entry`, prepared at its first use. A text without parameters
 * (BEGIN with the write lock, COMMIT, a migration's script) may hold several commands, which only the simple protocol
 * takes: it runs unprepared.
 */
function preparedName(entry: Connection, text: string, values: unknown[] | undefined): string | undefined {
  if (!values?.length || entry.unprepared) return undefined;
  let name = entry.prepared.get(text);
  if (!name && entry.prepared.size < MAX_PREPARED) entry.prepared.set(text, (name = `warden_${++entry.named}`));
  return name;
}
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
    const entry: Connection = { client, lost: null, prepared: new Map(), named: 0, unprepared: false };
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
  const name = preparedName(entry, req.text, req.values);
  const config: pg.QueryArrayConfig | pg.QueryConfig = req.array
    ? { name, text: req.text, values: req.values, rowMode: 'array' }
    : { name, text: req.text, values: req.values };
  let res: pg.QueryResult | pg.QueryResult[];
  try {
    if (req.begin) await entry.client.query(req.begin);
    res = (await entry.client.query(config as pg.QueryConfig)) as pg.QueryResult | pg.QueryResult[];
    if (req.commit) await entry.client.query('COMMIT');
  } catch (e) {
    // A table changed under a prepared statement whose rows it shapes (0A000): prepared afresh at its next use. A
    // prepared statement gone (26000): none is prepared on this connection again.
    const code = (e as { code?: string }).code;
    if (code === '0A000') entry.prepared.delete(req.text);
    if (code === '26000') entry.unprepared = true;
    // Its own transaction failed: nothing of it stays (a failed COMMIT has ended the transaction already).
    if (req.commit) await entry.client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
  // A multi-statement text (BEGIN; SELECT pg_advisory_xact_lock(…)) answers with one result per statement.
  const last = Array.isArray(res) ? res[res.length - 1] : res;
  return { ok: true, rows: last.rows, rowCount: last.rowCount ?? 0, command: last.command };
}

runAsWorker(async (req: PgRequest): Promise<PgResponse> => {
  try {
    return await handle(req);
  } catch (e) {
    const err = e as Error & { code?: string };
    return { ok: false, message: err.message, code: err.code };
  }
});
