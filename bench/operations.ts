// Operations figures: deploy-window arithmetic, an idle worker pass, check_drift against the bare reads it needs,
// and find_unused_resources over instances with metrics.
import { CloudWatchClient, GetMetricDataCommand, GetMetricStatisticsCommand, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CreateTagsCommand, DescribeTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { launchTagged } from '../src/demo/seed.js';
import { parsePolicy } from '../src/policy/load.js';
import type { Policy } from '../src/policy/schema.js';
import type { Store } from '../src/store/store.js';
import { toolNames } from '../src/tools/index.js';
import { isOpen, nextOpening } from '../src/guard/windows.js';
import { Worker } from '../src/worker/worker.js';
import { ms, time } from './stats.js';

type InProcess = (policy: Policy, agentId: string) => Promise<{ client: Client; store: Store }>;

export async function operationsBench(inProcess: InProcess, out: (s: string) => void): Promise<void> {
  const policy = parsePolicy(
    `version: 1
projects:
  ops:
    budget_usd_month: 100
    windows: { prod: [{ days: [sat], start: "02:00", end: "03:00", time_zone: Europe/Berlin }] }
    operations: { agent: ops-bot }
tiers: { operator: { tools: [check_drift, tag_resource, find_unused_resources] } }
agents: { ops-bot: { project: ops, tier: operator, role_arn: "arn:aws:iam::123456789012:role/ops-bot" } }
rate_limits: { calls_per_minute: 100000, mutating_calls_per_hour: 100000, concurrent_calls: 1000 }
`,
    'bench.yaml',
    toolNames,
  );
  const ranges = policy.projects.ops.windows.prod;
  // Sunday just after the window closed: the next opening is ~7 days of minutes away, the worst case.
  const sunday = new Date('2026-11-29T02:30:00Z');
  const w = await time(200, 20, async () => nextOpening(ranges, sunday));
  const o = await time(2000, 100, async () => isOpen(ranges, sunday));
  out(`deploy windows: nextOpening 7 days ahead (worst case) median ${ms(w.median)} p99 ${ms(w.p99)}; isOpen median ${ms(o.median)}`);

  const { client, store } = await inProcess(policy, 'ops-bot');
  const worker = new Worker(store, policy, 'bench:1');
  const pass = await time(200, 20, () => worker.runOnce());
  out(`worker pass with nothing due (expiries, orphans, periodic check, due query): median ${ms(pass.median)} p99 ${ms(pass.p99)}`);

  const N = 50;
  const ec2 = new EC2Client({});
  const arns: string[] = [];
  for (let i = 0; i < N; i++) arns.push(await launchTagged(ec2, { ProjectId: 'ops', Name: `d${i}` }));
  for (const arn of arns) await client.callTool({ name: 'tag_resource', arguments: { resource_arn: arn, set: { Owner: 'ops' } } });
  await ec2.send(new CreateTagsCommand({ Resources: [arns[0].split('/').pop() as string], Tags: [{ Key: 'Owner', Value: 'someone' }] }));
  const ids = arns.map((a) => a.split('/').pop() as string);
  const guarded = await time(10, 2, () => client.callTool({ name: 'check_drift', arguments: {} }));
  const bare = await time(10, 2, async () => {
    for (const id of ids) await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [id] }] }));
  });
  out(
    `check_drift over ${N} managed tag sets (1 drifted): guarded ${ms(guarded.median)} vs bare DescribeTags each ${ms(bare.median)} (medians), ratio ${(guarded.median / bare.median).toFixed(2)}×`,
  );

  // 72 hourly datapoints of CPU and network for each instance, then the finder over all of them.
  const cw = new CloudWatchClient({});
  const hours = Array.from({ length: 72 }, (_, k) => new Date(Date.now() - (k + 0.5) * 3_600_000));
  for (const id of ids)
    for (let k = 0; k < hours.length; k += 20) {
      const dims = [{ Name: 'InstanceId', Value: id }];
      await cw.send(
        new PutMetricDataCommand({
          Namespace: 'AWS/EC2',
          MetricData: hours
            .slice(k, k + 20)
            .flatMap((t) =>
              ['CPUUtilization', 'NetworkIn', 'NetworkOut'].map((m) => ({ MetricName: m, Dimensions: dims, Timestamp: t, Value: 1 })),
            ),
        }),
      );
    }
  const find = await time(5, 1, () => client.callTool({ name: 'find_unused_resources', arguments: {} }));
  // Its twins in the same run: the same batched GetMetricData the finder sends, and the old way (three
  // GetMetricStatistics per instance, eight at a time). moto's GetMetricData scans every datapoint for every query
  // and period, so on the emulator the batch is slower than the many small calls; on CloudWatch it is one request.
  const start = new Date(Date.now() - 72 * 3_600_000);
  const metrics = [
    ['CPUUtilization', 'Average'],
    ['NetworkIn', 'Sum'],
    ['NetworkOut', 'Sum'],
  ] as const;
  const batch = await time(3, 0, () =>
    cw.send(
      new GetMetricDataCommand({
        StartTime: start,
        EndTime: new Date(),
        MetricDataQueries: ids.flatMap((id, n) =>
          metrics.map(([m, stat], j) => ({
            Id: `q${n}_${j}`,
            MetricStat: {
              Metric: { Namespace: 'AWS/EC2', MetricName: m, Dimensions: [{ Name: 'InstanceId', Value: id }] },
              Period: 3600,
              Stat: stat,
            },
          })),
        ),
      }),
    ),
  );
  const each = await time(3, 0, async () => {
    for (let k = 0; k < ids.length; k += 8)
      await Promise.all(
        ids.slice(k, k + 8).flatMap((id) =>
          metrics.map(([m, stat]) =>
            cw.send(
              new GetMetricStatisticsCommand({
                Namespace: 'AWS/EC2',
                MetricName: m,
                Dimensions: [{ Name: 'InstanceId', Value: id }],
                StartTime: start,
                EndTime: new Date(),
                Period: 3600,
                Statistics: [stat],
              }),
            ),
          ),
        ),
      );
  });
  out(
    `find_unused_resources over ${N} running instances with 72 h of metrics (one batched GetMetricData): median ${ms(find.median)}; bare GetMetricData of the same ${ids.length * 3} queries ${ms(batch.median)} (ratio ${(find.median / batch.median).toFixed(2)}×); the old way, ${ids.length * 3} GetMetricStatistics 8 instances at a time, ${ms(each.median)}`,
  );
  store.close();
}
