// check_drift: what aws-warden set on the project's resources, compared with AWS now; each difference with who
// probably made it. Repair with repair_drift.
import { z } from 'zod';
import { checkDrift } from '../drift/check.js';
import { readPlan } from './read-plan.js';
import { defineTool, noParams } from './tool.js';

export const name = 'check_drift';

export const driftItemOutput = z.object({
  id: z.string().describe('what repair_drift takes'),
  resource: z.string(),
  aspect: z.string(),
  status: z.enum(['drifted', 'unowned', 'missing']).describe('unowned and missing are reported, never repaired'),
  differences: z.array(z.string()),
  changed_by: z.string(),
  desired_since: z.string(),
  desired: z.unknown(),
  actual: z.unknown(),
});

const output = z.object({ project: z.string(), checked: z.number(), drift: z.array(driftItemOutput) });

export const checkDriftTool = defineTool({
  name,
  title: 'Check managed resources for drift',
  description:
    'Compares what aws-warden last set on your project’s resources (tags, security-group rules it executed, bucket versioning, public access block and website, service instance count and type) with AWS now. Each difference comes with who probably changed it (CloudTrail when available). Resources whose ProjectId tag changed are reported as unowned and are never touched.',
  input: z.object({}).strict(),
  output,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  iam: {
    read: ['ec2:DescribeTags', 'ec2:DescribeSecurityGroups', 'ec2:DescribeInstances', 'cloudtrail:LookupEvents'],
    s3: ['s3:GetBucketTagging', 's3:GetBucketVersioning', 's3:GetBucketWebsite', 's3:GetBucketPublicAccessBlock'],
  },
  params: noParams,
  async plan() {
    return readPlan(name, 'read the desired state and the managed resources', []);
  },
  async execute(_plan, _args, { aws, agent, ports }) {
    const r = await checkDrift(aws, ports, agent.projectId);
    return { project: agent.projectId, checked: r.checked, drift: r.items.map(({ tags: _tags, ...item }) => item) };
  },
  summarize: (o) =>
    o.drift.length
      ? `${o.drift.length} drift(s) in ${o.project} (of ${o.checked} managed settings): ${o.drift.map((d) => `${d.id} ${d.resource} ${d.differences[0]}`).join('; ')}`
      : `no drift: ${o.checked} managed setting(s) of ${o.project} match`,
});
