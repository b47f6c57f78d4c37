// What each tool's execution makes the desired state of what it manages: the hooks tools return from desired().
import type { Plan } from '../guard/types.js';
import type { SgRule } from '../security/rules.js';
import type { BucketStep } from '../sites/ops.js';
import type { DesiredEntry } from '../store/desired.js';
import type { DesiredChange } from '../tools/tool.js';

const bucketArn = (bucket: string) => `arn:aws:s3:::${bucket}`;

/** A site bucket's settings as the plan's setup steps set them: versioning always; tags, public access and website when it made the bucket. */
export function bucketDesired(steps: readonly BucketStep[]): DesiredChange {
  const set: DesiredEntry[] = [];
  for (const s of steps) {
    const resource = bucketArn(s.bucket);
    if (s.action === 's3:PutBucketVersioning') set.push({ resource, aspect: 'bucket_versioning', value: 'Enabled' });
    if (s.action === 's3:PutPublicAccessBlock') set.push({ resource, aspect: 'bucket_public_access', value: { block_all: s.blockAll } });
    if (s.action === 's3:PutBucketWebsite') set.push({ resource, aspect: 'bucket_website', value: { index: s.index, error: s.error } });
    if (s.action === 's3:PutBucketTagging') set.push({ resource, aspect: 'tags', value: s.tags });
  }
  return { set };
}

export function tagsDesired(arn: string, tags: Record<string, string>): DesiredChange {
  return { set: [{ resource: arn, aspect: 'tags', value: tags }] };
}

export function rulesDesired(plan: Plan, rules: SgRule[]): DesiredChange {
  const arn = plan.resources.find((r) => r.arn.includes(':security-group/'))?.arn;
  return arn ? { set: [{ resource: arn, aspect: 'sg_rules', value: rules }] } : {};
}

export const serviceResource = (service: string) => `service:${service}`;

export function serviceDesired(service: string, count: number, instanceType: string): DesiredChange {
  return { set: [{ resource: serviceResource(service), aspect: 'service', value: { count, instance_type: instanceType } }] };
}
