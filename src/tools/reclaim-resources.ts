// reclaim_resources: stop, terminate, delete or release what find_unused_resources found, with a way back where one
// exists (a snapshot before a volume goes, stop rather than terminate). Escalates unless tier and policy allow it.
import { z } from 'zod';
import { ownerOf } from '../aws/owner.js';
import { currentApproval, OwnershipLost } from '../aws/write-gate.js';
import { accountOf } from '../aws/arn.js';
import { readTags } from '../aws/tags.js';
import type { Plan, PlannedOperation, RiskFlag, TouchedResource } from '../guard/types.js';
import type { AgentContext } from '../core/agent.js';
import { monthlyCentsFromGbMonth, PRICE_TABLE, snapshotGbMonth } from '../prices/prices.js';
import { arnOfId, findUnused, type UnusedResource } from '../unused/find.js';
import { runReclaimSteps } from '../unused/reclaim-run.js';
import { Refusal } from '../core/errors.js';
import { defineTool, humanReason } from './tool.js';

export const name = 'reclaim_resources';

const ID = /^(i-[0-9a-f]{8,17}|vol-[0-9a-f]{8,17}|eipalloc-[0-9a-f]{8,17}|[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$/;

const input = z
  .object({
    ids: z
      .array(z.string().regex(ID, 'must be an instance (i-…), volume (vol-…), Elastic IP allocation (eipalloc-…) id or a bucket name'))
      .min(1)
      .max(50)
      .refine((ids) => new Set(ids).size === ids.length, 'ids must not repeat')
      .describe('ids from find_unused_resources'),
    reason: humanReason('why these can go; shown to the human who approves'),
  })
  .strict();

const output = z.object({
  reclaimed: z.array(
    z.object({
      id: z.string(),
      type: z.string(),
      action: z.string(),
      snapshots: z
        .array(z.object({ snapshot_id: z.string(), volume: z.string(), size_gb: z.number() }))
        .describe('taken first: CreateVolume from one undoes the deletion'),
    }),
  ),
  saving_usd_month: z.number(),
});

interface Step {
  id: string;
  type: UnusedResource['type'];
  arn: string;
  action: 'stop' | 'terminate' | 'delete' | 'release';
  /** Volumes snapshotted first (with their sizes, for the snapshot's cost). */
  snapshot: { volume: string; sizeGb: number }[];
  savingCents: number;
  region: string;
}

/** A snapshot's monthly cost; regions the table lacks are priced at the us-east-1 rate rather than as free. */
const snapshotCents = (region: string, gb: number) =>
  monthlyCentsFromGbMonth(gb, snapshotGbMonth(region) ?? snapshotGbMonth('us-east-1') ?? 0.05);

/** The ARN the plan holds for a reclaimed id. */
const arnIn = (plan: Plan, id: string) => plan.resources.find((x) => x.arn.endsWith(`/${id}`) || x.arn === `arn:aws:s3:::${id}`)?.arn ?? id;

function stepOf(u: UnusedResource, agent: AgentContext, region: string): Step {
  const p = agent.project.unused;
  const base = { id: u.id, type: u.type, arn: u.arn, savingCents: u.savingCents ?? 0, region };
  if (u.type === 'instance') {
    const running = u.detail.state === 'running';
    if (running && p.stop_instead_of_terminate) return { ...base, action: 'stop', snapshot: [] };
    const volumes = (u.detail.volumes as { id: string; size_gb: number }[] | undefined) ?? [];
    return { ...base, action: 'terminate', snapshot: p.snapshot_volumes ? volumes.map((v) => ({ volume: v.id, sizeGb: v.size_gb })) : [] };
  }
  if (u.type === 'volume')
    return { ...base, action: 'delete', snapshot: p.snapshot_volumes ? [{ volume: u.id, sizeGb: Number(u.detail.size_gb ?? 0) }] : [] };
  if (u.type === 'address') return { ...base, action: 'release', snapshot: [] };
  return { ...base, action: 'delete', snapshot: [] };
}

const RECLAIM_ACTIONS = [
  'ec2:CreateSnapshot',
  'ec2:StopInstances',
  'ec2:TerminateInstances',
  'ec2:DeleteVolume',
  'ec2:ReleaseAddress',
  's3:DeleteObjectVersion',
  's3:DeleteBucket',
] as const;
/** One step of a reclaim as the executor sends it: the action, its target id, and a snapshot's size for its price. */
const reclaimStep = z.object({ action: z.enum(RECLAIM_ACTIONS), target: z.string(), size_gb: z.number().optional() }).strict();
const params = z.object({ steps: z.array(reclaimStep) }).strict();
type ReclaimStep = z.infer<typeof reclaimStep>;

const stepOfOp = (op: PlannedOperation): ReclaimStep => ({
  action: op.action as ReclaimStep['action'],
  target: op.target ?? '',
  ...((op.params as { size_gb?: number } | undefined)?.size_gb !== undefined
    ? { size_gb: (op.params as { size_gb: number }).size_gb }
    : {}),
});

function operationsOf(s: Step): { ops: PlannedOperation[]; undo: PlannedOperation[] } {
  const snaps = s.snapshot.map((v) => ({ action: 'ec2:CreateSnapshot', target: v.volume, params: { size_gb: v.sizeGb } }));
  const undoSnaps = s.snapshot.map((v) => ({ action: 'ec2:CreateVolume', target: v.volume, params: { from: 'the snapshot taken first' } }));
  switch (s.type) {
    case 'instance':
      return s.action === 'stop'
        ? { ops: [{ action: 'ec2:StopInstances', target: s.id }], undo: [{ action: 'ec2:StartInstances', target: s.id }] }
        : { ops: [...snaps, { action: 'ec2:TerminateInstances', target: s.id }], undo: undoSnaps };
    case 'volume':
      return { ops: [...snaps, { action: 'ec2:DeleteVolume', target: s.id }], undo: undoSnaps };
    case 'address':
      return { ops: [{ action: 'ec2:ReleaseAddress', target: s.id }], undo: [] };
    case 'site_bucket':
      return {
        ops: [
          { action: 's3:DeleteObjectVersion', target: s.id, params: { all: true } },
          { action: 's3:DeleteBucket', target: s.id },
        ],
        undo: [],
      };
  }
}

/** Unattended only where the tier allows it and the policy lists the type for the resource's environment. */
function unattended(agent: AgentContext, u: UnusedResource): boolean {
  if (!agent.tier.limits.reclaim_unattended || u.type === 'site_bucket') return false;
  const envs = agent.project.unused.unattended[u.type] ?? [];
  return envs.includes('*') || (u.environment !== null && envs.includes(u.environment));
}

export const reclaimResources = defineTool({
  name,
  title: 'Reclaim unused resources my project owns',
  description:
    'Stops, terminates, deletes or releases resources find_unused_resources listed (ids), with a snapshot first for volumes and stop instead of terminate where the policy says so. Each id must still be owned and unused now. Needs a human unless your tier and the policy allow that type in that environment; site buckets always need one. Savings are released from the budget.',
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  params,
  iam: {
    read: ['ec2:DescribeInstances', 'ec2:DescribeVolumes', 'ec2:DescribeAddresses', 'ec2:DescribeTags', 'cloudwatch:GetMetricData'],
    owned: ['ec2:StopInstances', 'ec2:TerminateInstances', 'ec2:DeleteVolume', 'ec2:ReleaseAddress', 'ec2:CreateSnapshot'],
    create: ['ec2:CreateSnapshot', 'ec2:CreateTags'],
    s3: ['s3:GetBucketTagging', 's3:ListBucketVersions'],
  },
  reasonOf: (a) => a.reason,
  lockKey: (_a, agent) => `reclaim:${agent.projectId}`,
  async plan(args, { aws, agent, ports }) {
    const region = await aws.ec2.config.region();
    const report = await findUnused(
      aws,
      ports,
      agent.projectId,
      agent.project.unused,
      Object.keys(agent.project.services),
      new Set(args.ids),
    );
    const found = new Map(report.resources.map((u) => [u.id, u]));
    const resources: TouchedResource[] = [];
    const account = accountOf(aws.session.assumedRoleArn) ?? '';
    for (const id of args.ids) {
      if (found.has(id)) continue;
      // Not among this project's unused: someone else's (the guard's ownership rule refuses it), or in use now.
      const arn = arnOfId(region, account, id);
      const read = await readTags(aws, arn);
      if (read.tags?.ProjectId !== agent.projectId) {
        resources.push({ arn, change: 'delete', tags: read.tags, unreadableWhy: read.why, unreadableOutage: read.outage });
        continue;
      }
      const why = report.notJudged.find((n) => n.id === id)?.why;
      throw new Refusal(
        `ids: ${id} is owned by ${agent.projectId} but not unused now${why ? ` (${why})` : ''} — call find_unused_resources for what can go`,
      );
    }
    const steps = args.ids.filter((id) => found.has(id)).map((id) => stepOf(found.get(id) as UnusedResource, agent, region));
    const ops = steps.map(operationsOf);
    const snapshotsCost = steps.flatMap((s) => s.snapshot).reduce((a, v) => a + snapshotCents(region, v.sizeGb), 0);
    const saving = steps.reduce((a, s) => a + s.savingCents, 0);
    const riskFlags: RiskFlag[] = [...found.values()].every((u) => unattended(agent, u)) ? [] : ['deletion'];
    return {
      tool: name,
      summary: `reclaim ${steps.map((s) => `${s.action} ${s.id}`).join(', ') || '(nothing of this project)'} — saves $${(saving / 100).toFixed(2)}/month`,
      mutating: true,
      operations: ops.flatMap((o) => o.ops),
      resources: [
        ...resources,
        ...steps.map((s) => ({
          arn: s.arn,
          change: s.action === 'stop' ? ('modify' as const) : ('delete' as const),
          tags: (found.get(s.id) as UnusedResource).tags,
        })),
      ],
      tagsToSet: {},
      costDeltaUsdMonth: (snapshotsCost - saving) / 100,
      riskFlags,
      rollback: ops.flatMap((o) => o.undo),
      // Stable facts only: approval re-plans and refuses if any id stopped being unused in the meantime.
      preconditions: { unused: Object.fromEntries(steps.map((s) => [s.id, `${s.type}:${s.action}`])) },
      params: { steps: ops.flatMap((o) => o.ops).map(stepOfOp) },
    };
  },
  async execute(plan, _args, { aws, agent, progress }) {
    const eventId = currentApproval();
    const steps = plan.params.steps;
    // Every id is still the project's before the first one goes: a reclaim of several stops before it starts, not midway.
    const ec2Ids = [...new Set(steps.filter((s) => s.action.startsWith('ec2:')).map((s) => s.target))];
    const buckets = [...new Set(steps.filter((s) => s.action.startsWith('s3:')).map((s) => s.target))];
    const owners = new Map([
      ...(ec2Ids.length ? await ownerOf(aws, 'ec2', ec2Ids) : []),
      ...(buckets.length ? await ownerOf(aws, 's3', buckets) : []),
    ]);
    for (const [id, owner] of owners)
      if (owner !== agent.projectId)
        throw new OwnershipLost(
          `${id} is not owned by ${agent.projectId} now (${owner ? `ProjectId is "${owner}"` : 'no ProjectId tag'}); nothing was reclaimed`,
          id,
        );
    const done = await runReclaimSteps(aws, agent, eventId, steps, progress, false);
    return { reclaimed: done, saving_usd_month: Math.max(0, -(plan.costDeltaUsdMonth ?? 0)) };
  },
  /**
   * After a crash: a reclaim that was approved is finished. Every step is safe to run again — a snapshot this approval
   * already made is reused, a stop or termination already done is repeated harmlessly, a volume, address or bucket
   * already gone counts as done — so the outcome lists everything reclaimed, whichever process did it.
   */
  async recover(plan, _args, { aws, agent, approvalId }) {
    const done = await runReclaimSteps(aws, agent, approvalId, plan.params.steps, async () => {}, true);
    return {
      outcome: 'completed' as const,
      result: { reclaimed: done, saving_usd_month: Math.max(0, -(plan.costDeltaUsdMonth ?? 0)) },
      why: `finished reclaiming ${done.map((d) => d.id).join(', ')} after a restart`,
    };
  },
  ledger(plan, out) {
    const region = plan.resources.find((r) => r.arn.startsWith('arn:aws:ec2:'))?.arn.split(':')[3] || 'us-east-1';
    return {
      add: out.reclaimed.flatMap((r) =>
        r.snapshots.map((snap) => {
          const cents = snapshotCents(region, snap.size_gb);
          return {
            arn: `arn:aws:ec2:${region}::snapshot/${snap.snapshot_id}`,
            description: `${snap.size_gb} GB snapshot of ${snap.volume} before reclaim`,
            hourlyUsd: cents / 100 / PRICE_TABLE.hours_per_month,
            centsMonth: cents,
          };
        }),
      ),
      remove: out.reclaimed.map((r) => arnIn(plan, r.id)),
    };
  },
  // A stopped instance is still managed; what was deleted takes its desired state with it.
  desired: (plan, out) => ({ forget: out.reclaimed.filter((r) => r.action !== 'stopped').map((r) => arnIn(plan, r.id)) }),
  summarize: (o) =>
    `reclaimed ${o.reclaimed.map((r) => `${r.id} (${r.action})`).join(', ')}; saves $${o.saving_usd_month.toFixed(2)}/month`,
});
