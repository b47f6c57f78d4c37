// get_service: a declared service's instances, types, states, health, monthly cost and the bounds the agent works within.
import { DescribeInstanceStatusCommand } from '@aws-sdk/client-ec2';
import { z } from 'zod';
import { ec2Hourly, monthlyCentsFromHourly } from '../prices/prices.js';
import { agentsOf, findInstances, findOrphans } from '../services/instances.js';
import { orphanNote } from '../services/orphans.js';
import { readPlan } from './read-plan.js';
import { serviceOf } from './scale-service.js';
import { defineTool, noParams } from './tool.js';

export const name = 'get_service';

const output = z.object({
  service: z.string(),
  count: z.number(),
  instances: z.array(
    z.object({
      id: z.string(),
      type: z.string(),
      state: z.string(),
      status_checks: z.string().nullable(),
      launched_at: z.string(),
      private_ip: z.string().nullable(),
      usd_month: z.number().nullable(),
    }),
  ),
  monthly_cost_usd: z.number().nullable().describe('null when an instance type has no known price'),
  orphans: z
    .array(z.object({ instance: z.string(), why: z.string() }))
    .describe("instances that look like this service's but lost the project's ownership tag: not counted, not touched"),
  bounds: z.object({
    min: z.number(),
    max: z.number(),
    instance_types: z.array(z.string()),
    max_change_per_call: z.number().nullable(),
    escalate_over_limits: z.boolean(),
  }),
});

export const getService = defineTool({
  name,
  title: 'Show a service',
  description:
    'Shows a service declared in the policy: its instances (type, state, status checks), monthly cost, and the bounds scale_service works within (min, max, allowed types, max change per call).',
  input: z.object({ service: z.string().regex(/^[a-z][a-z0-9-]{1,39}$/, 'a service name from the policy') }).strict(),
  output,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  iam: { read: ['ec2:DescribeInstances', 'ec2:DescribeInstanceStatus'] },
  params: noParams,
  async plan(args, { agent }) {
    serviceOf(agent, args.service);
    return readPlan(name, `read service ${args.service}`, [{ action: 'ec2:DescribeInstances' }, { action: 'ec2:DescribeInstanceStatus' }]);
  },
  async execute(_plan, args, { aws, agent }) {
    const svc = serviceOf(agent, args.service);
    const region = await aws.ec2.config.region();
    const instances = await findInstances(aws, { ProjectId: agent.projectId, Service: args.service });
    const orphans = await findOrphans(aws, agent.projectId, args.service, agentsOf(agent));
    const checks = new Map<string, string>();
    for (let i = 0; i < instances.length; i += 100) {
      const out = await aws.ec2.send(
        new DescribeInstanceStatusCommand({ InstanceIds: instances.slice(i, i + 100).map((x) => x.id), IncludeAllInstances: true }),
      );
      for (const s of out.InstanceStatuses ?? [])
        checks.set(s.InstanceId ?? '', `instance ${s.InstanceStatus?.Status ?? '?'}, system ${s.SystemStatus?.Status ?? '?'}`);
    }
    const priced = instances.map((i) => {
      const h = ec2Hourly(region, i.type);
      return { i, cents: h === null ? null : monthlyCentsFromHourly(h) };
    });
    const tierTypes = agent.tier.limits.instance_types;
    const maxTier = agent.tier.limits.max_instances_per_service;
    return {
      service: args.service,
      count: instances.length,
      instances: priced.map(({ i, cents }) => ({
        id: i.id,
        type: i.type,
        state: i.state,
        status_checks: checks.get(i.id) ?? null,
        launched_at: i.launchedAt,
        private_ip: i.privateIp,
        usd_month: cents === null ? null : cents / 100,
      })),
      orphans,
      monthly_cost_usd: priced.some((p) => p.cents === null) ? null : priced.reduce((s, p) => s + (p.cents ?? 0), 0) / 100,
      bounds: {
        min: svc.min,
        max: maxTier === undefined ? svc.max : Math.min(svc.max, maxTier),
        instance_types: svc.instance_types.filter((t) => !tierTypes || tierTypes.includes(t)),
        max_change_per_call: agent.tier.limits.max_change_per_call ?? null,
        escalate_over_limits: svc.escalate_over_limits,
      },
    };
  },
  summarize: (o) =>
    `${o.service}: ${o.count} instance(s), ${o.monthly_cost_usd === null ? 'unpriced' : `$${o.monthly_cost_usd.toFixed(2)}/month`}; bounds ${o.bounds.min}..${o.bounds.max} of ${o.bounds.instance_types.join(', ')}${orphanNote(o.orphans)}`,
});
