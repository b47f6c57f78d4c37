// What one approved plan lets the AWS layer send: its operations (and rollback steps), each on its resources only.
import type { Plan, PlannedOperation } from '../guard/types.js';

/**
 * Plan actions are `service:Operation` names of the API a tool calls. A few plan actions stand for a family of
 * API operations: a large PutObject goes up as a multipart upload, a version restore is a versioned DeleteObject,
 * emptying a bucket deletes its versions in batches.
 */
const FAMILIES: Record<string, readonly string[]> = {
  's3:PutObject': ['s3:CreateMultipartUpload', 's3:UploadPart', 's3:CompleteMultipartUpload', 's3:AbortMultipartUpload'],
  's3:RestoreVersion': ['s3:DeleteObject'],
  's3:DeleteObjectVersion': ['s3:DeleteObject', 's3:DeleteObjects'],
};

/** API operations that make a resource rather than act on one: the name they are given is not yet anyone's. */
const CREATES: ReadonlySet<string> = new Set(['s3:CreateBucket', 'rds:RestoreDBInstanceFromDBSnapshot']);

export interface PermitOp {
  /** API operations this step may send. */
  commands: readonly string[];
  /** Resource ids it may act on; empty for a step that acts on no existing resource (a launch). */
  resources: readonly string[];
}

export interface Permit {
  approvalId: string;
  /** The project that must own every existing resource written to. */
  project: string;
  ops: readonly PermitOp[];
  /** Resources this execution created (launched instances, a new bucket): its own rollback may act on them. */
  created: Set<string>;
  /** Resources whose ownership was re-read during this execution and found to be the project's. */
  owned: Set<string>;
}

export function resourcesOfOp(op: PlannedOperation): string[] {
  return op.resources ?? (op.target ? [op.target] : []);
}

/** The permit of an approved plan: every operation and rollback step, with the resources each names. */
export function permitFor(approvalId: string, project: string, plan: Pick<Plan, 'operations' | 'rollback'>): Permit {
  const ops = [...plan.operations, ...plan.rollback].map((op) => ({
    commands: [op.action, ...(FAMILIES[op.action] ?? [])],
    resources: resourcesOfOp(op),
  }));
  return { approvalId, project, ops, created: new Set(), owned: new Set() };
}

/** The ids a command acts on (what the permit must name) and the ones it only reads from (which must be owned too). */
export function resourcesOfCommand(service: string, input: Record<string, unknown>): { acts: string[]; reads: string[] } {
  const acts: string[] = [];
  const reads: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === 'string' && v) acts.push(v);
    else if (Array.isArray(v)) v.forEach(add);
  };
  if (service === 's3') {
    add(input.Bucket);
    // CopySource is "bucket/key?versionId=…": the source bucket is read, and must be the project's as well.
    if (typeof input.CopySource === 'string') reads.push(decodeURIComponent(input.CopySource).replace(/^\//, '').split('/')[0]);
  } else {
    for (const key of [
      'InstanceIds',
      'GroupId',
      'VolumeId',
      'AllocationId',
      'Resources',
      'SnapshotId',
      'NetworkAclId',
      'DBInstanceIdentifier',
    ])
      add(input[key]);
  }
  return { acts, reads };
}

/** Why the permit does not cover this command, or null when it does. */
export function permitRefusal(permit: Permit, command: string, acts: readonly string[]): string | null {
  const steps = permit.ops.filter((o) => o.commands.includes(command));
  if (steps.length === 0) return `${command} is not one of the operations of approved plan ${permit.approvalId}`;
  const named = new Set([...steps.flatMap((s) => s.resources), ...permit.created]);
  const creating = CREATES.has(command);
  const outside = acts.filter((id) => !named.has(id) && !(creating && steps.some((s) => s.resources.length === 0)));
  if (outside.length) return `${command} on ${outside.join(', ')}: not a resource of approved plan ${permit.approvalId}`;
  return null;
}

export const isCreate = (command: string) => CREATES.has(command);
