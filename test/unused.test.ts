// find_unused_resources and reclaim_resources against moto: CloudWatch metrics put by the test make an instance idle;
// another project's idle instance is never listed or touched; reclaiming escalates unless tier and policy allow it.
import { idleMetrics as metrics } from './helpers/metrics.js';
import {
  AllocateAddressCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { launchTagged } from '../src/demo/seed.js';
import { approveAndRun } from '../src/registry/approve.js';
import { bucketName } from '../src/sites/bucket.js';
import { rawDb, Store } from '../src/store/store.js';
import { stoppedAt } from '../src/unused/find.js';
import { ACCOUNT, admin, call, connect, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

const idOf = (arn: string) => arn.split('/').pop() as string;

/** 72 hourly datapoints: CPU at `cpu` percent, 100 KB of network each way per hour. */

async function volume(tags: Record<string, string>, size = 10) {
  const out = await admin.ec2().send(
    new CreateVolumeCommand({
      AvailabilityZone: 'us-east-1a',
      Size: size,
      VolumeType: 'gp3',
      TagSpecifications: [{ ResourceType: 'volume', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
    }),
  );
  return out.VolumeId as string;
}

async function stateOf(id: string) {
  const out = await admin.ec2().send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return out.Reservations?.[0]?.Instances?.[0]?.State?.Name;
}

const ALLOW = `    unused: { stop_instead_of_terminate: false, unattended: { instance: ["*"], volume: [staging], address: ["*"] } }`;

describe('find_unused_resources', () => {
  it('finds an idle instance, an unattached volume and an idle Elastic IP with savings; a busy one and another project’s idle one are not listed', async () => {
    const w = world();
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const idle = idOf(await launchTagged(admin.ec2(), { ProjectId: w.project }));
    const busy = idOf(await launchTagged(admin.ec2(), { ProjectId: w.project }));
    const fresh = idOf(await launchTagged(admin.ec2(), { ProjectId: w.project }));
    const theirs = idOf(await launchTagged(admin.ec2(), { ProjectId: w.other }));
    await Promise.all([metrics(idle, 1.5), metrics(busy, 60), metrics(theirs, 0.5)]);
    const vol = await volume({ ProjectId: w.project });
    await volume({ ProjectId: w.other });
    const eip = await admin.ec2().send(
      new AllocateAddressCommand({
        Domain: 'vpc',
        TagSpecifications: [{ ResourceType: 'elastic-ip', Tags: [{ Key: 'ProjectId', Value: w.project }] }],
      }),
    );

    const r = await call(h.client, 'find_unused_resources', {});
    expect(r.isError, r.text).toBeFalsy();
    const found = r.structured as {
      resources: { id: string; type: string; saving_usd_month: number; evidence: string }[];
      not_judged: { id: string; why: string }[];
      total_saving_usd_month: number;
    };
    const byId = Object.fromEntries(found.resources.map((x) => [x.id, x]));
    expect(Object.keys(byId).sort()).toEqual([eip.AllocationId, idle, vol].sort());
    expect(byId[idle]).toMatchObject({ type: 'instance', saving_usd_month: 7.6 });
    expect(byId[idle].evidence).toMatch(/CPU 1\.5% average and 0\.\d+ MB\/h network over 72 h/);
    expect(byId[vol]).toMatchObject({ type: 'volume', saving_usd_month: 0.8 });
    expect(byId[eip.AllocationId as string]).toMatchObject({ type: 'address', saving_usd_month: 3.65 });
    expect(found.total_saving_usd_month).toBeCloseTo(12.05, 2);
    // An instance with no history is not called idle.
    expect(found.not_judged).toContainEqual({ id: fresh, why: '0 hourly CPU datapoints in the last 72 h (needs 65)' });
    expect(h.writes()).toEqual([]);
    // Every instance's three series in one batched GetMetricData call, not three GetMetricStatistics each.
    expect(h.sent.filter((c) => c.service === 'cloudwatch').map((c) => c.command)).toEqual(['GetMetricData']);
  });

  it('an instance stopped longer than stopped_days is listed with its volumes as the saving (clock injected)', async () => {
    const w = world();
    const id = idOf(await launchTagged(admin.ec2(), { ProjectId: w.project }));
    await admin.ec2().send(new StopInstancesCommand({ InstanceIds: [id] }));
    const now = await connect(w.policy, w.agent);
    open.push(now);
    const early = (await call(now.client, 'find_unused_resources', {})).structured as { resources: { id: string }[] };
    expect(early.resources.map((x) => x.id)).not.toContain(id);
    const later = await connect(w.policy, w.agent, {
      store: new Store(rawDb(Store.open(':memory:')), () => new Date(Date.now() + 20 * 86_400_000)),
    });
    open.push(later);
    const r = (await call(later.client, 'find_unused_resources', {})).structured as { resources: { id: string; evidence: string }[] };
    expect(r.resources.find((x) => x.id === id)?.evidence).toMatch(
      /^stopped since .* \(20 days, over 14\); its \d+ volume\(s\) still bill$/,
    );
  });

  it('parses the stop time AWS and moto write', () => {
    expect(stoppedAt('User initiated (2026-11-01 10:00:00 GMT)')?.toISOString()).toBe('2026-11-01T10:00:00.000Z');
    expect(stoppedAt('User initiated (2026-11-01 10:00:00 UTC)')?.toISOString()).toBe('2026-11-01T10:00:00.000Z');
    expect(stoppedAt('')).toBeNull();
  });
});

describe('reclaim_resources', () => {
  it('escalates by default: a proposal for a human, nothing deleted', async () => {
    const w = world();
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const vol = await volume({ ProjectId: w.project });
    const r = await call(h.client, 'reclaim_resources', { ids: [vol], reason: 'unattached for weeks' });
    expect(r.isError, r.text).toBeFalsy();
    expect(r.structured).toMatchObject({ status: 'pending_approval', decision: { outcome: 'escalate', classes: ['deletion'] } });
    expect(h.writes()).toEqual([]);
    const [p] = h.store.proposals.list({ state: 'pending' });
    expect(p).toMatchObject({ tool: 'reclaim_resources', reason: 'unattached for weeks' });
  });

  it('where tier and policy allow it: terminates and deletes exactly those ids, snapshot first, savings released', async () => {
    const w = world({ projectYaml: ALLOW, limits: '{ reclaim_unattended: true }' });
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const idle = idOf(await launchTagged(admin.ec2(), { ProjectId: w.project }, undefined, { volumes: true }));
    const bystander = idOf(await launchTagged(admin.ec2(), { ProjectId: w.project }));
    await Promise.all([metrics(idle, 0.5), metrics(bystander, 0.5)]);
    const vol = await volume({ ProjectId: w.project, Environment: 'staging' });
    const region = 'us-east-1';
    h.store.ledger.settle(null, w.project, w.agent, {
      add: [{ arn: `arn:aws:ec2:${region}:123456789012:instance/${idle}`, description: 't3.micro', hourlyUsd: 0.0104, centsMonth: 760 }],
      remove: [],
    });

    const r = await call(h.client, 'reclaim_resources', { ids: [idle, vol], reason: 'idle for 3 days' });
    expect(r.isError, r.text).toBeFalsy();
    const out = r.structured as {
      status: string;
      result: { reclaimed: { id: string; action: string; snapshots: { snapshot_id: string; volume: string }[] }[] };
    };
    expect(out.status).toBe('executed');
    expect(out.result.reclaimed.map((x) => [x.id, x.action])).toEqual([
      [idle, 'terminated'],
      [vol, 'deleted'],
    ]);
    expect(await stateOf(idle)).toMatch(/shutting-down|terminated/);
    expect(await stateOf(bystander)).toBe('running');
    expect((await admin.ec2().send(new DescribeVolumesCommand({ Filters: [{ Name: 'volume-id', Values: [vol] }] }))).Volumes).toEqual([]);
    const snap = out.result.reclaimed[1].snapshots[0];
    const snaps = await admin.ec2().send(new DescribeSnapshotsCommand({ SnapshotIds: [snap.snapshot_id] }));
    expect(snaps.Snapshots?.[0]).toMatchObject({ VolumeId: vol });
    expect(snaps.Snapshots?.[0]?.Tags).toContainEqual({ Key: 'ProjectId', Value: w.project });
    const held = h.store.ledger.summary(w.project, 10_000).byResource.map((x) => x.arn);
    expect(held.some((a) => a.endsWith(idle))).toBe(false);
    expect(held.some((a) => a.includes(snap.snapshot_id))).toBe(true);
    // The terminated instance's own volumes were snapshotted first too (terminating deletes its root volume).
    const rootVolumes = out.result.reclaimed[0].snapshots.map((x) => x.volume);
    expect(rootVolumes.length).toBeGreaterThan(0);
    expect(h.writes().map((c) => c.command)).toEqual([
      ...rootVolumes.map(() => 'CreateSnapshot'),
      'TerminateInstances',
      'CreateSnapshot',
      'DeleteVolume',
    ]);
  });

  it('a volume in an environment the policy does not list for unattended reclaim still escalates', async () => {
    const w = world({ projectYaml: ALLOW, limits: '{ reclaim_unattended: true }' });
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const vol = await volume({ ProjectId: w.project, Environment: 'prod' });
    const r = await call(h.client, 'reclaim_resources', { ids: [vol], reason: 'an old export volume' });
    expect(r.structured).toMatchObject({ status: 'pending_approval' });
    expect(h.writes()).toEqual([]);
  });

  it('another project’s resource is refused by the ownership rule; an owned one in use is refused; nothing is touched', async () => {
    const w = world({ projectYaml: ALLOW, limits: '{ reclaim_unattended: true }' });
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const theirs = await volume({ ProjectId: w.other });
    const mine = await volume({ ProjectId: w.project });
    const r = await call(h.client, 'reclaim_resources', { ids: [mine, theirs], reason: 'cleanup of leftovers' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/denied by the ownership rule/);
    const busy = idOf(await launchTagged(admin.ec2(), { ProjectId: w.project }));
    await metrics(busy, 80);
    const inUse = await call(h.client, 'reclaim_resources', { ids: [busy], reason: 'cleanup of leftovers' });
    expect(inUse.text).toMatch(new RegExp(`ids: ${busy} is owned by ${w.project} but not unused now`));
    const bad = await call(h.client, 'reclaim_resources', { ids: ['Not/AnId', mine, mine], reason: 'short' });
    expect(bad.text).toMatch(/ids\.0: must be an instance .*; ids: ids must not repeat; reason: say why in at least 10 characters/);
    expect(h.writes()).toEqual([]);
    expect(await stateOf(busy)).toBe('running');
  });

  it('an idle instance of a declared service is never reclaimed: its capacity is scale_service’s', async () => {
    const w = world({
      projectYaml: `${ALLOW}
    services:
      web: { image_id: ami-12c6146b, instance_types: [t3.micro], max: 2 }`,
      limits: '{ reclaim_unattended: true }',
    });
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const member = idOf(await launchTagged(admin.ec2(), { ProjectId: w.project, Service: 'web' }));
    await metrics(member, 0.1);
    const found = (await call(h.client, 'find_unused_resources', {})).structured as { resources: { id: string }[] };
    expect(found.resources.map((r) => r.id)).not.toContain(member);
    const r = await call(h.client, 'reclaim_resources', { ids: [member], reason: 'idle for three days' });
    expect(r.text).toMatch(
      new RegExp(
        `ids: ${member} is owned by ${w.project} but not unused now \\(part of service web: change its capacity with scale_service\\)`,
      ),
    );
    expect(h.writes()).toEqual([]);
  });

  it('a site environment with no deploy in site_idle_days is listed; reclaiming its bucket always needs a human, who empties and deletes it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'warden-unused-site-'));
    writeFileSync(join(root, 'index.html'), 'old campaign');
    const w = world({
      projectYaml: `${ALLOW}\n    sites: { roots: ["${root}"], health_timeout_seconds: 2 }`,
      limits: '{ reclaim_unattended: true }',
    });
    w.policy.projects[w.project].approver_role_arn = `arn:aws:iam::123456789012:role/${w.project}-approver`;
    const clock = { now: Date.now() };
    const h = await connect(w.policy, w.agent, { store: Store.open(':memory:', { clock: () => new Date(clock.now) }) });
    open.push(h);
    const deployed = await call(h.client, 'deploy_static_site', { site: 'promo', source_dir: root, environment: 'staging' });
    expect(deployed.isError, deployed.text).toBeFalsy();
    const bucket = bucketName(ACCOUNT, w.project, 'promo', 'staging');
    const fresh = (await call(h.client, 'find_unused_resources', {})).structured as { resources: { id: string }[] };
    expect(fresh.resources.map((r) => r.id)).not.toContain(bucket);
    clock.now += 61 * 86_400_000;
    const writes = h.writes().length;
    const found = (await call(h.client, 'find_unused_resources', {})).structured as {
      resources: { id: string; type: string; evidence: string }[];
    };
    expect(found.resources.find((r) => r.id === bucket)).toMatchObject({
      type: 'site_bucket',
      evidence: expect.stringMatching(/^site promo \(staging\): last deploy \S+, 61 days ago \(over 60\)/),
    });
    const r = await call(h.client, 'reclaim_resources', { ids: [bucket], reason: 'the promo ended in the summer' });
    expect(r.structured).toMatchObject({ status: 'pending_approval', decision: { classes: ['deletion'] } });
    expect(h.writes().length).toBe(writes);
    const done = await approveAndRun(h.store, w.policy, r.structured?.proposal_id as string, 'ann', null);
    expect(done.result).toMatchObject({ reclaimed: [{ id: bucket, type: 'site_bucket', action: 'deleted' }] });
    const buckets = ((await admin.s3().send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name);
    expect(buckets).not.toContain(bucket);
    expect(h.store.desired.list(w.project).filter((d) => d.resource.endsWith(bucket))).toEqual([]);
  });
});
