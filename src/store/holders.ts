// Who holds a lock or a call slot: `host:pid:uuid`, so a holder whose process on this host is gone can be told apart.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { pidAlive } from '../util/process.js';

const HOST = hostname();

/** A fresh holder token for this process. */
export const newHolder = (): string => `${HOST}:${process.pid}:${randomUUID()}`;

/** Whether the process named by a holder token is gone; only this host's processes can be asked. */
export function holderDead(holder: string): boolean {
  const [host, pid] = holder.split(':');
  if (host !== HOST || !/^\d+$/.test(pid ?? '')) return false;
  return !pidAlive(Number(pid));
}
