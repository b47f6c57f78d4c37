// Owned resources that cost money and do no work, each with its evidence and monthly saving: idle instances
// (CloudWatch CPU and network over the policy's window), long-stopped instances, unattached volumes, idle
// Elastic IPs, and site buckets with no deploy in a while. Read under the agent's role, ProjectId-tagged only.
import { GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeAddressesCommand, DescribeVolumesCommand, type Volume } from '@aws-sdk/client-ec2';
import { accountOf } from '../aws/arn.js';
import type { AgentAws } from '../aws/clients.js';
import { readTags } from '../aws/tags.js';
import type { Reclaimable, UnusedPolicy } from '../policy/schema.js';
import { ebsGbMonth, ec2Hourly, monthlyCentsFromGbMonth, monthlyCentsFromHourly, PRICE_TABLE, s3Prices } from '../prices/prices.js';
import { findInstances, type ServiceInstance } from '../services/instances.js';
import { readContents } from '../sites/bucket.js';
import type { ToolPorts } from '../core/ports.js';

export interface UnusedResource {
  id: string;
  arn: string;
  type: Reclaimable;
  /** The resource's Environment tag, or null. */
  environment: string | null;
  evidence: string;
  /** What reclaiming saves per month, in cents; null when a price is unknown. */
  savingCents: number | null;
  tags: Record<string, string>;
  /** Instances: stopped already (terminate) or running idle (stop or terminate). Volumes: size and type. */
  detail: Record<string, unknown>;
}

export interface UnusedReport {
  resources: UnusedResource[];
  /** Owned resources looked at, by type. */
  examined: Record<Reclaimable, number>;
  /** Resources that could not be judged and why (e.g. too few metrics yet). */
  notJudged: { id: string; why: string }[];
}

/** The ARN of an id reclaim takes: an instance, volume or Elastic IP allocation id, else a bucket name. */
export function arnOfId(region: string, account: string, id: string): string {
  if (id.startsWith('i-')) return `arn:aws:ec2:${region}:${account}:instance/${id}`;
  if (id.startsWith('vol-')) return `arn:aws:ec2:${region}:${account}:volume/${id}`;
  if (id.startsWith('eipalloc-')) return `arn:aws:ec2:${region}:${account}:elastic-ip/${id}`;
  return `arn:aws:s3:::${id}`;
}

const tagsOf = (tags: { Key?: string; Value?: string }[] | undefined) =>
  Object.fromEntries((tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
const MB = 1024 * 1024;

/** "User initiated (2026-11-01 10:00:00 GMT)" → that instant; AWS says GMT, moto UTC. */
export function stoppedAt(reason: string | undefined): Date | null {
  const m = /\((\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) (?:GMT|UTC)\)/.exec(reason ?? '');
  return m ? new Date(`${m[1]}T${m[2]}Z`) : null;
}

/** One instance's hourly series over the idle window: CPU average, network in and out sums. */
interface Series {
  cpu: number[];
  netIn: number[];
  netOut: number[];
}

/** GetMetricData takes at most 500 queries a call: three per instance. */
const QUERIES_PER_CALL = 500;

/**
 * The hourly CPU and network series of many instances in as few GetMetricData calls as fit (500 queries each, three
 * per instance), paginated; an instance with no datapoints gets empty series.
 */
async function hourlySeries(aws: AgentAws, instanceIds: string[], start: Date, end: Date): Promise<Map<string, Series>> {
  const out = new Map<string, Series>(instanceIds.map((id) => [id, { cpu: [], netIn: [], netOut: [] }]));
  const metrics = [
    ['cpu', 'CPUUtilization', 'Average'],
    ['netIn', 'NetworkIn', 'Sum'],
    ['netOut', 'NetworkOut', 'Sum'],
  ] as const;
  const perCall = Math.floor(QUERIES_PER_CALL / metrics.length);
  for (let k = 0; k < instanceIds.length; k += perCall) {
    const ids = instanceIds.slice(k, k + perCall);
    const queries = ids.flatMap((id, n) =>
      metrics.map(([key, metric, stat]) => ({
        Id: `${key.toLowerCase()}_${n}`,
        MetricStat: {
          Metric: { Namespace: 'AWS/EC2', MetricName: metric, Dimensions: [{ Name: 'InstanceId', Value: id }] },
          Period: 3600,
          Stat: stat,
        },
        ReturnData: true,
      })),
    );
    let token: string | undefined;
    do {
      const page = await aws.cloudwatch.send(
        new GetMetricDataCommand({ MetricDataQueries: queries, StartTime: start, EndTime: end, NextToken: token }),
      );
      for (const r of page.MetricDataResults ?? []) {
        const m = /^(cpu|netin|netout)_(\d+)$/.exec(r.Id ?? '');
        const id = m ? ids[Number(m[2])] : undefined;
        const series = id ? out.get(id) : undefined;
        if (!m || !series) continue;
        const key = metrics.find(([k]) => k.toLowerCase() === m[1])?.[0] as keyof Series;
        series[key].push(...(r.Values ?? []));
      }
      token = page.NextToken;
    } while (token);
  }
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function volumesOf(aws: AgentAws, filters: { Name: string; Values: string[] }[]): Promise<Volume[]> {
  const out: Volume[] = [];
  let token: string | undefined;
  do {
    const page = await aws.ec2.send(new DescribeVolumesCommand({ Filters: filters, NextToken: token }));
    out.push(...(page.Volumes ?? []));
    token = page.NextToken;
  } while (token);
  return out;
}

const attachedTo = (aws: AgentAws, instanceId: string) => volumesOf(aws, [{ Name: 'attachment.instance-id', Values: [instanceId] }]);
/** What reclaim needs to snapshot an instance's volumes and price the snapshots. */
const sizes = (volumes: Volume[]) => volumes.map((v) => ({ id: v.VolumeId, size_gb: v.Size ?? 0 }));

function volumeCents(region: string, v: Volume): number | null {
  const perGb = v.VolumeType ? ebsGbMonth(region, v.VolumeType) : null;
  return perGb === null || v.Size === undefined ? null : monthlyCentsFromGbMonth(v.Size, perGb);
}

const sum = (xs: (number | null)[]) => (xs.some((x) => x === null) ? null : (xs as number[]).reduce((a, b) => a + b, 0));

async function judgeInstance(
  aws: AgentAws,
  region: string,
  i: ServiceInstance,
  policy: UnusedPolicy,
  now: Date,
  report: UnusedReport,
  series: Series | undefined,
): Promise<UnusedResource | null> {
  const base = { id: i.id, arn: i.arn, type: 'instance' as const, environment: i.tags.Environment ?? null, tags: i.tags };
  if (i.state === 'stopped') {
    const since = stoppedAt(i.stateReason);
    if (!since) {
      report.notJudged.push({ id: i.id, why: `stopped, but when is unknown (${i.stateReason ?? 'no reason given'})` });
      return null;
    }
    const days = (now.getTime() - since.getTime()) / 86_400_000;
    if (days < policy.stopped_days) return null;
    const volumes = await attachedTo(aws, i.id);
    return {
      ...base,
      evidence: `stopped since ${since.toISOString().slice(0, 16)}Z (${Math.floor(days)} days, over ${policy.stopped_days}); its ${volumes.length} volume(s) still bill`,
      savingCents: sum(volumes.map((v) => volumeCents(region, v))),
      detail: { state: 'stopped', volumes: sizes(volumes) },
    };
  }
  if (i.state !== 'running') return null;
  const { cpu, netIn, netOut } = series ?? { cpu: [], netIn: [], netOut: [] };
  // Too little history is not evidence of idleness (a new instance, or metrics not yet in).
  const needed = Math.ceil(policy.idle_window_hours * 0.9);
  if (cpu.length < needed) {
    report.notJudged.push({
      id: i.id,
      why: `${cpu.length} hourly CPU datapoints in the last ${policy.idle_window_hours} h (needs ${needed})`,
    });
    return null;
  }
  const cpuAvg = mean(cpu);
  const netMbPerHour = (netIn.reduce((a, b) => a + b, 0) + netOut.reduce((a, b) => a + b, 0)) / MB / (policy.idle_window_hours || 1);
  if (cpuAvg >= policy.idle_cpu_percent || netMbPerHour >= policy.idle_network_mb_per_hour) return null;
  const price = ec2Hourly(region, i.type);
  // Terminating it would delete these (DeleteOnTermination): reclaim snapshots them first.
  const volumes = await attachedTo(aws, i.id);
  return {
    ...base,
    evidence: `running ${i.type}, CPU ${cpuAvg.toFixed(1)}% average and ${netMbPerHour.toFixed(2)} MB/h network over ${policy.idle_window_hours} h (idle below ${policy.idle_cpu_percent}% and ${policy.idle_network_mb_per_hour} MB/h)`,
    savingCents: price === null ? null : monthlyCentsFromHourly(price),
    detail: {
      state: 'running',
      instance_type: i.type,
      cpu_percent: Number(cpuAvg.toFixed(2)),
      network_mb_per_hour: Number(netMbPerHour.toFixed(3)),
      volumes: sizes(volumes),
    },
  };
}

async function siteBuckets(
  aws: AgentAws,
  ports: Pick<ToolPorts, 'deployments' | 'clock'>,
  project: string,
  region: string,
  account: string,
  policy: UnusedPolicy,
  now: Date,
  report: UnusedReport,
): Promise<UnusedResource[]> {
  const rows = ports.deployments.lastDeploys(project);
  const found: UnusedResource[] = [];
  for (const r of rows) {
    report.examined.site_bucket++;
    const days = (now.getTime() - Date.parse(r.last)) / 86_400_000;
    if (days < policy.site_idle_days) continue;
    const arn = arnOfId(region, account, r.bucket);
    const { tags, why } = await readTags(aws, arn);
    // Gone (reclaimed already), or no longer readable by this role: not something to reclaim.
    if (!tags) {
      if (!why?.startsWith('NoSuchBucket')) report.notJudged.push({ id: r.bucket, why: `cannot read its tags (${why})` });
      continue;
    }
    if (tags.ProjectId !== project) continue;
    const bytes = (await readContents(aws, r.bucket)).allVersionBytes;
    const price = s3Prices(region);
    found.push({
      id: r.bucket,
      arn,
      type: 'site_bucket',
      environment: tags.Environment ?? r.environment,
      evidence: `site ${r.site} (${r.environment}): last deploy ${r.last.slice(0, 10)}, ${Math.floor(days)} days ago (over ${policy.site_idle_days}); ${(bytes / MB).toFixed(2)} MB kept`,
      savingCents: price ? monthlyCentsFromGbMonth(bytes / 1024 ** 3, price.standard_gb_month) : null,
      tags,
      detail: { site: r.site, bytes, account },
    });
  }
  return found;
}

/** Everything of the project that looks unused now; `only` limits the look to these ids (reclaim's re-check). */
export async function findUnused(
  aws: AgentAws,
  ports: Pick<ToolPorts, 'deployments' | 'clock'>,
  project: string,
  policy: UnusedPolicy,
  services: string[],
  only?: Set<string>,
): Promise<UnusedReport> {
  const region = await aws.ec2.config.region();
  const account = accountOf(aws.session.assumedRoleArn) ?? '';
  const now = ports.clock();
  const report: UnusedReport = { resources: [], examined: { instance: 0, volume: 0, address: 0, site_bucket: 0 }, notJudged: [] };
  const wanted = (id: string) => !only || only.has(id);
  const owned = { Name: 'tag:ProjectId', Values: [project] };

  const instances = (await findInstances(aws, { ProjectId: project })).filter((i) => wanted(i.id));
  report.examined.instance = instances.length;
  // A declared service's capacity is scale_service's to change (its bounds, its health checks), never reclaim's.
  const members = instances.filter((i) => i.tags.Service && services.includes(i.tags.Service));
  if (only)
    for (const i of members)
      report.notJudged.push({ id: i.id, why: `part of service ${i.tags.Service}: change its capacity with scale_service` });
  const loose = instances.filter((i) => !members.includes(i));
  // Every running instance's metrics in batched GetMetricData calls; then each is judged, eight at a time.
  const start = new Date(now.getTime() - policy.idle_window_hours * 3_600_000);
  const running = loose.filter((i) => i.state === 'running').map((i) => i.id);
  const series = running.length ? await hourlySeries(aws, running, start, now) : new Map<string, Series>();
  for (let k = 0; k < loose.length; k += 8) {
    const judged = await Promise.all(
      loose.slice(k, k + 8).map((i) => judgeInstance(aws, region, i, policy, now, report, series.get(i.id))),
    );
    report.resources.push(...judged.filter((u): u is UnusedResource => u !== null));
  }

  const volumes = (await volumesOf(aws, [owned, { Name: 'status', Values: ['available'] }])).filter(
    (v) => v.VolumeId && wanted(v.VolumeId),
  );
  report.examined.volume = volumes.length;
  for (const v of volumes) {
    const tags = tagsOf(v.Tags);
    if (tags.ProjectId !== project) continue;
    report.resources.push({
      id: v.VolumeId as string,
      arn: arnOfId(region, account, v.VolumeId as string),
      type: 'volume',
      environment: tags.Environment ?? null,
      evidence: `${v.Size} GB ${v.VolumeType} volume attached to nothing (created ${v.CreateTime?.toISOString().slice(0, 10) ?? '?'})`,
      savingCents: volumeCents(region, v),
      tags,
      detail: { size_gb: v.Size, volume_type: v.VolumeType, availability_zone: v.AvailabilityZone },
    });
  }

  const addresses = ((await aws.ec2.send(new DescribeAddressesCommand({ Filters: [owned] }))).Addresses ?? []).filter(
    (a) => a.AllocationId && wanted(a.AllocationId),
  );
  report.examined.address = addresses.length;
  for (const a of addresses) {
    const tags = tagsOf(a.Tags);
    if (tags.ProjectId !== project || a.AssociationId) continue;
    report.resources.push({
      id: a.AllocationId as string,
      arn: arnOfId(region, account, a.AllocationId as string),
      type: 'address',
      environment: tags.Environment ?? null,
      evidence: `Elastic IP ${a.PublicIp} associated with nothing (public IPv4 bills while idle)`,
      savingCents: monthlyCentsFromHourly(PRICE_TABLE.public_ipv4_hourly),
      tags,
      detail: { public_ip: a.PublicIp },
    });
  }

  if (!only || [...only].some((id) => !/^(i|vol|eipalloc)-/.test(id)))
    report.resources.push(...(await siteBuckets(aws, ports, project, region, account, policy, now, report)).filter((b) => wanted(b.id)));
  return report;
}
