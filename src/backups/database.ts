// A database's backup is verified by restoring it: its newest snapshot becomes a scratch instance (restore-<project>-…,
// tagged, the cheapest allowed class), which must become available with the same engine and at least the snapshot's
// storage, from a snapshot within the policy's age. The scratch instance is deleted afterwards, also on failure.
import { DeleteDBInstanceCommand, RestoreDBInstanceFromDBSnapshotCommand } from '@aws-sdk/client-rds';
import type { AgentAws } from '../aws/clients.js';
import { withoutDeadline } from '../aws/write-gate.js';
import { readDatabase } from '../databases/rds.js';
import { pause } from '../util/wait.js';
import type { Verification } from './verify.js';

export interface DatabaseRestore {
  database: string;
  source: string;
  snapshot: string;
  snapshotAt: string | null;
  snapshotGb: number;
  engine: string;
  scratch: string;
  instanceClass: string;
}

/** Deletes a scratch instance if it exists (no final snapshot); false when there was none. */
export async function removeScratchDatabase(aws: AgentAws, id: string): Promise<boolean> {
  return withoutDeadline(async () => {
    try {
      await aws.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: id, SkipFinalSnapshot: true, DeleteAutomatedBackups: true }));
      return true;
    } catch (e) {
      if ((e as Error).name === 'DBInstanceNotFoundFault') return false;
      throw e;
    }
  });
}

export async function verifyDatabase(
  aws: AgentAws,
  r: DatabaseRestore,
  opts: {
    tags: Record<string, string>;
    now: Date;
    maxAgeHours: number;
    timeoutMinutes: number;
    pollSeconds: number;
    signal?: AbortSignal;
    /** Seconds waited of the timeout, reported at least every 2 s while the restore is not yet available. */
    progress?: (waited: number, total: number) => Promise<void>;
  },
): Promise<Verification> {
  const subject = `database/${r.database}`;
  const failures: string[] = [];
  let checks = 1;
  const age = r.snapshotAt ? (opts.now.getTime() - Date.parse(r.snapshotAt)) / 3_600_000 : Infinity;
  if (age > opts.maxAgeHours)
    failures.push(
      `newest snapshot ${r.snapshot} is ${Number.isFinite(age) ? `${Math.floor(age)} h` : 'of unknown'} old (at most ${opts.maxAgeHours} h)`,
    );
  await aws.rds.send(
    new RestoreDBInstanceFromDBSnapshotCommand({
      DBInstanceIdentifier: r.scratch,
      DBSnapshotIdentifier: r.snapshot,
      DBInstanceClass: r.instanceClass,
      PubliclyAccessible: false,
      Tags: Object.entries(opts.tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  try {
    const started = Date.now();
    const deadline = started + opts.timeoutMinutes * 60_000;
    const tick = () => opts.progress?.(Math.round((Date.now() - started) / 1000), opts.timeoutMinutes * 60) ?? Promise.resolve();
    let state = await readDatabase(aws, r.scratch);
    while (state?.status !== 'available') {
      if (Date.now() > deadline || (state && ['failed', 'incompatible-restore', 'storage-full'].includes(state.status))) break;
      await pause(opts.pollSeconds * 1000, opts.signal, tick);
      if (opts.signal?.aborted) throw opts.signal.reason as Error;
      state = await readDatabase(aws, r.scratch);
    }
    checks++;
    if (state?.status !== 'available')
      failures.push(`the restored instance ${r.scratch} is ${state?.status ?? 'missing'}, not available, after ${opts.timeoutMinutes} min`);
    else {
      checks += 2;
      if (state.engine !== r.engine) failures.push(`the restore runs ${state.engine}, the database ${r.engine}`);
      if (state.storage_gb < r.snapshotGb) failures.push(`the restore has ${state.storage_gb} GB, the snapshot ${r.snapshotGb} GB`);
    }
  } finally {
    await removeScratchDatabase(aws, r.scratch);
  }
  return { subject, ok: failures.length === 0, checks, failures };
}
