// What each tool's execution makes the desired state of what it manages: the hooks tools return from desired().
import type { Plan } from '../guard/types.js';
import type { SgRule } from '../security/rules.js';
import type { DesiredEntry } from '../store/desired.js';
import type { DesiredChange } from '../tools/tool.js';

const bucketArn = (bucket: string) => `arn:aws:s3:::${bucket}`;

/** A site bucket's settings as the plan set them: versioning always; tags, public access and website when it made the bucket. */
export function bucketDesired(plan: Plan): DesiredChange {
  const set: DesiredEntry[] = [];
  for (const op of plan.operations) {
    const resource = bucketArn(op.target ?? '');
    if (op.action === 's3:PutBucketVersioning') set.push({ resource, aspect: 'bucket_versioning', value: 'Enabled' });
    if (op.action === 's3:PutPublicAccessBlock') set.push({ resource, aspect: 'bucket_public_access', value: { block_all: (op.params as { blockAll: boolean }).blockAll } });
    if (op.action === 's3:PutBucketWebsite') {
      const p = op.params as { index: string; error: string | null };
      set.push({ resource, aspect: 'bucket_website', value: { index: p.index, error: p.error } });
    }
    if (op.action === 's3:PutBucketTagging') set.push({ resource, aspect: 'tags', value: (op.params as { tags: Record<string, string> }).tags });
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
