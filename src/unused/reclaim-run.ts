// The steps of an approved reclaim, run in order: snapshot before delete, stop or terminate, delete, release. With
// `resume` (after a crash) every step is safe to repeat: a snapshot this approval made is reused, and a resource
// already gone counts as done.
import {
  CreateSnapshotCommand,
  DeleteVolumeCommand,
  DescribeAddressesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  ReleaseAddressCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DeleteBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import type { AgentAws } from '../aws/clients.js';
import type { AgentContext } from '../core/agent.js';
import { deleteAllVersions } from '../sites/bucket.js';

export interface ReclaimStep {
  action: string;
  target: string;
  size_gb?: number;
}

type Snap = { snapshot_id: string; volume: string; size_gb: number };
export interface Reclaimed {
  id: string;
  type: string;
  action: string;
  snapshots: Snap[];
}

/** AWS saying the thing is already gone: on a resumed step, the step is done. */
const gone = (e: unknown) =>
  /NotFound|NoSuchBucket|InvalidAllocationID|InvalidVolume\.NotFound/.test(`${(e as Error).name} ${(e as Error).message}`);

/** Whether a step's target still exists (a resumed delete of something gone is done; the write gate would not find its owner). */
async function stillThere(aws: AgentAws, op: ReclaimStep): Promise<boolean> {
  try {
    if (op.action === 'ec2:DeleteVolume') await aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: [op.target] }));
    else if (op.action === 'ec2:ReleaseAddress') await aws.ec2.send(new DescribeAddressesCommand({ AllocationIds: [op.target] }));
    else if (op.action.startsWith('s3:')) await aws.s3.send(new HeadBucketCommand({ Bucket: op.target }));
    return true;
  } catch (e) {
    if (gone(e) || (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw e;
  }
}

async function snapshotOf(aws: AgentAws, eventId: string, volume: string): Promise<string | null> {
  const out = await aws.ec2.send(
    new DescribeSnapshotsCommand({
      OwnerIds: ['self'],
      Filters: [
        { Name: 'tag:WardenEvent', Values: [eventId] },
        { Name: 'tag:ReclaimedFrom', Values: [volume] },
      ],
    }),
  );
  return out.Snapshots?.[0]?.SnapshotId ?? null;
}

export async function runReclaimSteps(
  aws: AgentAws,
  agent: AgentContext,
  eventId: string,
  steps: readonly ReclaimStep[],
  progress: (done: number, total: number, message: string) => Promise<void>,
  resume: boolean,
): Promise<Reclaimed[]> {
  let snapshots: Snap[] = [];
  const done: Reclaimed[] = [];
  let present = true;
  const once = async (fn: () => Promise<unknown>) => {
    if (!present) return;
    try {
      await fn();
    } catch (e) {
      if (!(resume && gone(e))) throw e;
    }
  };
  for (const [i, op] of steps.entries()) {
    const target = op.target;
    await progress(i, steps.length, `${op.action} ${target}`);
    present = !resume || (await stillThere(aws, op));
    switch (op.action) {
      case 'ec2:CreateSnapshot': {
        const made = resume ? await snapshotOf(aws, eventId, target) : null;
        if (made) {
          snapshots.push({ snapshot_id: made, volume: target, size_gb: op.size_gb ?? 0 });
          break;
        }
        const tags = {
          ProjectId: agent.projectId,
          AgentId: agent.id,
          ManagedBy: 'aws-warden',
          WardenEvent: eventId,
          ReclaimedFrom: target,
        };
        const snap = await aws.ec2.send(
          new CreateSnapshotCommand({
            VolumeId: target,
            Description: `aws-warden: before reclaiming ${target}`,
            TagSpecifications: [{ ResourceType: 'snapshot', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
          }),
        );
        snapshots.push({ snapshot_id: snap.SnapshotId as string, volume: target, size_gb: op.size_gb ?? 0 });
        break;
      }
      case 'ec2:StopInstances':
        await once(() => aws.ec2.send(new StopInstancesCommand({ InstanceIds: [target] })));
        done.push({ id: target, type: 'instance', action: 'stopped', snapshots: [] });
        break;
      case 'ec2:TerminateInstances':
        await once(() => aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: [target] })));
        done.push({ id: target, type: 'instance', action: 'terminated', snapshots });
        snapshots = [];
        break;
      case 'ec2:DeleteVolume':
        await once(() => aws.ec2.send(new DeleteVolumeCommand({ VolumeId: target })));
        done.push({ id: target, type: 'volume', action: 'deleted', snapshots });
        snapshots = [];
        break;
      case 'ec2:ReleaseAddress':
        await once(() => aws.ec2.send(new ReleaseAddressCommand({ AllocationId: target })));
        done.push({ id: target, type: 'address', action: 'released', snapshots: [] });
        break;
      case 's3:DeleteObjectVersion':
        await once(() => deleteAllVersions(aws.s3, target));
        break;
      case 's3:DeleteBucket':
        await once(() => aws.s3.send(new DeleteBucketCommand({ Bucket: target })));
        done.push({ id: target, type: 'site_bucket', action: 'deleted', snapshots: [] });
        break;
    }
  }
  return done;
}
