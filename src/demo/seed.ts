// Seeds the emulator with what the demo acts on: an instance of each project, created directly as the account admin.
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateDBInstanceCommand, type RDSClient } from '@aws-sdk/client-rds';

const imageIds = new WeakMap<object, Promise<string>>();

/** Some AMI the emulator (or account) offers; looked up once per client, since the list is long. */
export function anyImageId(ec2: EC2Client): Promise<string> {
  let id = imageIds.get(ec2.config);
  if (!id) imageIds.set(ec2.config, (id = findImageId(ec2)));
  return id;
}

async function findImageId(ec2: EC2Client): Promise<string> {
  const images = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }));
  const id = images.Images?.find((i) => i.ImageId)?.ImageId;
  if (!id) throw new Error('the emulator offers no AMI to launch');
  return id;
}

/** Launches one t3.micro carrying exactly `tags` (nothing added), its volume too with `volumes` (as aws-warden's own launches do); returns its ARN. */
export async function launchTagged(
  ec2: EC2Client,
  tags: Record<string, string>,
  imageId?: string,
  opts: { volumes?: boolean } = {},
): Promise<string> {
  const out = await ec2.send(
    new RunInstancesCommand({
      ImageId: imageId ?? (await anyImageId(ec2)),
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      TagSpecifications: Object.keys(tags).length
        ? (opts.volumes ? (['instance', 'volume'] as const) : (['instance'] as const)).map((ResourceType) => ({
            ResourceType,
            Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
          }))
        : undefined,
    }),
  );
  const id = out.Instances?.[0]?.InstanceId;
  if (!id) throw new Error('RunInstances returned no instance');
  const region = await ec2.config.region();
  const account = out.OwnerId ?? '123456789012';
  return `arn:aws:ec2:${region}:${account}:instance/${id}`;
}

/** A small postgres DB instance (db.t3.micro, 20 GB) carrying exactly `tags`; an existing one of that name is kept. */
export async function createTaggedDatabase(rds: RDSClient, id: string, tags: Record<string, string>): Promise<string> {
  try {
    await rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: id,
        Engine: 'postgres',
        DBInstanceClass: 'db.t3.micro',
        AllocatedStorage: 20,
        MasterUsername: 'warden_seed',
        MasterUserPassword: 'emulator-only-password-1',
        Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
      }),
    );
  } catch (e) {
    if ((e as Error).name !== 'DBInstanceAlreadyExistsFault') throw e;
  }
  return id;
}
