// find_unused_resources over instances with 72 h of metrics, beside its twins in the same run: the same batched
// GetMetricData the finder sends, and the old way (three GetMetricStatistics per instance, eight at a time).
import { CloudWatchClient, GetMetricDataCommand, GetMetricStatisticsCommand, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type { Client } from '@modelcontextprotocol/client';
import { ms, time } from './stats.js';

const seeded = new Set<string>();

export async function unusedBench(client: Client, ids: string[], out: (s: string) => void): Promise<void> {
  const N = ids.length;
  // 72 hourly datapoints of CPU and network for each instance, then the finder over all of them.
  const cw = new CloudWatchClient({});
  const hours = Array.from({ length: 72 }, (_, k) => new Date(Date.now() - (k + 0.5) * 3_600_000));
  for (const id of ids.filter((x) => !seeded.has(x) && seeded.add(x)))
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
  // 500 queries a call, as the finder sends them.
  const queries = ids.flatMap((id, n) =>
    metrics.map(([m, stat], j) => ({
      Id: `q${n}_${j}`,
      MetricStat: {
        Metric: { Namespace: 'AWS/EC2', MetricName: m, Dimensions: [{ Name: 'InstanceId', Value: id }] },
        Period: 3600,
        Stat: stat,
      },
    })),
  );
  const batch = await time(3, 0, async () => {
    for (let k = 0; k < queries.length; k += 500)
      await cw.send(new GetMetricDataCommand({ StartTime: start, EndTime: new Date(), MetricDataQueries: queries.slice(k, k + 500) }));
  });
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
}
