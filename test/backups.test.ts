// verify_backups against moto: a clean restore passes; a deliberately corrupted object version is caught; the scratch
// bucket is always removed; a service's volumes need a fresh snapshot; results are stored and failures notified.
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { HeadObjectCommand, ListBucketsCommand, PutBucketTaggingCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { launchTagged } from '../src/demo/seed.js';
import { listNotifications } from '../src/notify/notify.js';
import { bucketName } from '../src/sites/bucket.js';
import { rawDb, Store } from '../src/store/store.js';
import { ACCOUNT, admin, call, connect, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

type Result = { ok: boolean; results: { subject: string; ok: boolean; checks: number; failures: string[] }[] };
const verify = async (h: Harness) => {
  const r = await call(h.client, 'verify_backups', {});
  expect(r.isError, r.text).toBeFalsy();
  return (r.structured as { result: Result }).result;
};

async function scratchBuckets(project: string) {
  return ((await admin.s3().send(new ListBucketsCommand({}))).Buckets ?? [])
    .map((b) => b.Name)
    .filter((n) => n?.startsWith(`restore-${project}-`));
}

describe('verify_backups', () => {
  it('restores the live version set and checks every hash; a corrupted object version is caught, stored and notified', async () => {
    const root = mkdtempSync(join(tmpdir(), 'warden-backup-'));
    writeFileSync(join(root, 'index.html'), '<h1>the real page</h1>');
    writeFileSync(join(root, 'app.js'), 'console.log(1)');
    const dbDir = mkdtempSync(join(tmpdir(), 'warden-backup-db-'));
    const dbFile = join(dbDir, 'warden.db');
    const w = world({ projectYaml: `    sites: { roots: ["${root}"], health_timeout_seconds: 2 }` });
    const h = await connect(w.policy, w.agent, { store: Store.open(dbFile) });
    open.push(h);
    const deployed = await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: root, environment: 'staging' });
    expect(deployed.isError, deployed.text).toBeFalsy();
    const bucket = bucketName(ACCOUNT, w.project, 'shop', 'staging');

    const clean = await verify(h);
    expect(clean).toMatchObject({ ok: true, results: [{ subject: 'site/shop/staging', ok: true, checks: 5, failures: [] }] });
    expect(await scratchBuckets(w.project)).toEqual([]);

    // Corrupt it behind aws-warden's back: new bytes under the same key, with the original's recorded hash copied on.
    const original = await admin.s3().send(new HeadObjectCommand({ Bucket: bucket, Key: 'index.html' }));
    await admin.s3().send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'index.html',
        Body: '<h1>defaced</h1>',
        Metadata: { sha256: original.Metadata?.sha256 as string },
      }),
    );
    const bad = await verify(h);
    expect(bad.ok).toBe(false);
    const failures = bad.results[0].failures;
    expect(failures).toHaveLength(2);
    expect(failures[0]).toMatch(/^index\.html: live version \S+ is not the deployed \S+ \(changed outside aws-warden\)$/);
    expect(failures[1]).toMatch(/^index\.html: restored SHA-256 [0-9a-f]{12}… differs from the deployed [0-9a-f]{12}…$/);
    expect(await scratchBuckets(w.project)).toEqual([]);
    expect(listNotifications(h.store).map((n) => n.kind)).toContain('backup_failed');

    const ctl = spawnSync(process.execPath, [join(process.cwd(), 'dist/tools/wardenctl/main.js'), 'backups', '--db', dbFile, '--json'], {
      encoding: 'utf8',
    });
    expect(ctl.status, ctl.stderr).toBe(1);
    expect(JSON.parse(ctl.stdout)).toMatchObject([{ project: w.project, subject: 'site/shop/staging', ok: false }]);
  });

  it('a service passes only when each volume has a snapshot within max_snapshot_age_hours (clock injected)', async () => {
    const w = world({
      projectYaml: `    backups: { max_snapshot_age_hours: 24 }
    services:
      db: { image_id: ami-12c6146b, instance_types: [t3.micro], max: 2 }`,
    });
    let now = Date.now();
    const h = await connect(w.policy, w.agent, { store: Store.open(':memory:', { clock: () => new Date(now) }) });
    open.push(h);
    const arn = await launchTagged(admin.ec2(), { ProjectId: w.project, Service: 'db' });
    const id = arn.split('/').pop() as string;
    const az = (await admin.ec2().send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.Placement
      ?.AvailabilityZone;
    const vol = await admin.ec2().send(new CreateVolumeCommand({ AvailabilityZone: az, Size: 8 }));
    await admin.ec2().send(new AttachVolumeCommand({ VolumeId: vol.VolumeId, InstanceId: id, Device: '/dev/sdf' }));

    const attached = (
      (await admin.ec2().send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [id] }] }))).Volumes ?? []
    ).map((v) => v.VolumeId as string);
    expect(attached).toContain(vol.VolumeId);
    const service = async () => (await verify(h)).results.find((r) => r.subject === 'service/db');
    const none = await service();
    expect(none).toMatchObject({ ok: false, checks: attached.length });
    expect(none?.failures).toContain(`${vol.VolumeId} of ${id}: no snapshot`);
    for (const v of attached) await admin.ec2().send(new CreateSnapshotCommand({ VolumeId: v }));
    expect(await service()).toEqual({ subject: 'service/db', ok: true, checks: attached.length, failures: [] });
    now = Date.now() + 30 * 3_600_000 + 60_000;
    const stale = await service();
    expect(stale?.ok).toBe(false);
    expect(stale?.failures).toContain(`${vol.VolumeId} of ${id}: newest snapshot is 30 h old (at most 24 h)`);
  });

  it('a site bucket retagged to another project is reported, not read, and the agent is not treated as escaping', async () => {
    const root = mkdtempSync(join(tmpdir(), 'warden-backup-'));
    writeFileSync(join(root, 'index.html'), 'x');
    const w = world({
      projectYaml: `    sites: { roots: ["${root}"], health_timeout_seconds: 2 }`,
      topYaml: 'trust: { demote_on: [boundary_escape] }',
    });
    const h = await connect(w.policy, w.agent);
    open.push(h);
    await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: root, environment: 'staging' });
    const bucket = bucketName(ACCOUNT, w.project, 'shop', 'staging');
    await admin.s3().send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: [{ Key: 'ProjectId', Value: w.other }] } }));
    const reads = h.sent.length;
    const r = await verify(h);
    expect(r).toMatchObject({
      ok: false,
      results: [
        {
          subject: 'site/shop/staging',
          ok: false,
          checks: 0,
          failures: [`${bucket} is no longer owned by ${w.project} (ProjectId is "${w.other}"); not read`],
        },
      ],
    });
    expect(h.sent.slice(reads).filter((c) => c.command === 'GetObject' || c.command === 'CopyObject')).toEqual([]);
    expect(rawDb(h.store).prepare('SELECT COUNT(*) FROM tier_changes').pluck().get()).toBe(0);
  });
});
