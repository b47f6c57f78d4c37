// Undoing a deploy or a promotion, and proving it: every version written is deleted (each attempted, whatever fails),
// then every key touched is read back; "rolled back" is said only when each one is at its previous version. A new
// bucket whose setup failed is never left untagged.
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetBucketTaggingCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
} from '@aws-sdk/client-s3';
import type { AgentAws } from '../aws/clients.js';
import { withoutDeadline } from '../aws/write-gate.js';
import { RollbackIncomplete, RolledBack } from '../core/errors.js';
import type { ToolPorts } from '../core/ports.js';
import type { PlannedOperation } from '../guard/types.js';
import type { SiteHealth } from './health.js';
import { runBucketStep, type BucketStep } from './ops.js';

/** A key the rollback could not put back, and why: what it should be at (null: absent) and what it is at. */
export interface LeftOver {
  key: string;
  expected: string | null;
  found: string | null;
  why: string;
}

const firstLine = (e: unknown) => `${(e as Error).name}: ${(e as Error).message.split('\n')[0]}`;

/** The live version of `key` now (null: no object, or a delete marker on top), read from S3. */
async function liveVersion(aws: AgentAws, bucket: string, key: string): Promise<string | null> {
  try {
    return (await aws.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).VersionId ?? 'null';
  } catch (e) {
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || status === 405 || (e as Error).name === 'NotFound') return null;
    throw e;
  }
}

/**
 * Deletes exactly the versions written (newest first, every one attempted), then reads every touched key back
 * against `previous` (key → version live before). Returns what is not back where it was; empty means restored.
 */
export async function restore(
  aws: AgentAws,
  bucket: string,
  created: { key: string; versionId: string }[],
  previous: Record<string, string>,
  /** More keys to read back than those written (after a crash: every key the plan touches). */
  alsoCheck: readonly string[] = [],
): Promise<LeftOver[]> {
  // An undo runs to its end even past the call's deadline (each request is still bounded by its timeouts).
  return withoutDeadline(() => restoreNow(aws, bucket, created, previous, alsoCheck));
}

async function restoreNow(
  aws: AgentAws,
  bucket: string,
  created: { key: string; versionId: string }[],
  previous: Record<string, string>,
  alsoCheck: readonly string[],
): Promise<LeftOver[]> {
  const failedDeletes = new Map<string, string>();
  for (const c of [...created].reverse()) {
    try {
      await aws.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: c.key, VersionId: c.versionId }));
    } catch (e) {
      failedDeletes.set(c.key, `deleting version ${c.versionId} failed (${firstLine(e)})`);
    }
  }
  const keys = [...new Set([...created.map((c) => c.key), ...alsoCheck])];
  const left: LeftOver[] = [];
  for (let i = 0; i < keys.length; i += 16)
    await Promise.all(
      keys.slice(i, i + 16).map(async (key) => {
        const expected = Object.hasOwn(previous, key) ? previous[key] : null;
        try {
          const found = await liveVersion(aws, bucket, key);
          if (found !== expected)
            left.push({ key, expected, found, why: failedDeletes.get(key) ?? 'the live version is not the previous one' });
        } catch (e) {
          left.push({ key, expected, found: null, why: `cannot read it back (${firstLine(e)})` });
        }
      }),
    );
  return left.sort((a, b) => a.key.localeCompare(b.key));
}

const describeLeft = (left: LeftOver[]) =>
  left
    .slice(0, 10)
    .map((l) => `${l.key} (${l.why}; is ${l.found ?? 'absent'}, should be ${l.expected ?? 'absent'})`)
    .join('; ') + (left.length > 10 ? `; and ${left.length - 10} more` : '');

/**
 * The end of a deploy or promotion: if any health result failed, put every key back and prove it by reading back,
 * record the deployment and throw RolledBack (every key verified at its previous version) or RollbackIncomplete
 * (naming what is left; humans are told). Otherwise do nothing.
 */
export async function rollBackIfUnhealthy(
  aws: AgentAws,
  ports: Pick<ToolPorts, 'deployments'>,
  d: {
    eventId: string;
    bucket: string;
    created: { key: string; versionId: string }[];
    previous: Record<string, string>;
    health: SiteHealth[];
  },
  what: string,
  trigger: 'health' | 'ownership' = 'health',
): Promise<void> {
  const failed = d.health.filter((h) => !h.ok);
  if (failed.length === 0) return;
  const reason = `${what} (${failed
    .slice(0, 3)
    .map((f) => `${f.check}: ${f.detail}`)
    .join('; ')})`;
  const left = await restore(aws, d.bucket, d.created, d.previous);
  if (left.length) {
    ports.deployments.finish(d.eventId, 'failed', d.previous, d.health);
    throw new RollbackIncomplete(
      `${reason}; the rollback is INCOMPLETE — ${left.length} key(s) of ${d.bucket} are not at their previous version: ${describeLeft(left)}. A human has been notified and must restore them`,
      { bucket: d.bucket, left, health: d.health },
    );
  }
  ports.deployments.finish(d.eventId, 'rolled_back', d.previous, d.health);
  throw new RolledBack(
    `${reason}; rolled back: every key was read back at its previous version and new keys are removed — nothing changed`,
    { bucket: d.bucket, restored: d.created.length, verified: new Set(d.created.map((c) => c.key)).size, health: d.health },
    trigger,
  );
}

/** What undoes a bucket the setup creates: the permit needs it named, even though it is used only on a failed setup. */
export function setupRollback(steps: BucketStep[]): PlannedOperation[] {
  return steps.filter((s) => s.action === 's3:CreateBucket').map((s) => ({ action: 's3:DeleteBucket', target: s.bucket }));
}

/**
 * Runs a bucket's setup steps. If a step after CreateBucket fails, the new bucket is never left without its ownership
 * tags: kept if the create applied them (it is the project's and the next deploy finishes it), else deleted; if it
 * can be neither, the error says so and humans are told.
 */
export async function runSetup(aws: AgentAws, steps: BucketStep[]): Promise<void> {
  const create = steps.find((s): s is Extract<BucketStep, { action: 's3:CreateBucket' }> => s.action === 's3:CreateBucket');
  for (const step of steps) {
    try {
      await runBucketStep(aws, step);
    } catch (e) {
      if (!create || step === create) throw e;
      throw await undoNewBucket(aws, create, `${step.action} failed (${firstLine(e)})`);
    }
  }
}

async function undoNewBucket(aws: AgentAws, create: Extract<BucketStep, { action: 's3:CreateBucket' }>, why: string): Promise<Error> {
  const bucket = create.bucket;
  const owner = create.tags?.ProjectId;
  try {
    const tags = (await aws.s3.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet ?? [];
    if (owner && tags.some((t) => t.Key === 'ProjectId' && t.Value === owner))
      return new Error(
        `${why}; the new bucket ${bucket} carries its ownership tags (set at creation), so it stays the project's and the next deploy sets it up`,
      );
  } catch {
    // No tag set (or none readable): the bucket is not provably the project's, so it must go.
  }
  try {
    await aws.s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    return new Error(`${why}; the new bucket ${bucket} had no ownership tags, so it was deleted — nothing is left`);
  } catch (e) {
    return new RollbackIncomplete(
      `${why}; the new bucket ${bucket} has no ownership tags and could not be deleted (${firstLine(e)}). A human has been notified and must delete it`,
      { bucket, left: [{ bucket, why: 'untagged new bucket' }] },
    );
  }
}

/** The object metadata key that names the approval which wrote a version: written ahead, with the bytes. */
export const EVENT_METADATA = 'warden-event';

/**
 * After a crash: every version of the planned keys that `approvalId` wrote, found in S3 itself (its metadata names the
 * approval), so what a dead process sent but never recorded is undone too. Only versions newer than the one live at
 * planning are looked at; delete markers on keys the plan deletes count as written.
 */
export async function writtenBy(
  aws: AgentAws,
  bucket: string,
  approvalId: string,
  plan: { puts: string[]; deletes: string[]; previous: Record<string, string> },
): Promise<{ key: string; versionId: string }[]> {
  const puts = new Set(plan.puts);
  const deletes = new Set(plan.deletes);
  const newer = new Map<string, { versionId: string; marker: boolean }[]>();
  const passed = new Set<string>();
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  do {
    const out = await aws.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
    const entries = [
      ...(out.Versions ?? []).map((v) => ({
        key: v.Key ?? '',
        versionId: v.VersionId ?? 'null',
        at: v.LastModified?.getTime() ?? 0,
        marker: false,
      })),
      ...(out.DeleteMarkers ?? []).map((m) => ({
        key: m.Key ?? '',
        versionId: m.VersionId ?? 'null',
        at: m.LastModified?.getTime() ?? 0,
        marker: true,
      })),
    ].sort((a, b) => a.key.localeCompare(b.key) || b.at - a.at);
    for (const e of entries) {
      if (!puts.has(e.key) && !deletes.has(e.key)) continue;
      // Newest first: everything above the version live at planning is a candidate.
      if (passed.has(e.key) || e.versionId === plan.previous[e.key]) {
        passed.add(e.key);
        continue;
      }
      newer.set(e.key, [...(newer.get(e.key) ?? []), { versionId: e.versionId, marker: e.marker }]);
    }
    keyMarker = out.NextKeyMarker;
    versionMarker = out.NextVersionIdMarker;
    if (!out.IsTruncated) break;
  } while (keyMarker);
  const found: { key: string; versionId: string }[] = [];
  for (const [key, versions] of newer)
    for (const v of versions) {
      if (v.marker) {
        if (deletes.has(key)) found.push({ key, versionId: v.versionId });
        continue;
      }
      const head = await aws.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: v.versionId }));
      if (head.Metadata?.[EVENT_METADATA] === approvalId) found.push({ key, versionId: v.versionId });
    }
  return found;
}
