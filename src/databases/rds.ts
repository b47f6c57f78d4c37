// A declared database as RDS holds it: one read of the instance (state, class, storage, endpoint, pending changes,
// tags) and of its snapshots, newest first, so tools plan and report from what AWS says now.
import { DescribeDBInstancesCommand, DescribeDBSnapshotsCommand, type DBInstance } from '@aws-sdk/client-rds';
import type { AgentAws } from '../aws/clients.js';

/** A restore test's scratch instance name: RDS identifiers allow no "--", so restore-<project>-<hex>. */
export const scratchDatabasePrefix = (project: string) => `restore-${project}-`;

export interface DatabaseState {
  identifier: string;
  arn: string;
  engine: string;
  status: string;
  instance_class: string;
  storage_gb: number;
  endpoint: string | null;
  /** What a modification applies at the next maintenance window (or is applying now). */
  pending: { instance_class?: string; storage_gb?: number };
  maintenance_window: string | null;
  backup_retention_days: number;
  tags: Record<string, string>;
}

export interface SnapshotState {
  id: string;
  type: string;
  status: string;
  created_at: string | null;
  storage_gb: number;
}

function stateOf(db: DBInstance): DatabaseState {
  return {
    identifier: db.DBInstanceIdentifier ?? '',
    arn: db.DBInstanceArn ?? '',
    engine: db.Engine ?? '',
    status: db.DBInstanceStatus ?? 'unknown',
    instance_class: db.DBInstanceClass ?? '',
    storage_gb: db.AllocatedStorage ?? 0,
    endpoint: db.Endpoint?.Address ? `${db.Endpoint.Address}:${db.Endpoint.Port ?? ''}` : null,
    pending: {
      ...(db.PendingModifiedValues?.DBInstanceClass ? { instance_class: db.PendingModifiedValues.DBInstanceClass } : {}),
      ...(db.PendingModifiedValues?.AllocatedStorage ? { storage_gb: db.PendingModifiedValues.AllocatedStorage } : {}),
    },
    maintenance_window: db.PreferredMaintenanceWindow ?? null,
    backup_retention_days: db.BackupRetentionPeriod ?? 0,
    tags: Object.fromEntries((db.TagList ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
  };
}

/** The instance, or null when this account and region has none by that identifier. */
export async function readDatabase(aws: AgentAws, identifier: string): Promise<DatabaseState | null> {
  try {
    const db = (await aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }))).DBInstances?.[0];
    return db ? stateOf(db) : null;
  } catch (e) {
    if ((e as Error).name === 'DBInstanceNotFoundFault') return null;
    throw e;
  }
}

/** Its automated and manual snapshots, newest first. */
export async function readSnapshots(aws: AgentAws, identifier: string): Promise<SnapshotState[]> {
  const out: SnapshotState[] = [];
  let marker: string | undefined;
  do {
    const page = await aws.rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: identifier, Marker: marker }));
    for (const s of page.DBSnapshots ?? [])
      out.push({
        id: s.DBSnapshotIdentifier ?? '',
        type: s.SnapshotType ?? 'manual',
        status: s.Status ?? 'unknown',
        created_at: s.SnapshotCreateTime?.toISOString() ?? null,
        storage_gb: s.AllocatedStorage ?? 0,
      });
    marker = page.Marker;
  } while (marker);
  return out.sort((a, b) => (b.created_at ?? '').localeCompare(a.created_at ?? ''));
}
