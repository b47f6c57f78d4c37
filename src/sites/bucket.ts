// A site's bucket: its name (derived, never chosen by an agent), and what is live in it now, version by version.
import { DeleteObjectsCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { AgentAws } from '../aws/clients.js';
import { sha256 } from '../util/canonical.js';

/** Derived from account, project, site and environment; unique per account, readable, at most 63 chars. */
/**
 * `<project>--…`: a project name never holds "--" (the policy refuses it), so the IAM pattern `shop--*` cannot reach the
 * buckets of a project called `shop-eu` (whose start with `shop-eu--`).
 */
export const projectBucketPrefix = (project: string) => `${project}--`;
/** Restore scratch buckets of verify_backups, the only buckets an agent role may delete: `restore-<project>--<hex>`. */
export const scratchBucketPrefix = (project: string) => `restore-${project}--`;

/** What deploying to or promoting into a site bucket needs in the agent's role (both tools declare these). */
export const SITE_BUCKET_ACTIONS = [
  's3:CreateBucket',
  's3:GetBucketTagging',
  's3:PutBucketTagging',
  // Tags in the CreateBucket call itself need it.
  's3:TagResource',
  's3:PutBucketVersioning',
  's3:PutBucketWebsite',
  's3:PutBucketPublicAccessBlock',
  's3:ListBucketVersions',
  's3:GetObject',
  's3:GetObjectVersion',
  's3:PutObject',
  's3:DeleteObject',
  's3:DeleteObjectVersion',
] as const;

export function bucketName(account: string, project: string, site: string, environment: string): string {
  const base = `${projectBucketPrefix(project)}${site}-${environment}`.slice(0, 50).replace(/-+$/, '');
  return `${base}-${sha256(`${account}/${project}/${site}/${environment}`).slice(0, 8)}`;
}

export function websiteUrl(bucket: string, region: string): string {
  return `http://${bucket}.s3-website-${region}.amazonaws.com/`;
}

export interface LiveObject {
  versionId: string;
  etag: string;
  size: number;
}

export interface BucketContents {
  /** The latest, non-deleted version of each key. */
  live: Map<string, LiveObject>;
  /** Bytes of every version kept (what storage bills with versioning on). */
  allVersionBytes: number;
}

export async function readContents(aws: AgentAws, bucket: string): Promise<BucketContents> {
  const live = new Map<string, LiveObject>();
  let allVersionBytes = 0;
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (;;) {
    const out = await aws.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
    for (const v of out.Versions ?? []) {
      allVersionBytes += v.Size ?? 0;
      if (v.IsLatest && v.Key)
        live.set(v.Key, { versionId: v.VersionId ?? 'null', etag: (v.ETag ?? '').replaceAll('"', ''), size: v.Size ?? 0 });
    }
    if (!out.IsTruncated) break;
    keyMarker = out.NextKeyMarker;
    versionMarker = out.NextVersionIdMarker;
  }
  return { live, allVersionBytes };
}

/** Deletes every version and delete marker in a bucket (what must go before the bucket itself can). */
export async function deleteAllVersions(s3: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const out = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    const all = [...(out.Versions ?? []), ...(out.DeleteMarkers ?? [])].map((v) => ({ Key: v.Key as string, VersionId: v.VersionId }));
    if (all.length === 0) return;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: all.slice(0, 1000), Quiet: true } }));
  }
}
