// S3 operations a site deploy and a promotion share: bucket setup as planned operations, their execution, the exact restore.
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
  PutBucketWebsiteCommand,
  PutPublicAccessBlockCommand,
  type BucketLocationConstraint,
} from '@aws-sdk/client-s3';
import type { AgentAws } from '../aws/clients.js';
import type { PlannedOperation } from '../guard/types.js';
import { z } from 'zod';
import type { ToolPorts } from '../core/ports.js';
import { RolledBack } from '../core/errors.js';
import type { SiteHealth } from './health.js';

export interface BucketSetup {
  region: string;
  tags: Record<string, string>;
  public: boolean;
  index: string;
  error: string | null;
}

/** One step of setting a bucket up, as a plan stores it and the executor sends it. */
export const bucketStep = z.discriminatedUnion('action', [
  z.object({ action: z.literal('s3:CreateBucket'), bucket: z.string(), region: z.string() }).strict(),
  z.object({ action: z.literal('s3:PutBucketTagging'), bucket: z.string(), tags: z.record(z.string(), z.string()) }).strict(),
  z.object({ action: z.literal('s3:PutBucketVersioning'), bucket: z.string() }).strict(),
  z.object({ action: z.literal('s3:PutPublicAccessBlock'), bucket: z.string(), blockAll: z.boolean() }).strict(),
  z.object({ action: z.literal('s3:PutBucketWebsite'), bucket: z.string(), index: z.string(), error: z.string().nullable() }).strict(),
  z.object({ action: z.literal('s3:PutBucketPolicy'), bucket: z.string(), publicRead: z.literal(true) }).strict(),
]);
export type BucketStep = z.infer<typeof bucketStep>;

/** A new bucket: tagged, versioned, website, public access blocked unless the policy makes sites public. An existing one: versioning ensured. */
export function setupSteps(bucket: string, exists: boolean, s: BucketSetup): BucketStep[] {
  if (exists) return [{ action: 's3:PutBucketVersioning', bucket }];
  return [
    { action: 's3:CreateBucket', bucket, region: s.region },
    { action: 's3:PutBucketTagging', bucket, tags: s.tags },
    { action: 's3:PutBucketVersioning', bucket },
    { action: 's3:PutPublicAccessBlock', bucket, blockAll: !s.public },
    { action: 's3:PutBucketWebsite', bucket, index: s.index, error: s.error },
    ...(s.public ? [{ action: 's3:PutBucketPolicy' as const, bucket, publicRead: true as const }] : []),
  ];
}

/** The operation a human reads (and the AWS layer admits) for a bucket step. */
export const bucketOperation = ({ action, bucket, ...params }: BucketStep): PlannedOperation => ({ action, target: bucket, params });

export function siteHealthUrl(template: string, site: string, environment: string, bucket: string, region: string): string {
  return template
    .replaceAll('{site}', site)
    .replaceAll('{environment}', environment)
    .replaceAll('{bucket}', bucket)
    .replaceAll('{region}', region);
}

export async function runBucketStep(aws: AgentAws, step: BucketStep): Promise<void> {
  const Bucket = step.bucket;
  switch (step.action) {
    case 's3:CreateBucket':
      await aws.s3.send(
        new CreateBucketCommand({
          Bucket,
          ...(step.region === 'us-east-1'
            ? {}
            : { CreateBucketConfiguration: { LocationConstraint: step.region as BucketLocationConstraint } }),
        }),
      );
      return;
    case 's3:PutBucketTagging':
      await aws.s3.send(
        new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: Object.entries(step.tags).map(([Key, Value]) => ({ Key, Value })) } }),
      );
      return;
    case 's3:PutBucketVersioning':
      await aws.s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }));
      return;
    case 's3:PutPublicAccessBlock': {
      const block = step.blockAll;
      await aws.s3.send(
        new PutPublicAccessBlockCommand({
          Bucket,
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: block,
            IgnorePublicAcls: block,
            BlockPublicPolicy: block,
            RestrictPublicBuckets: block,
          },
        }),
      );
      return;
    }
    case 's3:PutBucketWebsite':
      await aws.s3.send(
        new PutBucketWebsiteCommand({
          Bucket,
          WebsiteConfiguration: { IndexDocument: { Suffix: step.index }, ...(step.error ? { ErrorDocument: { Key: step.error } } : {}) },
        }),
      );
      return;
    case 's3:PutBucketPolicy':
      await aws.s3.send(
        new PutBucketPolicyCommand({
          Bucket,
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              { Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${Bucket}/*` },
            ],
          }),
        }),
      );
      return;
  }
}

/** Deleting exactly the versions this deploy wrote puts every key back at the version that was live before. */
export async function restore(aws: AgentAws, bucket: string, created: { key: string; versionId: string }[]) {
  for (const c of [...created].reverse())
    await aws.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: c.key, VersionId: c.versionId }));
}

/**
 * The end of a deploy or promotion: if any health result failed, put every key back (deleting exactly the versions
 * written), record the deployment rolled back and throw RolledBack with `what` failed; otherwise do nothing.
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
  await restore(aws, d.bucket, d.created);
  ports.deployments.finish(d.eventId, 'rolled_back', d.previous, d.health);
  throw new RolledBack(
    `${what} (${failed
      .slice(0, 3)
      .map((f) => `${f.check}: ${f.detail}`)
      .join('; ')}); rolled back: every key is at its previous version and new keys are removed — nothing changed`,
    { bucket: d.bucket, restored: d.created.length, health: d.health },
    trigger,
  );
}
