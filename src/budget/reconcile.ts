// Compares the ledger with what a project really holds in AWS (by its ProjectId tag) and makes the ledger agree.
import { DescribeInstancesCommand, DescribeVolumesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { ebsGbMonth, ec2Hourly, monthlyCentsFromGbMonth, monthlyCentsFromHourly, PRICE_TABLE } from '../prices/prices.js';
import type { CostLine } from '../store/ledger.js';
import type { Store } from '../store/store.js';

export interface Found extends CostLine {
  agent: string | null;
}

export interface ReconcileReport {
  project: string;
  released: string[];
  adopted: { arn: string; description: string; usd_month: number | null }[];
  staleReservations: string[];
  agreed: number;
}

/** What the project holds, read with the caller's (a human's) credentials. */
export async function ownedInAws(ec2: EC2Client, project: string, account: string): Promise<Found[]> {
  const region = await ec2.config.region();
  const found: Found[] = [];
  const tag = { Name: 'tag:ProjectId', Values: [project] };
  let token: string | undefined;
  do {
    const out = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [tag, { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }],
        NextToken: token,
      }),
    );
    for (const r of out.Reservations ?? [])
      for (const i of r.Instances ?? []) {
        const hourly = i.InstanceType ? ec2Hourly(region, i.InstanceType) : null;
        found.push({
          arn: `arn:aws:ec2:${region}:${r.OwnerId ?? account}:instance/${i.InstanceId}`,
          description: `${i.InstanceType} instance`,
          hourlyUsd: hourly,
          centsMonth: hourly === null ? null : monthlyCentsFromHourly(hourly),
          agent: i.Tags?.find((t) => t.Key === 'AgentId')?.Value ?? null,
        });
      }
    token = out.NextToken;
  } while (token);
  do {
    const out = await ec2.send(new DescribeVolumesCommand({ Filters: [tag], NextToken: token }));
    for (const v of out.Volumes ?? []) {
      const perGb = v.VolumeType ? ebsGbMonth(region, v.VolumeType) : null;
      const cents = perGb === null || v.Size === undefined ? null : monthlyCentsFromGbMonth(v.Size, perGb);
      found.push({
        arn: `arn:aws:ec2:${region}:${account}:volume/${v.VolumeId}`,
        description: `${v.Size} GB ${v.VolumeType} volume`,
        hourlyUsd: cents === null ? null : cents / 100 / PRICE_TABLE.hours_per_month,
        centsMonth: cents,
        agent: v.Tags?.find((t) => t.Key === 'AgentId')?.Value ?? null,
      });
    }
    token = out.NextToken;
  } while (token);
  return found;
}

/** Reservations still open this long after their approval belong to a process that died mid-call. */
const STALE_RESERVATION_MS = 60 * 60_000;

export function applyReconcile(store: Store, project: string, found: Found[]): ReconcileReport {
  return store.transaction(() => {
    const live = new Map(store.ledger.liveResources(project).map((r) => [r.arn, r]));
    const seen = new Set(found.map((f) => f.arn));
    const report: ReconcileReport = { project, released: [], adopted: [], staleReservations: [], agreed: 0 };
    // Only the kinds this scan reads can be judged gone.
    const scanned = (arn: string) => /^arn:aws[a-z-]*:ec2:[^:]+:\d+:(instance|volume)\//.test(arn);
    for (const arn of live.keys())
      if (scanned(arn) && !seen.has(arn)) {
        store.ledger.releaseResource(arn);
        report.released.push(arn);
      }
    for (const f of found) {
      if (live.has(f.arn)) {
        report.agreed++;
        continue;
      }
      // Missing from the ledger: it counts from now, priced or not (unpriced blocks new spending).
      store.ledger.adopt(project, f, f.agent);
      report.adopted.push({ arn: f.arn, description: f.description, usd_month: f.centsMonth === null ? null : f.centsMonth / 100 });
    }
    const cutoff = new Date(store.clock().getTime() - STALE_RESERVATION_MS).toISOString();
    for (const r of store.ledger.summary(project, 0).reservations)
      if (r.since < cutoff) {
        store.ledger.release(r.eventId, 'released by reconcile: no outcome within an hour');
        report.staleReservations.push(r.eventId);
      }
    return report;
  });
}
