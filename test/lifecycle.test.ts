// One lifecycle, by construction: ownership re-read where the write happens, the approved plan is the plan that runs
// even when the policy moved, and every entry point takes the tool's lock.
import {
  CreateSecurityGroupCommand,
  TerminateInstancesCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { GetBucketTaggingCommand, ListObjectVersionsCommand, PutBucketTaggingCommand } from '@aws-sdk/client-s3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { anyImageId } from '../src/demo/seed.js';
import { parsePolicy } from '../src/policy/load.js';
import { approveAndRun } from '../src/registry/approve.js';
import { allTools, toolNames } from '../src/tools/index.js';
import type { ToolContext, ToolSpec } from '../src/tools/tool.js';
import { admin, call, connect, world, type Harness } from './helpers/harness.js';
import { idleMetrics } from './helpers/metrics.js';
import { SITE } from './helpers/samples.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

const APPROVER = '    approver_role_arn: "arn:aws:iam::123456789012:role/approver"';
const spec = (name: string) => allTools.find((t) => t.name === name) as ToolSpec;

/** The registered tool, but something happens in the world after its plan was made and before its executor runs. */
function meanwhile(name: string, before: (plan: Parameters<ToolSpec['execute']>[0], ctx: ToolContext) => Promise<void>): ToolSpec {
  const real = spec(name);
  return {
    ...real,
    async execute(plan, args, ctx) {
      await before(plan, ctx);
      return real.execute(plan, args, ctx);
    },
  };
}

async function worldWith(yaml: string, replaced: ToolSpec[] = [], opts: { limits?: string } = {}) {
  const img = await anyImageId(admin.ec2());
  const w = world({
    limits: opts.limits,
    projectYaml: `${APPROVER}
    services:
      web: { image_id: ${img}, instance_types: [t3.micro, t3.small], max: 6, escalate_over_limits: true, health: { timeout_seconds: 5, poll_seconds: 0.2 } }
    sites: { roots: ["${join(SITE, '..')}"], soak_minutes: 0 }
${yaml}`,
  });
  const tools = allTools.map((t) => replaced.find((r) => r.name === t.name) ?? t);
  const h = await connect(w.policy, w.agent, { tools });
  open.push(h);
  return { w, h, tools };
}

/** Hands an EC2 resource to another project behind aws-warden's back (a human's retagging). */
const handOver = (id: string, to: string) =>
  admin.ec2().send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'ProjectId', Value: to }] }));
async function handOverBucket(bucket: string, to: string) {
  const tags = (await admin.s3().send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet ?? [];
  await admin.s3().send(
    new PutBucketTaggingCommand({
      Bucket: bucket,
      Tagging: { TagSet: [...tags.filter((t) => t.Key !== 'ProjectId'), { Key: 'ProjectId', Value: to }] },
    }),
  );
}

async function running(project: string) {
  const out = await admin.ec2().send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: 'tag:ProjectId', Values: [project] },
        { Name: 'instance-state-name', Values: ['pending', 'running'] },
      ],
    }),
  );
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}
const stateOf = async (id: string) =>
  (await admin.ec2().send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name;

describe('a resource handed to another project between planning and execution is not mutated', () => {
  it('scale-in: the instance to terminate is not terminated; the call says why and is not the agent’s health failure', async () => {
    let other = '';
    const { w, h } = await worldWith('', [
      meanwhile('scale_service', async (plan) => {
        const p = plan.params as { terminate: { id: string }[] };
        if (p.terminate.length) await handOver(p.terminate[0].id, other);
      }),
    ]);
    other = w.other;
    expect((await call(h.client, 'scale_service', { service: 'web', desired_count: 1, instance_type: 't3.micro' })).isError).toBeFalsy();
    const [victim] = (await running(w.project)).map((i) => i.InstanceId as string);
    const r = await call(h.client, 'scale_service', { service: 'web', desired_count: 0 });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(
      new RegExp(
        `TerminateInstances refused by the AWS layer: ${victim} is not owned by ${w.project} now \\(ProjectId is "${w.other}"\\); it was not touched`,
      ),
    );
    expect(await stateOf(victim)).toBe('running');
    expect(h.writes().map((c) => c.command)).toEqual(['RunInstances']);
    const last = h.audit.tail({ limit: 1 })[0];
    expect(last.kind).toBe('rolled_back');
    expect(JSON.parse(last.decision ?? '{}')).toMatchObject({ stage: 'ownership' });
  });

  it('rolling replacement: the new instances are undone and the old ones, one handed over, are both left running', async () => {
    let other = '';
    const { w, h } = await worldWith('', [
      meanwhile('scale_service', async (plan) => {
        const p = plan.params as { terminate: { id: string }[]; launch: number };
        if (p.terminate.length && p.launch) await handOver(p.terminate[0].id, other);
      }),
    ]);
    other = w.other;
    await call(h.client, 'scale_service', { service: 'web', desired_count: 2, instance_type: 't3.micro' });
    const old = (await running(w.project)).map((i) => i.InstanceId as string);
    const r = await call(h.client, 'scale_service', { service: 'web', desired_count: 2, instance_type: 't3.small' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/stopped before terminating: .* is not owned by .* now .*; rolled back: terminated i-/);
    for (const id of old) expect(await stateOf(id)).toBe('running');
    expect((await running(w.project)).map((i) => i.InstanceType)).toEqual(['t3.micro']); // the one still ours; the new t3.small ones are gone
  });

  it('promote_site: a staging bucket handed over is not copied from; prod gets nothing', async () => {
    let other = '';
    const { w, h } = await worldWith('', [
      meanwhile('promote_site', async (plan) => {
        const p = plan.params as { copies: { sourceBucket: string }[] };
        await handOverBucket(p.copies[0].sourceBucket, other);
      }),
    ]);
    other = w.other;
    expect((await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: SITE, environment: 'staging' })).isError).toBeFalsy();
    const r = await call(h.client, 'promote_site', { site: 'shop' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(new RegExp(`CopyObject refused by the AWS layer: .*staging.* is not owned by ${w.project} now`));
    expect(h.writes().filter((c) => c.command === 'CopyObject')).toEqual([]);
  });

  it('promote_site: a prod bucket handed over is not written at all', async () => {
    let other = '';
    let armed = false;
    const { w, h } = await worldWith('', [
      meanwhile('promote_site', async (plan) => {
        if (armed) await handOverBucket((plan.params as { bucket: string }).bucket, other);
      }),
    ]);
    other = w.other;
    await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: SITE, environment: 'staging' });
    expect((await call(h.client, 'promote_site', { site: 'shop' })).isError).toBeFalsy();
    const prod = (h.audit.tail({ limit: 1 })[0].result ?? '').match(/"bucket":"([^"]+)"/)?.[1] as string;
    const versions = async () => ((await admin.s3().send(new ListObjectVersionsCommand({ Bucket: prod }))).Versions ?? []).length;
    const before = await versions();
    writeFileSync(join(SITE, 'extra.txt'), `changed ${Date.now()}`);
    await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: SITE, environment: 'staging' });
    armed = true;
    h.sent.length = 0;
    const r = await call(h.client, 'promote_site', { site: 'shop' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(
      new RegExp(`refused by the AWS layer: ${prod} is not owned by ${w.project} now \\(ProjectId is "${w.other}"\\)`),
    );
    expect(h.writes()).toEqual([]);
    expect(await versions()).toBe(before);
  });

  it('reclaim_resources (approved by a human): a volume and an instance handed over are not touched, nothing is reclaimed', async () => {
    let other = '';
    let target = '';
    const { w, h, tools } = await worldWith(`    unused: { stop_instead_of_terminate: false }`, [
      meanwhile('reclaim_resources', async () => void (await handOver(target, other))),
    ]);
    other = w.other;
    const volume = (
      await admin.ec2().send(
        new CreateVolumeCommand({
          AvailabilityZone: 'us-east-1a',
          Size: 1,
          TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'ProjectId', Value: w.project }] }],
        }),
      )
    ).VolumeId as string;
    const { launchTagged } = await import('../src/demo/seed.js');
    const instance = (await launchTagged(admin.ec2(), { ProjectId: w.project }, undefined, { volumes: true })).split('/').pop() as string;
    await idleMetrics(instance, 0.5);
    for (const [id, alive] of [
      [volume, async () => ((await admin.ec2().send(new DescribeVolumesCommand({ VolumeIds: [volume] }))).Volumes ?? []).length === 1],
      [instance, async () => (await stateOf(instance)) === 'running'],
    ] as const) {
      target = id;
      const asked = await call(h.client, 'reclaim_resources', { ids: [id], reason: 'idle for three days now' });
      expect(asked.structured?.status, asked.text).toBe('pending_approval');
      const sent: string[] = [];
      await expect(
        approveAndRun(h.store, w.policy, asked.structured?.proposal_id as string, 'ann', null, {
          tools,
          observe: (c) => c.mutating && sent.push(c.command),
        }),
      ).rejects.toThrow(new RegExp(`${id} is not owned by ${w.project} now \\(ProjectId is "${w.other}"\\); nothing was reclaimed`));
      expect(sent).toEqual([]);
      expect(await alive()).toBe(true);
    }
  });

  it('an approved security-group change: a group handed over is not changed', async () => {
    let other = '';
    const { w, h, tools } = await worldWith('', [
      meanwhile(
        'propose_security_change',
        async (plan) => void (await handOver((plan.params as { steps: { group: string }[] }).steps[0].group, other)),
      ),
    ]);
    other = w.other;
    const sg = (
      await admin.ec2().send(
        new CreateSecurityGroupCommand({
          GroupName: `sg-${w.project}`,
          Description: 'test',
          TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'ProjectId', Value: w.project }] }],
        }),
      )
    ).GroupId as string;
    const asked = await call(h.client, 'propose_security_change', {
      security_group: sg,
      add: [{ protocol: 'tcp', from_port: 443, to_port: 443, cidr: '0.0.0.0/0' }],
      reason: 'serve https to everyone',
    });
    await expect(approveAndRun(h.store, w.policy, asked.structured?.proposal_id as string, 'ann', null, { tools })).rejects.toThrow(
      new RegExp(`AuthorizeSecurityGroupIngress refused by the AWS layer: ${sg} is not owned by ${w.project} now`),
    );
    const rules = (await admin.ec2().send(new DescribeSecurityGroupsCommand({ GroupIds: [sg] }))).SecurityGroups?.[0]?.IpPermissions ?? [];
    expect(rules).toEqual([]);
  });
});

describe('the approved plan is the plan that runs', () => {
  it('a service definition changed between proposal and approval: the proposal is stale, nothing launches', async () => {
    const { w, h } = await worldWith('', [], { limits: '{ max_instances_per_service: 1 }' });
    const asked = await call(h.client, 'scale_service', { service: 'web', desired_count: 2, instance_type: 't3.micro' });
    expect(asked.structured?.status, asked.text).toBe('pending_approval');
    const planned = (asked.structured?.plan as { params: { launchSpec: { securityGroupIds: string[] } } }).params.launchSpec;
    expect(planned.securityGroupIds).toEqual([]);
    // A human edits the service: it should now launch into a security group. The proposal showed none.
    const sg = (await admin.ec2().send(new CreateSecurityGroupCommand({ GroupName: `moved-${w.project}`, Description: 'x' })))
      .GroupId as string;
    const edited = parsePolicy(
      w.yaml.replace('escalate_over_limits: true,', `escalate_over_limits: true, security_group_ids: [${sg}],`),
      'policy.yaml',
      toolNames,
    );
    expect(edited.projects[w.project].services.web.security_group_ids).toEqual([sg]);
    const sent: string[] = [];
    await expect(
      approveAndRun(h.store, edited, asked.structured?.proposal_id as string, 'ann', null, {
        observe: (c) => c.mutating && sent.push(c.command),
      }),
    ).rejects.toThrow(/is stale and was not run: .*params\.launchSpec\.securityGroupIds/);
    expect(sent).toEqual([]);
    expect(await running(w.project)).toEqual([]);
    expect(h.store.proposals.get(asked.structured?.proposal_id as string)?.state).toBe('stale');
  });
});

describe('every entry point takes the tool’s lock', () => {
  it('a human approving a scale_service proposal races the agent’s own scale_service: the service ends at one of the two asks', async () => {
    const { w, h } = await worldWith('', [], { limits: '{ max_instances_per_service: 1 }' });
    const asked = await call(h.client, 'scale_service', { service: 'web', desired_count: 3, instance_type: 't3.micro' });
    expect(asked.structured?.status, asked.text).toBe('pending_approval');
    const [approval, agent] = await Promise.allSettled([
      approveAndRun(h.store, w.policy, asked.structured?.proposal_id as string, 'ann', null),
      call(h.client, 'scale_service', { service: 'web', desired_count: 1, instance_type: 't3.micro' }),
    ]);
    expect(agent.status === 'fulfilled' && !agent.value.isError, JSON.stringify(agent)).toBe(true);
    const count = (await running(w.project)).length;
    // Whichever ran second saw the first one's result: approval first → 3, then the agent's 1; agent first → the
    // approval re-plans under the lock, finds the service moved and is refused as stale. Never 1 + 3 = 4, never 2.
    expect(count).toBe(1);
    if (approval.status === 'rejected') expect(String(approval.reason)).toMatch(/is stale and was not run/);
    const writes = h.audit.tail({ limit: 30 }).filter((e) => e.kind === 'executed' && e.tool === 'scale_service');
    expect(writes.length).toBe(approval.status === 'fulfilled' ? 2 : 1);
  });

  it('drift repair of a service takes scale_service’s lock for that service', async () => {
    let released = false;
    let executedWhileHeld: boolean | null = null;
    let signal: (what: 'waiting' | 'executing') => void = () => {};
    const progressed = () => new Promise<'waiting' | 'executing'>((resolve) => (signal = resolve));
    const real = spec('repair_drift');
    const watched: ToolSpec = {
      ...real,
      async execute(plan, args, ctx) {
        executedWhileHeld ??= !released;
        signal('executing');
        return real.execute(plan, args, ctx);
      },
    };
    const { w, h } = await worldWith('', [watched]);
    await call(h.client, 'scale_service', { service: 'web', desired_count: 1, instance_type: 't3.micro' });
    const [i] = await running(w.project);
    await admin.ec2().send(new TerminateInstancesCommand({ InstanceIds: [i.InstanceId as string] }));
    const drift = await call(h.client, 'check_drift', {});
    const id = (drift.structured as { drift: { id: string; aspect: string }[] }).drift.find((d) => d.aspect === 'service')?.id;
    expect(id, drift.text).toBeDefined();
    const dry = await call(h.client, 'repair_drift', { ids: [id], dry_run: true });
    expect(dry.structured?.plan).toMatchObject({ locks: [`service:${w.project}:web`] });
    // Another change holds the service: the repair must wait for it, not scale beside it.
    const key = `service:${w.project}:web`;
    const holder = h.store.locks.tryAcquire(key, 60_000) as string;
    const release = () => ((released = true), h.store.locks.release(key, holder));
    const tryAcquire = h.store.locks.tryAcquire.bind(h.store.locks);
    h.store.locks.tryAcquire = (k, ttl) => {
      const got = tryAcquire(k, ttl);
      if (k === key && !got) signal('waiting');
      return got;
    };
    const next = progressed();
    const repair = call(h.client, 'repair_drift', { ids: [id] });
    expect(await next).toBe('waiting');
    release();
    const done = await repair;
    expect(done.isError, done.text).toBeFalsy();
    expect(executedWhileHeld).toBe(false);
    expect(await running(w.project)).toHaveLength(1);
  });
});
