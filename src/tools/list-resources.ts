// list_resources: what the agent's project owns, found by its ProjectId tag through the Resource Groups Tagging API.
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { GetResourcesCommand } from '@aws-sdk/client-resource-groups-tagging-api';
import { z } from 'zod';
import { parseArn } from '../aws/arn.js';
import type { AgentAws } from '../aws/clients.js';
import { defineTool, noParams } from './tool.js';
import { readPlan } from './read-plan.js';

export const name = 'list_resources';

const TYPES = {
  'ec2:instance': 'ec2:instance',
  'ec2:security-group': 'ec2:security-group',
  'ec2:volume': 'ec2:volume',
  's3:bucket': 's3',
} as const;
type ResourceType = keyof typeof TYPES;

const resource = z.object({
  type: z.string(),
  arn: z.string(),
  id: z.string(),
  name: z.string().nullable(),
  state: z.string().nullable(),
  tags: z.record(z.string(), z.string()),
  owner_agent: z.string().nullable(),
});

const output = z.object({
  project: z.string(),
  resources: z.array(resource),
  next_token: z.string().nullable(),
});

export const listResources = defineTool({
  name,
  title: 'List what my project owns',
  description:
    "Lists the AWS resources the agent's project owns (tagged ProjectId=<project>): EC2 instances, security groups, volumes and S3 buckets, with state, tags and the owning agent. Paginated: pass next_token back for more.",
  input: z
    .object({
      resource_types: z
        .array(z.enum(Object.keys(TYPES) as [ResourceType, ...ResourceType[]]))
        .min(1)
        .optional()
        .describe('only these types (default: all)'),
      max_results: z.number().int().min(1).max(500).default(100),
      next_token: z.string().min(1).max(4096).optional().describe('from a previous answer'),
    })
    .strict(),
  output,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  iam: { read: ['tag:GetResources', 'ec2:DescribeInstances'] },
  params: noParams,
  async plan() {
    return readPlan(name, 'list owned resources by tag', [{ action: 'tag:GetResources' }, { action: 'ec2:DescribeInstances' }]);
  },
  async execute(_plan, args, { agent, aws }) {
    const types = (args.resource_types ?? (Object.keys(TYPES) as ResourceType[])).map((t) => TYPES[t]);
    const found: z.infer<typeof resource>[] = [];
    let token = args.next_token;
    do {
      const page = await aws.tagging.send(
        new GetResourcesCommand({
          TagFilters: [{ Key: 'ProjectId', Values: [agent.projectId] }],
          ResourceTypeFilters: types,
          ResourcesPerPage: Math.min(100, args.max_results - found.length),
          PaginationToken: token,
        }),
      );
      for (const m of page.ResourceTagMappingList ?? []) {
        const tags = Object.fromEntries((m.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
        // The filter ran on the AWS side; check again here rather than trust it.
        if (!m.ResourceARN || tags.ProjectId !== agent.projectId) continue;
        const p = parseArn(m.ResourceARN);
        found.push({
          type: p ? `${p.service}:${p.type}` : m.ResourceARN.split(':')[2],
          arn: m.ResourceARN,
          id: p?.id ?? m.ResourceARN.split(/[/:]/).pop() ?? m.ResourceARN,
          name: tags.Name ?? null,
          state: null,
          tags,
          owner_agent: tags.AgentId ?? null,
        });
      }
      token = page.PaginationToken || undefined;
    } while (token && found.length < args.max_results);
    await fillInstanceStates(aws, found);
    return { project: agent.projectId, resources: found, next_token: token ?? null };
  },
  summarize: (o) => `${o.resources.length} resource(s) owned by ${o.project}${o.next_token ? ' (more: pass next_token)' : ''}`,
});

/** Filters (not InstanceIds) so an instance gone since the tag read does not fail the whole listing. */
async function fillInstanceStates(aws: AgentAws, found: z.infer<typeof resource>[]) {
  const instances = new Map(found.filter((r) => r.type === 'ec2:instance').map((r) => [r.id, r]));
  const ids = [...instances.keys()];
  for (let i = 0; i < ids.length; i += 200) {
    let token: string | undefined;
    do {
      const out = await aws.ec2.send(
        new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ids.slice(i, i + 200) }], NextToken: token }),
      );
      for (const inst of (out.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
        const r = inst.InstanceId ? instances.get(inst.InstanceId) : undefined;
        if (r) r.state = inst.State?.Name ?? null;
      }
      token = out.NextToken;
    } while (token);
  }
}
