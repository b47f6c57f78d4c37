// The ProjectId a resource carries right now, read under the acting role: what the write gate re-checks before a write.
import { DescribeTagsCommand } from '@aws-sdk/client-ec2';
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { GetBucketTaggingCommand } from '@aws-sdk/client-s3';
import type { AgentAws } from './clients.js';

/** id → ProjectId value; undefined when the tag is absent, null when the tags cannot be read (both mean "not owned"). */
export async function ownerOf(
  aws: AgentAws,
  service: 'ec2' | 's3' | 'rds',
  ids: readonly string[],
): Promise<Map<string, string | null | undefined>> {
  const owners = new Map<string, string | null | undefined>(ids.map((id) => [id, undefined]));
  if (service === 'rds') {
    // A DB instance carries its tags in its description; one that is gone or unreadable is not owned.
    await Promise.all(
      ids.map(async (id) => {
        try {
          const db = (await aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances?.[0];
          owners.set(id, db ? db.TagList?.find((t) => t.Key === 'ProjectId')?.Value : null);
        } catch (e) {
          owners.set(id, (e as Error).name === 'DBInstanceNotFoundFault' ? undefined : null);
        }
      }),
    );
    return owners;
  }
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
