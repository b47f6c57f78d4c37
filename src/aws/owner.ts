// The ProjectId a resource carries right now, read under the acting role: what the write gate re-checks before a write.
import { DescribeTagsCommand } from '@aws-sdk/client-ec2';
import { GetBucketTaggingCommand } from '@aws-sdk/client-s3';
import type { AgentAws } from './clients.js';

/** id → ProjectId value; undefined when the tag is absent, null when the tags cannot be read (both mean "not owned"). */
export async function ownerOf(
  aws: AgentAws,
  service: 'ec2' | 's3',
  ids: readonly string[],
): Promise<Map<string, string | null | undefined>> {
  const owners = new Map<string, string | null | undefined>(ids.map((id) => [id, undefined]));
  if (service === 's3') {
    await Promise.all(
      ids.map(async (bucket) => {
        try {
          const out = await aws.s3.send(new GetBucketTaggingCommand({ Bucket: bucket }));
          owners.set(bucket, out.TagSet?.find((t) => t.Key === 'ProjectId')?.Value);
        } catch (e) {
          owners.set(bucket, (e as Error).name === 'NoSuchTagSet' ? undefined : null);
        }
      }),
    );
    return owners;
  }
  try {
    let token: string | undefined;
    do {
      const out = await aws.ec2.send(
        new DescribeTagsCommand({
          Filters: [
            { Name: 'resource-id', Values: [...ids] },
            { Name: 'key', Values: ['ProjectId'] },
          ],
          NextToken: token,
        }),
      );
      for (const t of out.Tags ?? []) if (t.ResourceId) owners.set(t.ResourceId, t.Value ?? '');
      token = out.NextToken;
    } while (token);
  } catch {
    for (const id of ids) owners.set(id, null);
  }
  return owners;
}
