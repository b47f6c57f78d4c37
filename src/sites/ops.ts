// S3 operations a site deploy and a promotion share: bucket setup as planned operations, their execution, the exact restore.
import {
  CreateBucketCommand,
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

export interface BucketSetup {
  region: string;
  tags: Record<string, string>;
  public: boolean;
  index: string;
  error: string | null;
}

/** One step of setting a bucket up, as a plan stores it and the executor sends it. */
export const bucketStep = z.discriminatedUnion('action', [
  // The ownership tags go in the create call itself (AWS applies them atomically); PutBucketTagging after it sets them
  // where a create ignores them. Optional so a plan stored before tags went into the create still reads.
  z
    .object({
      action: z.literal('s3:CreateBucket'),
      bucket: z.string(),
      region: z.string(),
      tags: z.record(z.string(), z.string()).optional(),
    })
    .strict(),
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
    { action: 's3:CreateBucket', bucket, region: s.region, tags: s.tags },
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
          CreateBucketConfiguration: {
            ...(step.region === 'us-east-1' ? {} : { LocationConstraint: step.region as BucketLocationConstraint }),
            ...(step.tags ? { Tags: Object.entries(step.tags).map(([Key, Value]) => ({ Key, Value })) } : {}),
          },
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
