// scale_service: change a declared service's instance count or type within its bounds; priced, idempotent, health-gated.
import { serviceDesired } from '../drift/record.js';
import { RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { currentApproval, OwnershipLost, withoutDeadline } from '../aws/write-gate.js';
import { limitViolation } from '../guard/rules.js';
import { accountOf } from '../aws/arn.js';
import type { AgentAws } from '../aws/clients.js';
import type { TouchedResource } from '../guard/types.js';
import type { ServicePolicy } from '../policy/schema.js';
import { ec2Hourly, monthlyCentsFromHourly } from '../prices/prices.js';
import type { AgentContext } from '../core/agent.js';
import {
  agentsOf,
  findInstances,
  findOrphans,
  pickForScaleIn,
  terminatedAmong,
  waitHealthy,
  type HealthResult,
  type ServiceInstance,
} from '../services/instances.js';
import { orphanNote } from '../services/orphans.js';
import { Refusal, RolledBack } from '../core/errors.js';
import { defineTool, type Recovered } from './tool.js';

export const name = 'scale_service';

const input = z
  .object({
    service: z.string().regex(/^[a-z][a-z0-9-]{1,39}$/, 'a service name from the policy (get_service lists bounds)'),
    desired_count: z.number().int().min(0).max(10_000).describe('how many instances the service should have'),
    instance_type: z
      .string()
      .regex(/^[a-z0-9]+\.[a-z0-9]+$/, 'an EC2 instance type such as t3.micro')
      .optional()
      .describe('change the type (a rolling replacement)'),
    reason: z.string().max(2000).optional().describe('why; kept verbatim in the audit'),
  })
  .strict();

const output = z.object({
  service: z.string(),
  instance_type: z.string(),
  launched: z.array(z.string()),
  terminated: z.array(z.string()),
  count: z.number(),
  health: z.array(z.object({ instance: z.string(), ok: z.boolean(), detail: z.string() })),
  orphans: z
    .array(z.object({ instance: z.string(), why: z.string() }))
    .describe("instances that look like this service's but lost the project's ownership tag: not counted, not touched"),
});

/** Everything a launch sends, fixed at planning time: an approved plan launches exactly this, whatever the policy says later. */
const launchSpec = z
  .object({
    imageId: z.string().regex(/^ami-[0-9a-f]{8,17}$/),
    subnetId: z.string().optional(),
    securityGroupIds: z.array(z.string()),
    keyName: z.string().optional(),
    /** Base64 of the user data file as read at planning time, and its SHA-256 (what a human compares). */
    userData: z.string().optional(),
    userDataSha256: z.string().optional(),
    instanceProfileArn: z.string().optional(),
  })
  .strict();

/** What a plan's params carry: enough to run it again exactly (replay) and to undo it. */
export const scaleParams = z
  .object({
    region: z.string(),
    account: z.string(),
    service: z.string(),
    instanceType: z.string(),
    launch: z.number().int().nonnegative(),
    launchSpec: launchSpec.nullable(),
    terminate: z.array(z.object({ id: z.string(), arn: z.string(), type: z.string() }).strict()),
    before: z.number().int().nonnegative(),
    health: z.object({ http_url: z.string().optional(), timeout_seconds: z.number(), poll_seconds: z.number() }).strict(),
  })
  .strict();
type ScaleParams = z.infer<typeof scaleParams>;

export function serviceOf(agent: AgentContext, service: string): ServicePolicy {
  const svc = agent.project.services[service];
  if (!svc) {
    const known = Object.keys(agent.project.services);
    throw new Refusal(`service "${service}" is not declared for project ${agent.projectId} (declared: ${known.join(', ') || 'none'})`);
  }
  return svc;
}

const centsOf = (region: string, type: string) => {
  const h = ec2Hourly(region, type);
  return h === null ? null : monthlyCentsFromHourly(h);
};

function costDelta(region: string, type: string, launch: number, terminate: { type: string }[]): number | null {
  const each = centsOf(region, type);
  if (each === null && launch > 0) return null;
  // A terminated instance of an unpriced type saves nothing we can count (never overstate savings).
  const saved = terminate.reduce((s, i) => s + (centsOf(region, i.type) ?? 0), 0);
  return ((each ?? 0) * launch - saved) / 100;
}

function userDataOf(svc: ServicePolicy): { userData?: string; userDataSha256?: string } {
  if (!svc.user_data_file) return {};
  const bytes = readFileSync(svc.user_data_file);
  return { userData: bytes.toString('base64'), userDataSha256: createHash('sha256').update(bytes).digest('hex') };
}

async function resolveImage(aws: AgentAws, svc: ServicePolicy): Promise<string> {
  if (svc.image_id) return svc.image_id;
  const out = await aws.ssm.send(new GetParameterCommand({ Name: svc.image_ssm_parameter }));
  const ami = out.Parameter?.Value ?? '';
  if (!/^ami-[0-9a-f]{8,17}$/.test(ami))
    throw new Refusal(`SSM parameter ${svc.image_ssm_parameter} does not hold an AMI id (got "${ami.slice(0, 40)}")`);
  return ami;
}

export const scaleService = defineTool({
  name,
  title: 'Scale a service',
  description:
    "Sets how many instances a service declared in the policy runs, or changes their instance type (a rolling replacement), within the service's and your tier's bounds. Priced before launch, safe to retry, and rolled back automatically if the new instances fail their health check.",
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  params: scaleParams,
  iam: {
    read: ['ec2:DescribeInstances', 'ec2:DescribeInstanceStatus', 'ec2:DescribeImages'],
    owned: ['ec2:TerminateInstances'],
    create: ['ec2:RunInstances', 'ec2:CreateTags'],
    ssm: ['ssm:GetParameter'],
  },
  environmentOf: (args, agent) => agent.project.services[args.service]?.environment ?? null,
  lockKey: (args, agent) => `service:${agent.projectId}:${args.service}`,
  reasonOf: (args) => args.reason ?? `scale ${args.service} to ${args.desired_count}`,
  async plan(args, { aws, agent }) {
    const svc = serviceOf(agent, args.service);
    const type = args.instance_type;
    // Bounds that need no AWS read are checked before any: a thousand-instance request never reaches AWS.
    if (args.desired_count > svc.max || args.desired_count < svc.min)
      throw new Refusal(`desired_count ${args.desired_count} is outside service ${args.service}'s bounds ${svc.min}..${svc.max}`, 'limits');
    if (type && !svc.instance_types.includes(type))
      throw new Refusal(
        `instance_type ${type} is not allowed for service ${args.service} (allowed: ${svc.instance_types.join(', ')})`,
        'limits',
      );
    if (!svc.escalate_over_limits) {
      const early = limitViolation(agent.tierName, agent.tier.limits, {
        service: args.service,
        instanceType: type ?? svc.instance_types[0],
        countAfter: args.desired_count,
        change: 0,
        escalateOverLimits: false,
      });
      if (early && (type || !/instance type/.test(early))) throw new Refusal(early, 'limits');
    }

    const region = await aws.ec2.config.region();
    const current = await findInstances(aws, { ProjectId: agent.projectId, Service: args.service });
    const instanceType = type ?? current[0]?.type ?? svc.instance_types[0];
    if (!svc.instance_types.includes(instanceType))
      throw new Refusal(
        `the service runs ${instanceType}, which its policy no longer allows; pass instance_type (allowed: ${svc.instance_types.join(', ')})`,
        'limits',
      );
    const typeChange = args.desired_count > 0 && current.some((i) => i.type !== instanceType);
    const launch = typeChange ? args.desired_count : Math.max(0, args.desired_count - current.length);
    const terminate = typeChange ? current : pickForScaleIn(current, Math.max(0, current.length - args.desired_count));
    const p: ScaleParams = {
      region,
      account: accountOf(aws.session.assumedRoleArn) ?? '',
      service: args.service,
      instanceType,
      launch,
      launchSpec:
        launch > 0
          ? {
              imageId: await resolveImage(aws, svc),
              subnetId: svc.subnet_ids[0],
              securityGroupIds: svc.security_group_ids,
              keyName: svc.key_name,
              ...userDataOf(svc),
              instanceProfileArn: svc.instance_profile_arn,
            }
          : null,
      terminate: terminate.map((i) => ({ id: i.id, arn: i.arn, type: i.type })),
      before: current.length,
      health: svc.health,
    };
    const gone = new Set(terminate.map((i) => i.id));
    const resources: TouchedResource[] = current.map((i) => ({ arn: i.arn, change: gone.has(i.id) ? 'delete' : 'read', tags: i.tags }));
    const allowed = svc.instance_types.filter((t) => !agent.tier.limits.instance_types || agent.tier.limits.instance_types.includes(t));
    const summary =
      [
        launch ? `launch ${launch} × ${instanceType}` : '',
        terminate.length ? `terminate ${terminate.length} (${terminate.map((i) => i.id).join(', ')})` : '',
      ]
        .filter(Boolean)
        .join(', then ') || 'no change';
    return {
      tool: name,
      summary: `${args.service}: ${current.length} → ${args.desired_count}: ${summary}`,
      mutating: true,
      operations: [
        ...(launch
          ? [
              {
                action: 'ec2:RunInstances',
                target: args.service,
                resources: [],
                params: { count: launch, instance_type: instanceType, ...p.launchSpec, userData: undefined },
              },
            ]
          : []),
        ...(terminate.length
          ? [
              {
                action: 'ec2:TerminateInstances',
                target: args.service,
                resources: terminate.map((i) => i.id),
                params: { ids: terminate.map((i) => i.id) },
              },
            ]
          : []),
      ],
      resources,
      tagsToSet: { ProjectId: agent.projectId, AgentId: agent.id, ManagedBy: 'aws-warden', Service: args.service },
      costDeltaUsdMonth: costDelta(region, instanceType, launch, terminate),
      riskFlags: [],
      rollback: [
        // Rollback acts only on what this very execution launched (the AWS layer knows those ids once they exist).
        ...(launch
          ? [{ action: 'ec2:TerminateInstances', target: args.service, resources: [], params: { launchedByThisCall: true } }]
          : []),
        ...(terminate.length && !typeChange
          ? [{ action: 'ec2:RunInstances', target: args.service, resources: [], params: { replace: terminate.map((i) => i.type) } }]
          : []),
      ],
      // A type change replaces instances one for one: its size is the larger side, not launches plus terminations.
      capacity: {
        service: args.service,
        instanceType,
        countAfter: args.desired_count,
        change: typeChange ? Math.max(launch, terminate.length) : launch + terminate.length,
        escalateOverLimits: svc.escalate_over_limits,
      },
      alternatives: allowed
        .filter((t) => t !== instanceType && launch > 0)
        .map((t) => ({ description: `${launch} × ${t}`, costDeltaUsdMonth: costDelta(region, t, launch, terminate) }))
        .filter((a): a is { description: string; costDeltaUsdMonth: number } => a.costDeltaUsdMonth !== null),
      params: p,
    };
  },
  async execute(plan, _args, { aws, agent, progress, signal }) {
    const p = plan.params;
    const terminateIds = p.terminate.map((i) => i.id);
    let launched: ServiceInstance[] = [];
    let health: HealthResult[] = [];
    const undoLaunch = async (why: string, trigger: 'health' | 'ownership' | 'aws_failure', detail: Record<string, unknown>) => {
      // The rollback plan made before execution: terminate exactly what this call launched.
      const ids = launched.map((i) => i.id);
      if (ids.length) await withoutDeadline(() => aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: ids })));
      throw new RolledBack(
        `${why}; rolled back: terminated ${ids.join(', ') || 'nothing'} — ${p.service} is as it was`,
        { launched: ids, terminated: ids, ...detail },
        trigger,
      );
    };
    if (p.launchSpec && p.launch > 0) {
      const spec = p.launchSpec;
      const eventId = currentApproval();
      // Idempotency is ours: moto ignores ClientToken, and a crash can fall between "sent" and "recorded".
      // Whatever this approval already launched counts; only the rest is launched.
      const already = await findInstances(aws, { ProjectId: agent.projectId, Service: p.service, WardenEvent: eventId });
      const missing = p.launch - already.length;
      let sendError: unknown = null;
      if (missing > 0) {
        const tags = Object.entries({ ...plan.tagsToSet, WardenEvent: eventId, Name: p.service }).map(([Key, Value]) => ({ Key, Value }));
        try {
          await aws.ec2.send(
            new RunInstancesCommand({
              ImageId: spec.imageId,
              InstanceType: p.instanceType as 't3.micro',
              MinCount: missing,
              MaxCount: missing,
              ClientToken: `warden-${eventId}`.slice(0, 64),
              SubnetId: spec.subnetId,
              SecurityGroupIds: spec.securityGroupIds.length ? spec.securityGroupIds : undefined,
              KeyName: spec.keyName,
              UserData: spec.userData,
              IamInstanceProfile: spec.instanceProfileArn ? { Arn: spec.instanceProfileArn } : undefined,
              TagSpecifications: [
                { ResourceType: 'instance', Tags: tags },
                { ResourceType: 'volume', Tags: tags },
              ],
            }),
          );
        } catch (e) {
          // A reset or timeout may come after AWS acted (and a retry may have launched again): ask AWS before answering.
          if (e instanceof OwnershipLost) throw e;
          sendError = e;
        }
      }
      // Reconcile: what exists for this approval is what AWS says, whatever the answer to RunInstances was. Instances
      // whose answer was lost become this execution's own (so they can be undone), and any beyond the plan go.
      launched = await withoutDeadline(async () => {
        await aws.adoptLaunches();
        const found = await findInstances(aws, { ProjectId: agent.projectId, Service: p.service, WardenEvent: eventId });
        if (found.length <= p.launch) return found;
        const excess = found.slice(0, found.length - p.launch);
        await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: excess.map((i) => i.id) }));
        return found.slice(found.length - p.launch);
      });
      if (sendError && launched.length < p.launch)
        await undoLaunch(
          `RunInstances failed (${(sendError as Error).name}: ${(sendError as Error).message.split('\n')[0]}) and AWS holds ${launched.length} of the ${p.launch} planned instance(s)`,
          'aws_failure',
          {},
        );
      await progress(0, launched.length, `launched ${launched.length} × ${p.instanceType}; waiting for health`);
      try {
        health = await waitHealthy(aws, launched, p.health, progress, signal);
      } catch (e) {
        // A wait cut short (the call's deadline, a failed status read) never leaves what this call launched running.
        await undoLaunch(
          `stopped while waiting for health (${(e as Error).name}: ${(e as Error).message.split('\n')[0]})`,
          'aws_failure',
          {},
        );
      }
      if (signal.aborted)
        await undoLaunch(
          'the call was cancelled or reached its deadline (call_deadline_seconds) before the launch was healthy',
          'aws_failure',
          { health },
        );
      const failed = health.filter((h) => !h.ok);
      if (failed.length > 0)
        await undoLaunch(`failed its health check (${failed.map((f) => `${f.instance}: ${f.detail}`).join('; ')})`, 'health', { health });
    }
    if (terminateIds.length > 0) {
      try {
        await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: terminateIds }));
      } catch (e) {
        // An instance handed to another project meanwhile is not terminated; what this call launched is undone.
        if (e instanceof OwnershipLost) await undoLaunch(`stopped before terminating: ${e.message}`, 'ownership', { health });
        throw e;
      }
      await progress(1, 1, `terminated ${terminateIds.length}`);
    }
    const now = await findInstances(aws, { ProjectId: agent.projectId, Service: p.service });
    const orphans = await findOrphans(aws, agent.projectId, p.service, agentsOf(agent));
    return {
      service: p.service,
      instance_type: p.instanceType,
      launched: launched.map((i) => i.id),
      terminated: terminateIds,
      count: now.length,
      health,
      orphans,
    };
  },
  /**
   * After a crash between approval and outcome: if the planned terminations were already sent, the change is past its
   * point of no return and is completed as it stands (the launches stay); otherwise exactly what this approval launched
   * (found by its WardenEvent tag) is terminated, and the service is as it was.
   */
  async recover(plan, _args, { aws, agent }): Promise<Recovered<z.infer<typeof output>>> {
    const p = plan.params;
    const launched = p.launch > 0 ? await aws.adoptLaunches() : [];
    const gone = await terminatedAmong(
      aws,
      p.terminate.map((i) => i.id),
    );
    if (gone.length) {
      const now = await findInstances(aws, { ProjectId: agent.projectId, Service: p.service });
      return {
        outcome: 'completed',
        result: {
          service: p.service,
          instance_type: p.instanceType,
          launched,
          terminated: gone,
          count: now.length,
          health: [],
          orphans: await findOrphans(aws, agent.projectId, p.service, agentsOf(agent)),
        },
        why: `its terminations (${gone.join(', ')}) had been sent before the process stopped, so it is completed; launched ${launched.join(', ') || 'nothing'}`,
      };
    }
    if (launched.length) await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: launched }));
    return {
      outcome: 'undone',
      why: launched.length
        ? `terminated the ${launched.length} instance(s) it had launched (${launched.join(', ')}); ${p.service} is as it was`
        : `it stopped before it changed anything; ${p.service} is as it was`,
      detail: { launched, terminated: launched },
    };
  },
  ledger(plan, out) {
    const run = plan.params;
    const hourly = ec2Hourly(run.region, out.instance_type);
    return {
      add: out.launched.map((id) => ({
        arn: `arn:aws:ec2:${run.region}:${run.account}:instance/${id}`,
        description: `${out.instance_type} instance of ${out.service}`,
        hourlyUsd: hourly,
        centsMonth: hourly === null ? null : monthlyCentsFromHourly(hourly),
      })),
      remove: out.terminated.map((id) => plan.params.terminate.find((t) => t.id === id)?.arn ?? id),
    };
  },
  desired: (_plan, out) => serviceDesired(out.service, out.count, out.instance_type),
  summarize: (o) =>
    `${o.service}: ${o.count} instance(s) of ${o.instance_type} now; launched ${o.launched.length}, terminated ${o.terminated.length}${orphanNote(o.orphans)}`,
});
