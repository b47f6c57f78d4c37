// Reads a service's instances (by ProjectId + Service tags) and waits for new ones to be healthy.
import { DescribeInstancesCommand, DescribeInstanceStatusCommand, type Instance } from '@aws-sdk/client-ec2';
import { pause } from '../util/wait.js';
import type { AgentAws } from '../aws/clients.js';
import type { AgentContext } from '../core/agent.js';
import type { ServicePolicy } from '../policy/schema.js';

export interface ServiceInstance {
  id: string;
  arn: string;
  type: string;
  state: string;
  /** e.g. "User initiated (2026-11-01 10:00:00 GMT)": when a stopped instance stopped. */
  stateReason?: string;
  launchedAt: string;
  privateIp: string | null;
  publicIp: string | null;
  tags: Record<string, string>;
}

const LIVE = ['pending', 'running', 'stopping', 'stopped'];

function toServiceInstance(i: Instance, region: string, account: string): ServiceInstance {
  return {
    id: i.InstanceId ?? '',
    arn: `arn:aws:ec2:${region}:${account}:instance/${i.InstanceId}`,
    type: i.InstanceType ?? 'unknown',
    state: i.State?.Name ?? 'unknown',
    stateReason: i.StateTransitionReason,
    launchedAt: i.LaunchTime?.toISOString() ?? '',
    privateIp: i.PrivateIpAddress ?? null,
    publicIp: i.PublicIpAddress ?? null,
    tags: Object.fromEntries((i.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
  };
}

/** Instances not yet terminated that match all `tags`; paginated, newest first. */
export async function findInstances(aws: AgentAws, tags: Record<string, string>): Promise<ServiceInstance[]> {
  const region = await aws.ec2.config.region();
  const found: ServiceInstance[] = [];
  let token: string | undefined;
  do {
    const out = await aws.ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          ...Object.entries(tags).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] })),
          { Name: 'instance-state-name', Values: LIVE },
        ],
        NextToken: token,
        MaxResults: 1000,
      }),
    );
    for (const r of out.Reservations ?? []) for (const i of r.Instances ?? []) found.push(toServiceInstance(i, region, r.OwnerId ?? ''));
    token = out.NextToken;
  } while (token);
  // The filter ran on the AWS side; check the tags again rather than trust it.
  return found
    .filter((i) => Object.entries(tags).every(([k, v]) => i.tags[k] === v))
    .sort((a, b) => b.launchedAt.localeCompare(a.launchedAt));
}

/** Which of `ids` are shutting down or terminated now (a termination already sent). */
export async function terminatedAmong(aws: AgentAws, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const out = await aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
  return (out.Reservations ?? [])
    .flatMap((r) => r.Instances ?? [])
    .filter((i) => ['shutting-down', 'terminated'].includes(i.State?.Name ?? ''))
    .map((i) => i.InstanceId ?? '')
    .filter((id) => ids.includes(id));
}

/** The agents of the agent's project, from the policy: whose launches can be a service's. */
export const agentsOf = (agent: AgentContext): string[] =>
  Object.entries(agent.policy.agents)
    .filter(([, a]) => a.project === agent.projectId)
    .map(([id]) => id);

export interface Orphan {
  instance: string;
  why: string;
}

/**
 * Instances that look like the service's (its Service tag, launched by one of the project's agents) but no longer carry
 * the project's ownership tag: aws-warden neither counts nor touches them, and says so, for a human to look at.
 */
export async function findOrphans(aws: AgentAws, project: string, service: string, agents: string[]): Promise<Orphan[]> {
  if (agents.length === 0) return [];
  const out = await aws.ec2.send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: 'tag:Service', Values: [service] },
        { Name: 'tag:AgentId', Values: agents },
        { Name: 'instance-state-name', Values: LIVE },
      ],
      MaxResults: 1000,
    }),
  );
  const orphans: Orphan[] = [];
  for (const r of out.Reservations ?? [])
    for (const i of r.Instances ?? []) {
      const tags = Object.fromEntries((i.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
      if (tags.ProjectId === project || !agents.includes(tags.AgentId ?? '') || tags.Service !== service) continue;
      orphans.push({
        instance: i.InstanceId ?? '',
        why: `launched by ${tags.AgentId} for ${service} but its ProjectId is ${tags.ProjectId === undefined ? 'gone' : `"${tags.ProjectId}"`}: not counted, not touched — a human should look`,
      });
    }
  return orphans;
}

/** Which instances a scale-in removes: unhealthy first, then the newest (the longest-proven stay). */
export function pickForScaleIn(instances: ServiceInstance[], n: number): ServiceInstance[] {
  const rank = (i: ServiceInstance) => (i.state === 'running' ? 1 : 0);
  return [...instances].sort((a, b) => rank(a) - rank(b) || b.launchedAt.localeCompare(a.launchedAt)).slice(0, n);
}

export interface HealthResult {
  instance: string;
  ok: boolean;
  detail: string;
}

export function healthUrl(template: string, i: ServiceInstance): string {
  return template
    .replaceAll('{instance_id}', i.id)
    .replaceAll('{private_ip}', i.privateIp ?? '')
    .replaceAll('{public_ip}', i.publicIp ?? '');
}

/**
 * Waits until every instance is running with both EC2 status checks ok, then (if configured) answers 2xx on
 * its health URL, all within the service's timeout. Returns per-instance results; all ok means healthy.
 */
export async function waitHealthy(
  aws: AgentAws,
  instances: ServiceInstance[],
  health: ServicePolicy['health'],
  progress: (done: number, total: number, message: string) => Promise<void>,
  signal: AbortSignal,
): Promise<HealthResult[]> {
  const started = Date.now();
  const deadline = started + health.timeout_seconds * 1000;
  const pending = new Map(instances.map((i) => [i.id, i]));
  const results = new Map<string, HealthResult>();
  // Progress is the wait itself, in seconds of the timeout: it rises on every report, the healthy count in the message.
  const report = () => {
    const waited = Math.round((Date.now() - started) / 1000);
    const healthy = instances.length - pending.size;
    return progress(
      waited,
      health.timeout_seconds,
      `${healthy}/${instances.length} instances healthy after ${waited} s (at most ${health.timeout_seconds} s)`,
    );
  };
  while (pending.size > 0) {
    if (signal.aborted) break;
    const ids = [...pending.keys()];
    const status = await aws.ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: ids, IncludeAllInstances: true }));
    const fresh = await findInstancesById(aws, ids);
    for (const s of status.InstanceStatuses ?? []) {
      const id = s.InstanceId ?? '';
      const inst = fresh.get(id) ?? pending.get(id);
      if (!inst || s.InstanceState?.Name !== 'running' || s.InstanceStatus?.Status !== 'ok' || s.SystemStatus?.Status !== 'ok') {
        results.set(id, {
          instance: id,
          ok: false,
          detail: `state ${s.InstanceState?.Name}, instance status ${s.InstanceStatus?.Status}, system status ${s.SystemStatus?.Status}`,
        });
        continue;
      }
      if (!health.http_url) {
        results.set(id, { instance: id, ok: true, detail: 'running, status checks ok' });
        pending.delete(id);
        continue;
      }
      const url = healthUrl(health.http_url, inst);
      try {
        const res = await fetch(url, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(Math.min(10_000, health.timeout_seconds * 1000))]),
        });
        const ok = res.status >= 200 && res.status < 300;
        results.set(id, { instance: id, ok, detail: `GET ${url} → ${res.status}` });
        if (ok) pending.delete(id);
      } catch (e) {
        results.set(id, { instance: id, ok: false, detail: `GET ${url} → ${(e as Error).message}` });
      }
    }
    await report();
    if (pending.size === 0 || Date.now() + health.poll_seconds * 1000 > deadline) break;
    await pause(health.poll_seconds * 1000, signal, report);
  }
  return instances.map((i) => results.get(i.id) ?? { instance: i.id, ok: false, detail: 'no status reported' });
}

async function findInstancesById(aws: AgentAws, ids: string[]): Promise<Map<string, ServiceInstance>> {
  const region = await aws.ec2.config.region();
  const out = await aws.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ids }] }));
  const map = new Map<string, ServiceInstance>();
  for (const r of out.Reservations ?? [])
    for (const i of r.Instances ?? []) map.set(i.InstanceId ?? '', toServiceInstance(i, region, r.OwnerId ?? ''));
  return map;
}
