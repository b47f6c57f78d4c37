// Opens the audit store for wardenctl: the file must exist (a typo must not create an empty store).
import { resolve } from 'node:path';
import { ExitError } from '../../src/cli/run-main.js';
import { AuditLog } from '../../src/store/audit.js';
import { openDb, type Db } from '../../src/store/db.js';

export function openStore(dbFlag: string | undefined): { db: Db; audit: AuditLog; file: string } {
  const file = resolve(dbFlag ?? (process.env.WARDEN_DB || 'warden.db'));
  let db: Db;
  try {
    db = openDb(file, { mustExist: true });
  } catch (e) {
    throw new ExitError(2, `cannot open audit store ${file}: ${(e as Error).message}`);
  }
  return { db, audit: new AuditLog(db), file };
}
