// The store a server or wardenctl holds: one SQLite connection with its audit log, budget ledger and proposals.
import { AgentTokens } from './agent-tokens.js';
import { AuditLog, type AuditRow, type NewEvent } from './audit.js';
import { monthKey } from '../budget/month.js';
import { BackupChecks } from './backup-checks.js';
import { DesiredState } from './desired.js';
import { Jobs } from './jobs.js';
import { copyTables, type CopyReport } from './copy.js';
import { closeDb, immediate, isPostgres, openDb, type Db, type SqliteDb } from './db.js';
import { PostgresDb } from './postgres-db.js';
import { isPostgresUrl, shownLocation } from './sql.js';
import { Deployments } from './deployments.js';
import { Ledger } from './ledger.js';
import { Locks } from './locks.js';
import { Notifications } from './notifications.js';
import { Proposals } from './proposals.js';
import { RateLimits } from './rate-limits.js';
import { TierChanges } from './tiers.js';

const raw = new WeakMap<Store, Db>();

/** The SQLite store's own connection, for tests and benchmarks that inspect or break it on purpose; lint keeps it out of src. */
export function rawDb(store: Store): SqliteDb {
  const db = raw.get(store) as Db;
  if (isPostgres(db)) throw new Error('rawDb is the SQLite connection; this store is on PostgreSQL');
  return db as SqliteDb;
}

export class Store {
  readonly audit: AuditLog;
  readonly ledger: Ledger;
  readonly proposals: Proposals;
  readonly locks: Locks;
  readonly deployments: Deployments;
  readonly jobs: Jobs;
  readonly desired: DesiredState;
  readonly backups: BackupChecks;
  readonly notifications: Notifications;
  readonly tiers: TierChanges;
  readonly rates: RateLimits;
  readonly tokens: AgentTokens;

  constructor(
    private readonly db: Db,
    readonly clock: () => Date = () => new Date(),
  ) {
    raw.set(this, db);
    this.audit = new AuditLog(db, clock);
    this.ledger = new Ledger(db, clock);
    this.proposals = new Proposals(db, clock);
    this.locks = new Locks(db, clock);
    this.deployments = new Deployments(db, clock);
    this.jobs = new Jobs(db, clock);
    this.desired = new DesiredState(db, clock);
    this.backups = new BackupChecks(db, clock);
    this.notifications = new Notifications(db);
    this.tiers = new TierChanges(db, clock);
    this.rates = new RateLimits(db, clock);
    this.tokens = new AgentTokens(db, clock);
  }

  /** Why the store cannot be trusted, once an integrity check found damage: mutating calls are then refused. */
  damage: string | null = null;

  /**
   * SQLite's own check of the file (quick: structure only, at server start; full: indexes too, for audit verify).
   * Returns the problems found, at most 20, empty when sound; a check that cannot even run is itself the problem.
   */
  integrity(kind: 'quick' | 'full'): string[] {
    // PostgreSQL keeps its own pages (WAL, checksums where enabled); what the store itself can vouch for is the chain.
    if (isPostgres(this.db)) return [];
    const db = this.db as SqliteDb;
    const check = (arg: string) => {
      try {
        const rows = db.pragma(`${kind === 'quick' ? 'quick_check' : 'integrity_check'}(${arg})`, { simple: false }) as Record<
          string,
          string
        >[];
        const lines = rows.map((r) => Object.values(r)[0]);
        return lines.length === 1 && lines[0] === 'ok' ? [] : lines;
      } catch (e) {
        return [(e as Error).message];
      }
    };
    const whole = check('20');
    if (whole.length === 0 || kind === 'quick') return whole;
    // Which tables (with their indexes) the damage is in, so a human knows what is affected.
    let tables: string[];
    try {
      tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all() as string[];
    } catch {
      return whole;
    }
    const where = tables.flatMap((t) =>
      check(`"${t.replaceAll('"', '""')}"`)
        .slice(0, 2)
        .map((line) => `${t}: ${line}`),
    );
    return where.length ? where : whole;
  }

  /** The schema version the store is at (SQLite: PRAGMA user_version). */
  schemaVersion(): number {
    return isPostgres(this.db) ? this.db.schemaVersion() : ((this.db as SqliteDb).pragma('user_version', { simple: true }) as number);
  }

  /** Which kind of store this is: the embedded SQLite file, or a PostgreSQL database shared by many hosts. */
  get dialect(): 'sqlite' | 'postgres' {
    return isPostgres(this.db) ? 'postgres' : 'sqlite';
  }

  /** Whether the connection is still open (a late webhook result after shutdown is then dropped). */
  get isOpen(): boolean {
    return this.db.open;
  }

  /**
   * `location`: an SQLite file, or a postgres:// URL. `readOnly`: a reader's connection (no migration, no write); the
   * store must exist at this version. `mustExist`: a typo must not create an empty store.
   */
  static open(location: string, opts: { mustExist?: boolean; readOnly?: boolean; clock?: () => Date } = {}): Store {
    return new Store(isPostgresUrl(location) ? PostgresDb.connect(location, opts) : openDb(location, opts), opts.clock);
  }

  /** Where the store is, as it may be shown (a URL's password hidden). */
  static shown(location: string): string {
    return shownLocation(location);
  }

  /** One BEGIN IMMEDIATE transaction: checks and the writes they justify land together or not at all. */
  transaction<T>(fn: () => T): T {
    return immediate(this.db, fn);
  }

  /**
   * The approved row and its reservation of `hold.cents` against the project's budget (`hold.baseCents` is the
   * policy's cap), in one write that holds the write lock: written only if, under that lock, nothing the project
   * holds is unpriced and what is left of its cap covers the reservation; null, and nothing written, if not. The
   * guard's check may then run again under the lock, with the budget as it is now. On PostgreSQL this is one round
   * trip, the lock held only while the server runs it.
   */
  approveReserving(e: NewEvent, hold: { cents: number; baseCents: number }): AuditRow | null {
    if (isPostgres(this.db)) return this.audit.appendReservingPg(e, { ...hold, month: monthKey(this.clock()) });
    return immediate(this.db, () => {
      const facts = this.ledger.facts(e.project, hold.baseCents);
      if (!facts || hold.cents > facts.capCents - facts.committedCents - facts.reservedCents) return null;
      const row = this.audit.append(e);
      this.ledger.reserve(row.id, e.project, e.agent, e.tool, hold.cents);
      return row;
    });
  }

  /**
   * Copies every table of this store into `target`, which must be empty and at the same schema version; both are
   * held by their write locks meanwhile. The caller verifies the chain on the target.
   */
  copyInto(target: Store): CopyReport {
    if (target.schemaVersion() !== this.schemaVersion())
      throw new Error(
        `the stores are at schema versions ${this.schemaVersion()} and ${target.schemaVersion()}; open both with this aws-warden first`,
      );
    return copyTables(this.db, target.db);
  }

  close(): void {
    closeDb(this.db);
  }
}
