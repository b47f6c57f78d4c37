// Reads a resource's tags under the agent's role; "cannot read" is null, which the guard treats as not owned.
import { DescribeTagsCommand } from '@aws-sdk/client-ec2';
import { GetBucketTaggingCommand } from '@aws-sdk/client-s3';
import type { AgentAws } from './clients.js';
import { accountOf, parseArn } from './arn.js';
import { classifyAwsError } from './errors.js';

export type Tags = Record<string, string>;

export interface TagRead {
  tags: Tags | null;
  /** Why tags are null: shown to the agent in the denial. */
  why?: string;
  /** AWS did not answer (network, outage): a refusal still, but not reported as a question of ownership. */
  outage?: boolean;
}

/** Why a tag read failed, and whether AWS simply did not answer. */
function failed(e: unknown): TagRead {
  const err = e as Error & { code?: string };
  return {
    tags: null,
    why: `${err.name}: ${err.message.split('\n')[0]}`,
    ...(classifyAwsError(err) === 'unreachable' ? { outage: true } : {}),
  };
}

export async function readTags(aws: AgentAws, arn: string): Promise<TagRead> {
  const p = parseArn(arn);
  if (!p) return { tags: null, why: 'not an EC2 or S3 bucket ARN aws-warden can read tags of' };
  if (p.service === 'ec2') {
    const region = await aws.ec2.config.region();
    if (p.region !== region) return { tags: null, why: `in region ${p.region}, the agent works in ${region}` };
    const account = accountOf((await aws.session.credentials()).assumedRoleArn);
    if (p.account !== account) return { tags: null, why: `in account ${p.account}, the agent works in ${account}` };
    try {
      const tags: Tags = {};
      let token: string | undefined;
      do {
        const out = await aws.ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [p.id] }], NextToken: token }));
        for (const t of out.Tags ?? []) if (t.Key) tags[t.Key] = t.Value ?? '';
        token = out.NextToken;
      } while (token);
      return { tags };
    } catch (e) {
      return failed(e);
    }
  }
  try {
    const out = await aws.s3.send(new GetBucketTaggingCommand({ Bucket: p.id }));
    return { tags: Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])) };
  } catch (e) {
    if ((e as Error).name === 'NoSuchTagSet') return { tags: {} };
    return failed(e);
  }
}
