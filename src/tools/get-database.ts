// get_database: a declared database's state, class, storage, endpoint, newest snapshots, monthly cost and bounds.
import { z } from 'zod';
import { declaredDatabase } from '../databases/declared.js';
import { readSnapshots } from '../databases/rds.js';
import { rdsMonthlyCents } from '../prices/prices.js';
import { readPlan } from './read-plan.js';
import { defineTool, noParams } from './tool.js';

export const name = 'get_database';

export const databaseName = z.string().regex(/^[a-z][a-z0-9-]{1,39}$/, 'a database name from the policy');

const output = z.object({
  database: z.string(),
  identifier: z.string(),
  engine: z.string(),
  environment: z.string(),
  status: z.string(),
  instance_class: z.string(),
  storage_gb: z.number(),
  endpoint: z.string().nullable(),
  pending: z.record(z.string(), z.unknown()).describe('changes waiting for the maintenance window'),
  maintenance_window: z.string().nullable(),
  snapshots: z.array(z.object({ id: z.string(), type: z.string(), status: z.string(), created_at: z.string().nullable() })),
  monthly_cost_usd: z.number().nullable().describe('instance class and storage; null when a price is unknown'),
  bounds: z.object({ instance_classes: z.array(z.string()), min_storage_gb: z.number(), max_storage_gb: z.number() }),
});

export const getDatabase = defineTool({
  name,
  title: 'Show a database',
  description:
    'Shows a database declared in the policy: state, instance class, storage, endpoint, pending changes, its five newest snapshots, monthly cost, and the bounds scale_database works within.',
  input: z.object({ database: databaseName }).strict(),
  output,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  iam: { read: ['rds:DescribeDBInstances', 'rds:DescribeDBSnapshots'] },
  params: noParams,
  async plan(args, { aws, agent }) {
    // Read first, so the guard judges ownership of the instance before anything about it is answered.
    const { resource } = await declaredDatabase(aws, agent, args.database, 'read');
    return {
      ...readPlan(name, `read database ${args.database}`, [{ action: 'rds:DescribeDBInstances' }, { action: 'rds:DescribeDBSnapshots' }]),
      resources: [resource],
    };
  },
  async execute(_plan, args, { aws, agent }) {
    const { policy, state, region } = await declaredDatabase(aws, agent, args.database, 'read');
    const cents = rdsMonthlyCents(region, state.engine, state.instance_class, state.storage_gb);
    return {
      database: args.database,
      identifier: state.identifier,
      engine: state.engine,
      environment: policy.environment,
      status: state.status,
      instance_class: state.instance_class,
      storage_gb: state.storage_gb,
      endpoint: state.endpoint,
      pending: state.pending,
      maintenance_window: state.maintenance_window,
      snapshots: (await readSnapshots(aws, state.identifier)).slice(0, 5).map(({ storage_gb: _s, ...s }) => s),
      monthly_cost_usd: cents === null ? null : cents / 100,
      bounds: { instance_classes: policy.instance_classes, min_storage_gb: policy.min_storage_gb, max_storage_gb: policy.max_storage_gb },
    };
  },
  summarize: (o) =>
    `${o.database} (${o.identifier}): ${o.status}, ${o.instance_class}, ${o.storage_gb} GB, ${o.monthly_cost_usd === null ? 'price unknown' : `$${o.monthly_cost_usd.toFixed(2)}/month`}`,
});
