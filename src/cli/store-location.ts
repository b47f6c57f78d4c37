// Where the store is, from --db or WARDEN_DB: a postgres:// URL as given, or an SQLite file resolved against the cwd.
import { resolve } from 'node:path';
import { isPostgresUrl } from '../store/sql.js';

export function storeLocation(flag: string | undefined): string {
  const given = flag ?? (process.env.WARDEN_DB || 'warden.db');
  return isPostgresUrl(given) ? given : resolve(given);
}
