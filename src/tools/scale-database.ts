// scale_database: change a declared database's instance class or storage within its bounds, priced and budgeted;
// a production database always needs a human. Applied now, or at the next maintenance window (the plan says which).
import { ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import { z } from 'zod';
import type { AgentAws } from '../aws/clients.js';
import { Refusal } from '../core/errors.js';
import { declaredDatabase } from '../databases/declared.js';
import { readDatabase } from '../databases/rds.js';
import type { RiskFlag } from '../guard/types.js';
import { rdsMonthlyCents } from '../prices/prices.js';
import { databaseName } from './get-database.js';
import { defineTool } from './tool.js';

export const name = 'scale_database';

const input = z
  .object({
    database: databaseName,
    instance_class: z
      .string()
      .regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/, 'an RDS instance class such as db.t3.small')
      .optional(),
    storage_gb: z.number().int().min(20).max(65536).optional().describe('allocated storage; RDS never shrinks it'),
    apply: z
      .enum(['next_window', 'now'])
      .default('next_window')
      .describe('next_window: at the database’s maintenance window (default); now: at once, which may restart it'),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.instance_class === undefined && a.storage_gb === undefined)
      ctx.addIssue({ code: 'custom', path: ['instance_class'], message: 'nothing to change: give instance_class and/or storage_gb' });
  });

const output = z.object({
  database: z.string(),
  identifier: z.string(),
  instance_class: z.string(),
  storage_gb: z.number(),
  pending: z.record(z.string(), z.unknown()),
  applies: z.string(),
});

const params = z
  .object({
    identifier: z.string(),
    arn: z.string(),
    from: z.object({ instance_class: z.string(), storage_gb: z.number() }).strict(),
    to: z.object({ instance_class: z.string(), storage_gb: z.number() }).strict(),
    applyImmediately: z.boolean(),
    monthlyCents: z.number().nullable(),
  })
  .strict();
type Params = z.infer<typeof params>;

async function modify(aws: AgentAws, p: Params): Promise<void> {
  await aws.rds.send(
    new ModifyDBInstanceCommand({
      DBInstanceIdentifier: p.identifier,
      ...(p.to.instance_class !== p.from.instance_class ? { DBInstanceClass: p.to.instance_class } : {}),
      ...(p.to.storage_gb !== p.from.storage_gb ? { AllocatedStorage: p.to.storage_gb } : {}),
      ApplyImmediately: p.applyImmediately,
    }),
  );
}

async function resultOf(aws: AgentAws, database: string, p: Params): Promise<z.infer<typeof output>> {
  const now = await readDatabase(aws, p.identifier);
  return {
    database,
    identifier: p.identifier,
    instance_class: now?.instance_class ?? p.to.instance_class,
    storage_gb: now?.storage_gb ?? p.to.storage_gb,
    pending: now?.pending ?? {},
    applies: p.applyImmediately ? 'now' : `at the next maintenance window (${now?.maintenance_window ?? 'unknown'})`,
  };
}

/** Whether AWS shows the change made (applied, or pending for the window). */
const shows = (s: { instance_class: string; storage_gb: number; pending: { instance_class?: string; storage_gb?: number } }, p: Params) =>
  (s.pending.instance_class ?? s.instance_class) === p.to.instance_class && (s.pending.storage_gb ?? s.storage_gb) === p.to.storage_gb;

export const scaleDatabase = defineTool({
  name,
  title: 'Scale a database',
  description:
    "Changes a declared database's instance class or storage within the policy's bounds, priced against the budget. A production database always becomes a proposal for a human. Applies at the next maintenance window unless apply is now (which may restart it); the plan says which.",
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  params,
  iam: { read: ['rds:DescribeDBInstances'], owned: ['rds:ModifyDBInstance'] },
  lockKey: (args, agent) => `database:${agent.projectId}:${args.database}`,
  environmentOf: (args, agent) => agent.project.databases[args.database]?.environment ?? null,
  async plan(args, { aws, agent }) {
    const { policy, state, resource, region } = await declaredDatabase(aws, agent, args.database, 'modify');
    const to = { instance_class: args.instance_class ?? state.instance_class, storage_gb: args.storage_gb ?? state.storage_gb };
    if (!policy.instance_classes.includes(to.instance_class))
      throw new Refusal(
        `instance_class: ${to.instance_class} is not allowed for ${args.database} (allowed: ${policy.instance_classes.join(', ')})`,
      );
    if (to.storage_gb < state.storage_gb)
      throw new Refusal(`storage_gb: ${to.storage_gb} GB is below the ${state.storage_gb} GB allocated; RDS never shrinks storage`);
    if (to.storage_gb < policy.min_storage_gb || to.storage_gb > policy.max_storage_gb)
      throw new Refusal(
        `storage_gb: ${to.storage_gb} GB is outside ${args.database}'s ${policy.min_storage_gb}-${policy.max_storage_gb} GB`,
      );
    if (to.instance_class === state.instance_class && to.storage_gb === state.storage_gb)
      throw new Refusal(`${args.database} is already ${to.instance_class} with ${to.storage_gb} GB; nothing to change`);
    const before = rdsMonthlyCents(region, state.engine, state.instance_class, state.storage_gb);
    const after = rdsMonthlyCents(region, state.engine, to.instance_class, to.storage_gb);
    const riskFlags: RiskFlag[] = policy.environment === 'prod' ? ['production_database'] : [];
    const applies =
      args.apply === 'now' ? 'now (the instance may restart)' : `at the next maintenance window (${state.maintenance_window ?? 'unknown'})`;
    const p: Params = {
      identifier: state.identifier,
      arn: state.arn,
      from: { instance_class: state.instance_class, storage_gb: state.storage_gb },
      to,
      applyImmediately: args.apply === 'now',
      monthlyCents: after,
    };
    return {
      tool: name,
      summary: `scale database ${args.database} (${state.identifier}): ${state.instance_class} → ${to.instance_class}, ${state.storage_gb} → ${to.storage_gb} GB, ${applies}`,
      mutating: true,
      operations: [{ action: 'rds:ModifyDBInstance', target: state.identifier, params: { ...to, apply: args.apply } }],
      resources: [resource],
      tagsToSet: {},
      costDeltaUsdMonth: before === null || after === null ? null : (after - before) / 100,
      riskFlags,
      rollback: [{ action: 'rds:ModifyDBInstance', target: state.identifier, params: { ...p.from } }],
      preconditions: { current: { ...p.from, status: state.status, pending: state.pending }, applies },
      params: p,
    };
  },
  async execute(plan, args, { aws }) {
    await modify(aws, plan.params);
    return resultOf(aws, args.database, plan.params);
  },
  /** After a crash: done if AWS shows the new class and storage (applied or pending), else the same modification again. */
  async recover(plan, args, { aws }) {
    const now = await readDatabase(aws, plan.params.identifier);
    const sent = Boolean(now && shows(now, plan.params));
    if (!sent) await modify(aws, plan.params);
    return {
      outcome: 'completed' as const,
      result: await resultOf(aws, args.database, plan.params),
      why: sent ? 'AWS shows the modification made before the restart' : 'sent the modification again after a restart',
    };
  },
  ledger(plan) {
    const p = plan.params;
    const cents = p.monthlyCents;
    // The database's run-rate is its whole class and storage: replace its row.
    return {
      remove: [p.arn],
      add: [
        {
          arn: p.arn,
          description: `database ${p.identifier}, ${p.to.instance_class}, ${p.to.storage_gb} GB`,
          hourlyUsd: cents === null ? null : cents / 100 / 730,
          centsMonth: cents,
        },
      ],
    };
  },
  summarize: (o) => `${o.database}: ${o.instance_class}, ${o.storage_gb} GB; applies ${o.applies}`,
});
