// The store a server or wardenctl holds: one SQLite connection with its audit log, budget ledger and proposals.
import { AuditLog } from './audit.js';
import { BackupChecks } from './backup-checks.js';
import { DesiredState } from './desired.js';
import { Jobs } from './jobs.js';
import { closeDb, openDb, type Db } from './db.js';
import { Deployments } from './deployments.js';
import { Ledger } from './ledger.js';
import { Locks } from './locks.js';
import { Proposals } from './proposals.js';

export class Store {
  readonly audit: AuditLog;
  readonly ledger: Ledger;
  readonly proposals: Proposals;
  readonly locks: Locks;
  readonly deployments: Deployments;
  readonly jobs: Jobs;
  readonly desired: DesiredState;
  readonly backups: BackupChecks;

  constructor(
    readonly db: Db,
    readonly clock: () => Date = () => new Date(),
  ) {
    this.audit = new AuditLog(db, clock);
    this.ledger = new Ledger(db, clock);
    this.proposals = new Proposals(db, clock);
    this.locks = new Locks(db, clock);
    this.deployments = new Deployments(db, clock);
    this.jobs = new Jobs(db, clock);
    this.desired = new DesiredState(db, clock);
    this.backups = new BackupChecks(db, clock);
  }

  static open(file: string, opts: { mustExist?: boolean; clock?: () => Date } = {}): Store {
    return new Store(openDb(file, opts), opts.clock);
  }

  /** One BEGIN IMMEDIATE transaction: checks and the writes they justify land together or not at all. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  close(): void {
    closeDb(this.db);
  }
}
