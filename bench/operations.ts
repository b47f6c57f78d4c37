// Operations figures: deploy-window arithmetic, an idle worker pass, check_drift against the bare reads it needs,
// and find_unused_resources over instances with metrics.
import { CreateTagsCommand, DescribeTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { Client } from '@modelcontextprotocol/client';
import { launchTagged } from '../src/demo/seed.js';
import { parsePolicy } from '../src/policy/load.js';
import type { Policy } from '../src/policy/schema.js';
import type { Store } from '../src/store/store.js';
import { toolNames } from '../src/tools/index.js';
import { isOpen, nextOpening } from '../src/guard/windows.js';
import { Worker } from '../src/worker/worker.js';
import { ms, time } from './stats.js';
import { unusedBench } from './unused.js';

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

  await unusedBench(client, ids, out);
  // The 500-instance row: moto's GetMetricData scans every datapoint for every query, so it takes many minutes there.
  const large = Number(process.env.BENCH_UNUSED_LARGE ?? 0);
  if (large > N) {
    for (let i = N; i < large; i++) ids.push((await launchTagged(ec2, { ProjectId: 'ops', Name: `d${i}` })).split('/').pop() as string);
    await unusedBench(client, ids, out);
  } else out(`find_unused_resources over 500 instances: BENCH_UNUSED_LARGE=500 BENCH_ONLY=operations npm run bench (minutes on moto)`);
  store.close();
}
