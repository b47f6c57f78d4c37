// The hash that links audit rows: sha256(prev_hash + "\n" + body), callable from SQL on every store connection.
import { hash } from 'node:crypto';
import type { SqliteDb } from './db.js';

/** The prev_hash of the first row. */
export const GENESIS_HASH = '0'.repeat(64);

export function chainHash(prevHash: string, body: string): string {
  return hash('sha256', `${prevHash}\n${body}`);
}

/** Makes chainHash callable from SQL on this connection (openDb does this for every store). */
export function registerChainHash(db: SqliteDb): void {
  db.function('warden_chain_hash', { deterministic: true }, (prev: unknown, body: unknown) => chainHash(String(prev), String(body)));
}
