// Backup and restore verification. A site: versioning on, its live objects are the versions its live deployment
// made, and a restore of that version set into a scratch bucket reproduces every object's SHA-256 recorded at upload
// (the scratch bucket is then removed). A service: every volume of its instances has a snapshot within the policy's age.
import { DescribeSnapshotsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  GetBucketVersioningCommand,
  HeadObjectCommand,
  PutBucketTaggingCommand,
} from '@aws-sdk/client-s3';
import type { AgentAws } from '../aws/clients.js';
import { findInstances } from '../services/instances.js';
import { deleteAllVersions, readContents } from '../sites/bucket.js';
import { hashVersion } from '../sites/health.js';
import type { DeploymentRow } from '../store/deployments.js';

export interface Verification {
  subject: string;
  ok: boolean;
  checks: number;
  failures: string[];
}

async function removeBucket(aws: AgentAws, bucket: string): Promise<void> {
  await deleteAllVersions(aws.s3, bucket);
  await aws.s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/** After a crash: a scratch bucket emptied and removed if it exists; false when there was none (never made, or gone). */
export async function removeScratch(aws: AgentAws, bucket: string): Promise<boolean> {
  try {
    await removeBucket(aws, bucket);
    return true;
  } catch (e) {
    if ((e as Error).name === 'NoSuchBucket') return false;
    throw e;
  }
}

export async function verifySite(
  aws: AgentAws,
  d: DeploymentRow,
  scratch: string,
  scratchTags: Record<string, string>,
  progress: (done: number, total: number) => Promise<void>,
): Promise<Verification> {
  const subject = `site/${d.site}/${d.environment}`;
  const failures: string[] = [];
  let checks = 0;
  const status = (await aws.s3.send(new GetBucketVersioningCommand({ Bucket: d.bucket }))).Status ?? 'Off';
  checks++;
  if (status !== 'Enabled') failures.push(`versioning is ${status} on ${d.bucket}: old versions are not kept`);
  const deployed = JSON.parse(d.versions) as Record<string, string>;
  const live = (await readContents(aws, d.bucket)).live;
  for (const [key, versionId] of Object.entries(deployed)) {
    checks++;
    const now = live.get(key);
    if (!now) failures.push(`${key}: deleted outside aws-warden (deployed version ${versionId})`);
    else if (now.versionId !== versionId)
      failures.push(`${key}: live version ${now.versionId} is not the deployed ${versionId} (changed outside aws-warden)`);
  }
  for (const key of live.keys()) if (!(key in deployed)) failures.push(`${key}: live but not part of deployment ${d.id}`);

  // The restore: the live version set copied version by version into a scratch bucket, then read back.
  await aws.s3.send(new CreateBucketCommand({ Bucket: scratch }));
  try {
    await aws.s3.send(
      new PutBucketTaggingCommand({
        Bucket: scratch,
        Tagging: { TagSet: Object.entries(scratchTags).map(([Key, Value]) => ({ Key, Value })) },
      }),
    );
    const keys = [...live.keys()].sort();
    let done = 0;
    for (const key of keys) {
      const version = (live.get(key) as { versionId: string }).versionId;
      checks++;
      const source = `${d.bucket}/${key.split('/').map(encodeURIComponent).join('/')}?versionId=${encodeURIComponent(version)}`;
      await aws.s3.send(new CopyObjectCommand({ Bucket: scratch, Key: key, CopySource: source }));
      const recorded = (await aws.s3.send(new HeadObjectCommand({ Bucket: d.bucket, Key: key, VersionId: deployed[key] ?? version })))
        .Metadata?.sha256;
      const restored = (await hashVersion(aws, scratch, key)).got;
      if (!recorded) failures.push(`${key}: no SHA-256 was recorded at upload`);
      else if (restored !== recorded)
        failures.push(`${key}: restored SHA-256 ${restored.slice(0, 12)}… differs from the deployed ${recorded.slice(0, 12)}…`);
      await progress(++done, keys.length);
    }
  } finally {
    await removeBucket(aws, scratch);
  }
  return { subject, ok: failures.length === 0, checks, failures };
}

export async function verifyService(
  aws: AgentAws,
  project: string,
  service: string,
  maxAgeHours: number,
  now: Date,
): Promise<Verification> {
  const instances = (await findInstances(aws, { ProjectId: project, Service: service })).filter(
    (i) => i.state === 'running' || i.state === 'stopped',
  );
  const failures: string[] = [];
  let checks = 0;
  for (const i of instances) {
    const volumes =
      (await aws.ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [i.id] }] }))).Volumes ?? [];
    for (const v of volumes) {
      checks++;
      const snaps =
        (
          await aws.ec2.send(
            new DescribeSnapshotsCommand({ Filters: [{ Name: 'volume-id', Values: [v.VolumeId as string] }], OwnerIds: ['self'] }),
          )
        ).Snapshots ?? [];
      const newest = snaps.map((s) => s.StartTime?.getTime() ?? 0).sort((a, b) => b - a)[0];
      if (!newest) failures.push(`${v.VolumeId} of ${i.id}: no snapshot`);
      else {
        const age = (now.getTime() - newest) / 3_600_000;
        if (age > maxAgeHours)
          failures.push(`${v.VolumeId} of ${i.id}: newest snapshot is ${Math.floor(age)} h old (at most ${maxAgeHours} h)`);
      }
    }
  }
  return { subject: `service/${service}`, ok: failures.length === 0, checks, failures };
}
