// Puts 72 hours of hourly EC2 metrics for an instance into the emulator's CloudWatch, as an idle (or busy) instance would have.
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';

export async function idleMetrics(instanceId: string, cpu: number) {
  const cw = new CloudWatchClient({});
  const now = Date.now();
  const points = Array.from({ length: 72 }, (_, k) => new Date(now - (k + 0.5) * 3_600_000));
  for (let i = 0; i < points.length; i += 20) {
    const chunk = points.slice(i, i + 20);
    const dims = [{ Name: 'InstanceId', Value: instanceId }];
    await cw.send(
      new PutMetricDataCommand({
        Namespace: 'AWS/EC2',
        MetricData: chunk.map((t) => ({ MetricName: 'CPUUtilization', Dimensions: dims, Timestamp: t, Value: cpu, Unit: 'Percent' })),
      }),
    );
    await cw.send(
      new PutMetricDataCommand({
        Namespace: 'AWS/EC2',
        MetricData: chunk.flatMap((t) =>
          ['NetworkIn', 'NetworkOut'].map((m) => ({
            MetricName: m,
            Dimensions: dims,
            Timestamp: t,
            Value: 100_000,
            Unit: 'Bytes' as const,
          })),
        ),
      }),
    );
  }
}
