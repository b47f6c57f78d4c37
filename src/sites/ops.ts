// S3 operations a site deploy and a promotion share: bucket setup as planned operations, their execution, the exact restore.
import {
  CreateBucketCommand, DeleteObjectCommand, PutBucketPolicyCommand, PutBucketTaggingCommand, PutBucketVersioningCommand,
  PutBucketWebsiteCommand, PutPublicAccessBlockCommand, type BucketLocationConstraint,
} from '@aws-sdk/client-s3';
import type { AgentAws } from '../aws/clients.js';
import type { PlannedOperation } from '../guard/types.js';
import type { Store } from '../store/store.js';
import { RolledBack } from '../tools/tool.js';
import type { SiteHealth } from './health.js';

export interface BucketSetup {
  region: string;
  tags: Record<string, string>;
  public: boolean;
  index: string;
  error: string | null;
}

/** A new bucket: tagged, versioned, website, public access blocked unless the policy makes sites public. An existing one: versioning ensured. */
export function setupOps(bucket: string, exists: boolean, s: BucketSetup): PlannedOperation[] {
  if (exists) return [{ action: 's3:PutBucketVersioning', target: bucket }];
  return [
    { action: 's3:CreateBucket', target: bucket, params: { region: s.region } },
    { action: 's3:PutBucketTagging', target: bucket, params: { tags: s.tags } },
    { action: 's3:PutBucketVersioning', target: bucket },
    { action: 's3:PutPublicAccessBlock', target: bucket, params: { blockAll: !s.public } },
    { action: 's3:PutBucketWebsite', target: bucket, params: { index: s.index, error: s.error } },
    ...(s.public ? [{ action: 's3:PutBucketPolicy', target: bucket, params: { publicRead: true } }] : []),
  ];
}

export function siteHealthUrl(template: string, site: string, environment: string, bucket: string, region: string): string {
  return template.replaceAll('{site}', site).replaceAll('{environment}', environment).replaceAll('{bucket}', bucket).replaceAll('{region}', region);
}

export async function setupBucket(aws: AgentAws, bucket: string, op: PlannedOperation): Promise<void> {
  const p = (op.params ?? {}) as Record<string, unknown>;
  switch (op.action) {
    case 's3:CreateBucket': {
      const region = p.region as string;
      await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }) }));
      return;
    }
    case 's3:PutBucketTagging':
      await aws.s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: Object.entries(p.tags as Record<string, string>).map(([Key, Value]) => ({ Key, Value })) } }));
      return;
    case 's3:PutBucketVersioning':
      await aws.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
      return;
    case 's3:PutPublicAccessBlock': {
      const block = p.blockAll as boolean;
      await aws.s3.send(new PutPublicAccessBlockCommand({ Bucket: bucket, PublicAccessBlockConfiguration: { BlockPublicAcls: block, IgnorePublicAcls: block, BlockPublicPolicy: block, RestrictPublicBuckets: block } }));
      return;
    }
    case 's3:PutBucketWebsite':
      await aws.s3.send(
        new PutBucketWebsiteCommand({ Bucket: bucket, WebsiteConfiguration: { IndexDocument: { Suffix: p.index as string }, ...(p.error ? { ErrorDocument: { Key: p.error as string } } : {}) } }),
      );
      return;
    case 's3:PutBucketPolicy':
      await aws.s3.send(
        new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*` }] }) }),
      );
      return;
    default:
      throw new Error(`a site deploy cannot run ${op.action}`);
  }
}

/** Deleting exactly the versions this deploy wrote puts every key back at the version that was live before. */
export async function restore(aws: AgentAws, bucket: string, created: { key: string; versionId: string }[]) {
  for (const c of [...created].reverse()) await aws.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: c.key, VersionId: c.versionId }));
}

/**
 * The end of a deploy or promotion: if any health result failed, put every key back (deleting exactly the versions
 * written), record the deployment rolled back and throw RolledBack with `what` failed; otherwise do nothing.
 */
export async function rollBackIfUnhealthy(
  aws: AgentAws,
  store: Store,
  d: { eventId: string; bucket: string; created: { key: string; versionId: string }[]; previous: Record<string, string>; health: SiteHealth[] },
  what: string,
): Promise<void> {
  const failed = d.health.filter((h) => !h.ok);
  if (failed.length === 0) return;
  await restore(aws, d.bucket, d.created);
  store.deployments.finish(d.eventId, 'rolled_back', d.previous, d.health);
  throw new RolledBack(
    `${what} (${failed.slice(0, 3).map((f) => `${f.check}: ${f.detail}`).join('; ')}); rolled back: every key is at its previous version and new keys are removed — nothing changed`,
    { bucket: d.bucket, restored: d.created.length, health: d.health },
  );
}
