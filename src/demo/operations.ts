// The demo's operations chapter: a prod promotion held for its deploy window and run by the worker at the window,
// unused resources found and reclaimed with a human's approval, drift found and repaired, backups verified.
import { PutMetricDataCommand, CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CreateVolumeCommand, EC2Client } from '@aws-sdk/client-ec2';
import { PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import type { ToolClient } from './tool-client.js';
import { loadPolicyFile } from '../policy/load.js';
import { approveAndRun } from '../registry/approve.js';
import { Store } from '../store/store.js';
import { toolNames } from '../tools/index.js';
import { Worker } from '../worker/worker.js';
import type { Expect, Script } from './script.js';
import { launchTagged } from './seed.js';

type Call = (
  client: ToolClient,
  agent: string,
  tool: string,
  args: Record<string, unknown>,
  expect: Expect,
) => Promise<Record<string, unknown> | undefined>;

/** A day name two days from now, for a prod window that is surely closed while the demo runs. */
export function closedWindow(now = new Date()): string {
  const day = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][(now.getUTCDay() + 2) % 7];
  return `[{ days: [${day}], start: "02:00", end: "04:00", time_zone: UTC }]`;
}

/** promote_site to prod outside its window → a job; the worker, fast-forwarded to the opening, runs it. */
export async function windowChapter(
  bot: ToolClient,
  call: Call,
  script: Script,
  p: { policyFile: string; dbFile: string },
  out: (s: string) => void,
): Promise<void> {
  const held = await call(bot, 'web-bot', 'promote_site', { site: 'shop' }, 'scheduled');
  const runAt = held?.run_at as string | undefined;
  if (!runAt) return;
  await call(bot, 'web-bot', 'get_job', { job_id: held?.job_id }, 'ok');
  out(
    `  a human sees it with \`wardenctl schedule list\`; \`aws-warden worker\` runs it at ${runAt} — the demo fast-forwards the worker's clock there`,
  );
  const store = Store.open(p.dbFile, { clock: () => new Date(Date.parse(runAt) + 60_000) });
  try {
    const pass = await new Worker(store, loadPolicyFile(p.policyFile, toolNames), 'demo:worker').runOnce();
    for (const r of pass.ran) out(`  worker ran ${r.job} (${r.tool}): ${r.state} — ${r.text.split('\n')[0]}`);
    const promoted = pass.ran.find((r) => r.job === held?.job_id);
    script.check(
      'the worker runs the held promotion',
      promoted?.state === 'done',
      `the promotion job ended "${promoted?.state ?? 'not run'}"`,
    );
  } finally {
    store.close();
  }
}

export async function operationsChapter(
  bot: ToolClient,
  call: Call,
  script: Script,
  p: { policyFile: string; dbFile: string; stagingBucket: string },
  out: (s: string) => void,
): Promise<void> {
  out('\n— unused resources: found with evidence, reclaimed only with a human —');
  const ec2 = new EC2Client({});
  const idle = (await launchTagged(ec2, { ProjectId: 'shop', AgentId: 'web-bot', ManagedBy: 'aws-warden', Name: 'forgotten-test-box' }))
    .split('/')
    .pop() as string;
  const cw = new CloudWatchClient({});
  const hours = Array.from({ length: 72 }, (_, k) => new Date(Date.now() - (k + 0.5) * 3_600_000));
  for (let i = 0; i < hours.length; i += 20)
    await cw.send(
      new PutMetricDataCommand({
        Namespace: 'AWS/EC2',
        MetricData: hours.slice(i, i + 20).map((t) => ({
          MetricName: 'CPUUtilization',
          Dimensions: [{ Name: 'InstanceId', Value: idle }],
          Timestamp: t,
          Value: 0.7,
          Unit: 'Percent',
        })),
      }),
    );
  const vol = await ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: 'us-east-1a',
      Size: 50,
      VolumeType: 'gp3',
      TagSpecifications: [
        {
          ResourceType: 'volume',
          Tags: [
            { Key: 'ProjectId', Value: 'shop' },
            { Key: 'Name', Value: 'old-export' },
          ],
        },
      ],
    }),
  );
  out(`  (seeded: ${idle} at 0.7% CPU for 72 h, and an unattached 50 GB volume ${vol.VolumeId})`);
  const unused = await call(bot, 'web-bot', 'find_unused_resources', {}, 'ok');
  const foundIds = ((unused?.resources as { id: string }[] | undefined) ?? []).map((r) => r.id);
  script.check(
    'find the seeded waste',
    [idle, vol.VolumeId].every((id) => foundIds.includes(id as string)),
    `found ${foundIds.join(', ') || 'nothing'}`,
  );
  const reclaim = await call(
    bot,
    'web-bot',
    'reclaim_resources',
    { ids: [vol.VolumeId, idle], reason: 'idle test box and an export volume nobody attached' },
    'pending',
  );
  const proposal = reclaim?.proposal_id as string | undefined;
  if (proposal) {
    const store = Store.open(p.dbFile);
    try {
      const done = await approveAndRun(store, loadPolicyFile(p.policyFile, toolNames), proposal, 'demo-human', 'ok to reclaim');
      script.check('reclaim with approval', done.proposal.state === 'executed', `the reclaim ended "${done.proposal.state}"`);
      out(
        `  a human runs: wardenctl proposals approve ${proposal} --yes → ${done.proposal.state}: ${JSON.stringify(done.result.reclaimed)}`,
      );
    } finally {
      store.close();
    }
  }

  out('\n— drift: someone suspends versioning on the staging bucket by hand —');
  await new S3Client({ forcePathStyle: true }).send(
    new PutBucketVersioningCommand({ Bucket: p.stagingBucket, VersioningConfiguration: { Status: 'Suspended' } }),
  );
  const found = await call(bot, 'web-bot', 'check_drift', {}, 'ok');
  const ids = ((found?.drift as { id: string; status: string }[] | undefined) ?? []).filter((d) => d.status === 'drifted').map((d) => d.id);
  script.check('find the drift', ids.length > 0, 'check_drift found no drift after versioning was suspended by hand');
  if (ids.length) await call(bot, 'web-bot', 'repair_drift', { ids }, 'ok');

  out('\n— backups: restore the live site into a scratch bucket and compare every hash —');
  const checked = await call(bot, 'web-bot', 'verify_backups', {}, 'ok');
  const failed = (
    (checked?.result as { results?: { subject: string; ok: boolean; failures: string[] }[] } | undefined)?.results ?? []
  ).filter((r) => !r.ok);
  for (const f of failed) out(`  ${f.subject}: ${f.failures.join('; ')} — humans were notified; \`wardenctl backups\` shows it`);
}
