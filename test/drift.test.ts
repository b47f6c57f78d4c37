// Drift against moto: desired state recorded by executions, differences made by the test with the SDK directly,
// repairs through the guard (security groups as proposals), unowned resources reported and refused.
import { AuthorizeSecurityGroupIngressCommand, DescribeSecurityGroupsCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { GetBucketVersioningCommand, PutBucketTaggingCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { anyImageId } from '../src/demo/seed.js';
import { approveAndRun } from '../src/registry/approve.js';
import { bucketName } from '../src/sites/bucket.js';
import { ACCOUNT, admin, call, connect, world, type Harness } from './helpers/harness.js';
import { ownedGroup } from './helpers/samples.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

type Drift = { id: string; resource: string; aspect: string; status: string; differences: string[]; changed_by: string };
const drift = async (h: Harness) => {
  const r = await call(h.client, 'check_drift', {});
  expect(r.isError, r.text).toBeFalsy();
  return (r.structured as { drift: Drift[] }).drift;
};

async function siteWorld() {
  const root = mkdtempSync(join(tmpdir(), 'warden-drift-'));
  writeFileSync(join(root, 'index.html'), '<h1>hi</h1>');
  const w = world({ projectYaml: `    sites: { roots: ["${root}"], health_timeout_seconds: 2 }` });
  const h = await connect(w.policy, w.agent);
  open.push(h);
  const r = await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: root, environment: 'staging' });
  expect(r.isError, r.text).toBeFalsy();
  return { w, h, bucket: bucketName(ACCOUNT, w.project, 'shop', 'staging') };
}

describe('check_drift and repair_drift', () => {
  it('a bucket whose versioning was suspended shows as drift and is repaired through the guard', async () => {
    const { h, bucket } = await siteWorld();
    expect(await drift(h)).toEqual([]);
    await admin.s3().send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Suspended' } }));
    const [d, ...rest] = await drift(h);
    expect(rest).toEqual([]);
    expect(d).toMatchObject({
      resource: `arn:aws:s3:::${bucket}`,
      aspect: 'bucket_versioning',
      status: 'drifted',
      differences: ['versioning: "Suspended", desired "Enabled"'],
    });
    expect(d.changed_by).toMatch(/^outside aws-warden/);
    const r = await call(h.client, 'repair_drift', { ids: [d.id] });
    expect(r.isError, r.text).toBeFalsy();
    expect(r.structured).toMatchObject({
      status: 'executed',
      result: { repaired: [{ id: d.id, aspect: 'bucket_versioning', actions: ['s3:PutBucketVersioning'] }] },
    });
    expect((await admin.s3().send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBe('Enabled');
    expect(h.audit.tail({ limit: 3 }).map((e) => [e.tool, e.kind])).toEqual([
      ['repair_drift', 'requested'],
      ['repair_drift', 'approved'],
      ['repair_drift', 'executed'],
    ]);
    expect(await drift(h)).toEqual([]);
    // The same id again: nothing drifts any more, so it is refused rather than replayed.
    const again = await call(h.client, 'repair_drift', { ids: [d.id] });
    expect(again.text).toMatch(new RegExp(`ids: ${d.id} is not a current drift`));
  });

  it('a security-group rule added outside aws-warden is drift, and its repair is a proposal a human approves', async () => {
    const w = world();
    w.policy.projects[w.project].approver_role_arn = `arn:aws:iam::123456789012:role/${w.project}-approver`;
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const group = await ownedGroup(w.project);
    const proposed = await call(h.client, 'propose_security_change', {
      security_group: group,
      add: [{ protocol: 'tcp', from_port: 443, to_port: 443, cidr: '10.0.0.0/16' }],
      reason: 'https from the vpc',
    });
    expect(proposed.isError, proposed.text).toBeFalsy();
    await approveAndRun(h.store, w.policy, proposed.structured?.proposal_id as string, 'ann', null);
    expect(await drift(h)).toEqual([]);

    await admin.ec2().send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: group,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
      }),
    );
    const [d] = await drift(h);
    expect(d).toMatchObject({ aspect: 'sg_rules', status: 'drifted', differences: ['rule added: ingress tcp 22-22 0.0.0.0/0'] });
    const before = h.writes().length;
    const r = await call(h.client, 'repair_drift', { ids: [d.id] });
    expect(r.structured).toMatchObject({ status: 'pending_approval', decision: { outcome: 'escalate', classes: ['security_group'] } });
    expect(h.writes().length).toBe(before);
    await approveAndRun(h.store, w.policy, r.structured?.proposal_id as string, 'ann', null);
    const rules =
      (await admin.ec2().send(new DescribeSecurityGroupsCommand({ GroupIds: [group] }))).SecurityGroups?.[0]?.IpPermissions ?? [];
    expect(rules.map((p) => p.FromPort)).toEqual([443]);
    expect(await drift(h)).toEqual([]);
  });

  it('a resource whose ProjectId tag was changed is reported unowned and never repaired', async () => {
    const { w, h, bucket } = await siteWorld();
    await admin.s3().send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: [{ Key: 'ProjectId', Value: w.other }] } }));
    await admin.s3().send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Suspended' } }));
    const items = await drift(h);
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((i) => i.status === 'unowned')).toBe(true);
    expect(items[0].differences[0]).toBe(`no longer owned by ${w.project}: ProjectId is "${w.other}" — reported, not touched`);
    const writes = h.writes().length;
    const r = await call(h.client, 'repair_drift', { ids: [items[0].id] });
    expect(r.text).toMatch(/denied by the ownership rule/);
    expect(h.writes().length).toBe(writes);
    expect((await admin.s3().send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBe('Suspended');
  });

  it('a service instance terminated outside aws-warden is drift; repair launches through scale_service’s plan', async () => {
    const w = world({
      limits: '{ instance_types: [t3.micro], max_instances_per_service: 4, max_change_per_call: 2 }',
      projectYaml: `    services:
      web: { image_id: ${await anyImageId(admin.ec2())}, instance_types: [t3.micro], max: 4, health: { timeout_seconds: 5, poll_seconds: 0.2 } }`,
    });
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const up = await call(h.client, 'scale_service', { service: 'web', desired_count: 2 });
    expect(up.isError, up.text).toBeFalsy();
    const [gone] = (up.structured as { result: { launched: string[] } }).result.launched;
    await admin.ec2().send(new TerminateInstancesCommand({ InstanceIds: [gone] }));
    const [d] = await drift(h);
    expect(d).toMatchObject({ resource: 'service:web', aspect: 'service', differences: ['instances: 1, desired 2'] });
    const r = await call(h.client, 'repair_drift', { ids: [d.id] });
    expect(r.isError, r.text).toBeFalsy();
    expect((r.structured as { result: { service: { launched: string[]; count: number } } }).result.service).toMatchObject({ count: 2 });
    expect(await drift(h)).toEqual([]);
    expect(h.store.ledger.summary(w.project, 10_000).byResource).toHaveLength(3);
  });

  it('refuses ids that are not drift ids, naming the field', async () => {
    const w = world();
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const r = await call(h.client, 'repair_drift', { ids: ['sg-123'] });
    expect(r.text).toBe('invalid arguments for repair_drift: ids.0: must be a drift id from check_drift (drift-…)');
  });
});
