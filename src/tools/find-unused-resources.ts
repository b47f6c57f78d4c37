// find_unused_resources: what the project pays for that does no work, with the evidence and the monthly saving.
import { z } from 'zod';
import { RECLAIMABLE } from '../policy/schema.js';
import { findUnused } from '../unused/find.js';
import { readPlan } from './read-plan.js';
import { defineTool, noParams } from './tool.js';

export const name = 'find_unused_resources';

const usd = (cents: number | null) => (cents === null ? null : cents / 100);

const output = z.object({
  project: z.string(),
  resources: z.array(
    z.object({
      id: z.string().describe('what reclaim_resources takes'),
      arn: z.string(),
      type: z.enum(RECLAIMABLE),
      environment: z.string().nullable(),
      evidence: z.string(),
      saving_usd_month: z.number().nullable().describe('null: no known price'),
      detail: z.record(z.string(), z.unknown()),
    }),
  ),
  total_saving_usd_month: z.number(),
  examined: z.record(z.string(), z.number()),
  not_judged: z.array(z.object({ id: z.string(), why: z.string() })),
  thresholds: z.record(z.string(), z.unknown()),
});

export const findUnusedResources = defineTool({
  name,
  title: 'Find unused resources my project pays for',
  description:
    'Lists resources your project owns that cost money and do no work: idle instances (CloudWatch CPU and network below the policy thresholds over its window), instances stopped for long, unattached EBS volumes, unassociated Elastic IPs, site buckets with no deploy in a while. Each with its evidence and monthly saving; reclaim them with reclaim_resources.',
  input: z.object({}).strict(),
  output,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  iam: {
    read: ['ec2:DescribeInstances', 'ec2:DescribeVolumes', 'ec2:DescribeAddresses', 'cloudwatch:GetMetricData'],
    s3: ['s3:GetBucketTagging', 's3:ListBucketVersions'],
  },
  params: noParams,
  async plan() {
    return readPlan(name, 'read owned instances, volumes, addresses, site buckets and CloudWatch metrics', []);
  },
  async execute(_plan, _args, { aws, agent, ports, progress }) {
    const policy = agent.project.unused;
    await progress(0, undefined, 'reading owned resources and their metrics');
    const r = await findUnused(aws, ports, agent.projectId, policy, Object.keys(agent.project.services));
    const { unattended, ...thresholds } = policy;
    return {
      project: agent.projectId,
      resources: r.resources.map((u) => ({
        id: u.id,
        arn: u.arn,
        type: u.type,
        environment: u.environment,
        evidence: u.evidence,
        saving_usd_month: usd(u.savingCents),
        detail: u.detail,
      })),
      total_saving_usd_month: r.resources.reduce((a, u) => a + (u.savingCents ?? 0), 0) / 100,
      examined: r.examined,
      not_judged: r.notJudged,
      thresholds: { ...thresholds, unattended },
    };
  },
  summarize: (o) =>
    o.resources.length
      ? `${o.resources.length} unused resource(s) in ${o.project}, saving $${o.total_saving_usd_month.toFixed(2)}/month: ${o.resources.map((r) => `${r.id} (${r.type})`).join(', ')}`
      : `nothing unused found in ${o.project}`,
});
