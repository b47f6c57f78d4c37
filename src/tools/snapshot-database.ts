// snapshot_database: a manual snapshot of a declared database, tagged for the project and priced as snapshot storage.
import { CreateDBSnapshotCommand, DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { AgentAws } from '../aws/clients.js';
import { currentApproval } from '../aws/write-gate.js';
import { declaredDatabase } from '../databases/declared.js';
import { monthlyCentsFromGbMonth, rdsSnapshotGbMonth } from '../prices/prices.js';
import { databaseName } from './get-database.js';
import { defineTool } from './tool.js';

export const name = 'snapshot_database';

const output = z.object({ database: z.string(), snapshot_id: z.string(), status: z.string(), storage_gb: z.number() });

const params = z
  .object({
    identifier: z.string(),
    snapshot: z.string(),
    arn: z.string(),
    storageGb: z.number(),
    monthlyCents: z.number().nullable(),
    tags: z.record(z.string(), z.string()),
  })
  .strict();
type Params = z.infer<typeof params>;

async function snapshotStatus(aws: AgentAws, id: string): Promise<string | null> {
  try {
    return (await aws.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }))).DBSnapshots?.[0]?.Status ?? null;
  } catch (e) {
    if ((e as Error).name === 'DBSnapshotNotFoundFault') return null;
    throw e;
  }
}

async function create(aws: AgentAws, p: Params): Promise<string> {
  const tags = { ...p.tags, WardenEvent: currentApproval() };
  const out = await aws.rds.send(
    new CreateDBSnapshotCommand({
      DBInstanceIdentifier: p.identifier,
      DBSnapshotIdentifier: p.snapshot,
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  return out.DBSnapshot?.Status ?? 'creating';
}

export const snapshotDatabase = defineTool({
  name,
  title: 'Snapshot a database',
  description:
    'Takes a manual snapshot of a database declared in the policy, tagged for your project, priced as snapshot storage of its allocated size (an upper bound: RDS bills what the snapshot holds).',
  input: z.object({ database: databaseName }).strict(),
  output,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  params,
  iam: {
    read: ['rds:DescribeDBInstances', 'rds:DescribeDBSnapshots'],
    // The instance must be the project's; the snapshot it makes must carry the project's tag from its creation.
    owned: ['rds:CreateDBSnapshot'],
    rds_create: ['rds:CreateDBSnapshot', 'rds:AddTagsToResource'],
  },
  lockKey: (args, agent) => `database:${agent.projectId}:${args.database}`,
  async plan(args, { aws, agent }) {
    const { state, resource, region } = await declaredDatabase(aws, agent, args.database, 'read');
    const snapshot = `${state.identifier}-warden-${randomBytes(4).toString('hex')}`.slice(0, 255);
    const price = rdsSnapshotGbMonth(region);
    const cents = price === null ? null : monthlyCentsFromGbMonth(state.storage_gb, price);
    const account = state.arn.split(':')[4] ?? '';
    const tags = { ProjectId: agent.projectId, AgentId: agent.id, ManagedBy: 'aws-warden', Database: args.database };
    return {
      tool: name,
      summary: `snapshot database ${args.database} (${state.identifier}, ${state.storage_gb} GB) as ${snapshot}`,
      mutating: true,
      operations: [{ action: 'rds:CreateDBSnapshot', target: state.identifier, params: { snapshot } }],
      resources: [resource],
      tagsToSet: tags,
      costDeltaUsdMonth: cents === null ? null : cents / 100,
      riskFlags: [],
      rollback: [{ action: 'rds:DeleteDBSnapshot', target: snapshot }],
      params: {
        identifier: state.identifier,
        snapshot,
        arn: `arn:aws:rds:${region}:${account}:snapshot:${snapshot}`,
        storageGb: state.storage_gb,
        monthlyCents: cents,
        tags,
      },
    };
  },
  async execute(plan, args, { aws }) {
    const status = await create(aws, plan.params);
    return { database: args.database, snapshot_id: plan.params.snapshot, status, storage_gb: plan.params.storageGb };
  },
  /** After a crash: the snapshot's name was fixed by the plan, so it either exists (done) or is taken now. */
  async recover(plan, args, { aws }) {
    const found = await snapshotStatus(aws, plan.params.snapshot);
    const status = found ?? (await create(aws, plan.params));
    return {
      outcome: 'completed' as const,
      result: { database: args.database, snapshot_id: plan.params.snapshot, status, storage_gb: plan.params.storageGb },
      why: found
        ? `snapshot ${plan.params.snapshot} was taken before the restart`
        : `took snapshot ${plan.params.snapshot} after a restart`,
    };
  },
  ledger: (plan) => ({
    add: [
      {
        arn: plan.params.arn,
        description: `database snapshot ${plan.params.snapshot}, ${plan.params.storageGb} GB`,
        hourlyUsd: plan.params.monthlyCents === null ? null : plan.params.monthlyCents / 100 / 730,
        centsMonth: plan.params.monthlyCents,
      },
    ],
    remove: [],
  }),
  summarize: (o) => `snapshot ${o.snapshot_id} of ${o.database}: ${o.status}`,
});
