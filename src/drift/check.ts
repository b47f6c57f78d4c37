// Drift: each desired-state row compared with AWS as the agent's role reads it now. A difference names what moved
// and who probably moved it (CloudTrail when the account answers, else "outside aws-warden"); a resource whose
// ProjectId tag no longer names the project is reported as unowned and never repaired.
import { LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { GetBucketVersioningCommand, GetBucketWebsiteCommand, GetPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { parseArn } from '../aws/arn.js';
import type { AgentAws } from '../aws/clients.js';
import { readTags, type TagRead } from '../aws/tags.js';
import { ruleKey, rulesOf, type SgRule } from '../security/rules.js';
import { findInstances } from '../services/instances.js';
import type { Aspect, DesiredRow } from '../store/desired.js';
import type { ToolPorts } from '../core/ports.js';

export interface DriftItem {
  /** Names this exact difference: if AWS moves again, the id changes and an old repair is refused. */
  id: string;
  resource: string;
  aspect: Aspect;
  status: 'drifted' | 'unowned' | 'missing';
  desired: unknown;
  actual: unknown;
  /** One line per difference, e.g. `versioning: Suspended, desired Enabled`. */
  differences: string[];
  changed_by: string;
  /** Since when aws-warden has wanted this (its last change). */
  desired_since: string;
  /** The resource's tags as read now (null for services and unreadable resources): what the guard judges ownership by. */
  tags: Record<string, string> | null;
}

export interface DriftReport {
  checked: number;
  items: DriftItem[];
}

const itemId = (resource: string, aspect: string, actual: unknown) =>
  `drift-${createHash('sha256')
    .update(`${resource}\n${aspect}\n${JSON.stringify(actual)}`)
    .digest('hex')
    .slice(0, 10)}`;

async function bucketAspect(aws: AgentAws, bucket: string, aspect: Aspect): Promise<unknown> {
  try {
    if (aspect === 'bucket_versioning') return (await aws.s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status ?? 'Off';
    if (aspect === 'bucket_public_access') {
      const c = (await aws.s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }))).PublicAccessBlockConfiguration;
      return { block_all: Boolean(c?.BlockPublicAcls && c.BlockPublicPolicy && c.IgnorePublicAcls && c.RestrictPublicBuckets) };
    }
    const w = await aws.s3.send(new GetBucketWebsiteCommand({ Bucket: bucket }));
    return { index: w.IndexDocument?.Suffix ?? null, error: w.ErrorDocument?.Key ?? null };
  } catch (e) {
    const name = (e as Error).name;
    if (aspect === 'bucket_public_access' && name === 'NoSuchPublicAccessBlockConfiguration') return { block_all: false };
    if (aspect === 'bucket_website' && name === 'NoSuchWebsiteConfiguration') return { index: null, error: null };
    throw e;
  }
}

function compare(aspect: Aspect, desired: unknown, actual: unknown): string[] {
  if (aspect === 'tags') {
    const want = desired as Record<string, string>;
    const have = actual as Record<string, string>;
    const out: string[] = [];
    for (const [k, v] of Object.entries(want))
      if (have[k] !== v) out.push(k in have ? `tag ${k}: "${have[k]}", desired "${v}"` : `tag ${k}: removed, desired "${v}"`);
    for (const k of Object.keys(have)) if (!(k in want) && !k.startsWith('aws:')) out.push(`tag ${k}: added ("${have[k]}")`);
    return out;
  }
  if (aspect === 'sg_rules') {
    const want = new Map((desired as SgRule[]).map((r) => [ruleKey(r), r]));
    const have = new Map((actual as SgRule[]).map((r) => [ruleKey(r), r]));
    return [
      ...[...have.keys()].filter((k) => !want.has(k)).map((k) => `rule added: ${k}`),
      ...[...want.keys()].filter((k) => !have.has(k)).map((k) => `rule removed: ${k}`),
    ];
  }
  if (aspect === 'service') {
    const w = desired as { count: number; instance_type: string };
    const a = actual as { count: number; types: string[] };
    const out: string[] = [];
    if (a.count !== w.count) out.push(`instances: ${a.count}, desired ${w.count}`);
    const odd = a.types.filter((t) => t !== w.instance_type);
    if (odd.length) out.push(`instance types: ${[...new Set(odd)].join(', ')} present, desired ${w.instance_type}`);
    return out;
  }
  return JSON.stringify(desired) === JSON.stringify(actual)
    ? []
    : [`${aspect.replace('bucket_', '')}: ${JSON.stringify(actual)}, desired ${JSON.stringify(desired)}`];
}

/** Who changed it: CloudTrail's newest write on the resource since aws-warden last set it (throws when CloudTrail does not answer). */
async function whoChanged(aws: AgentAws, resource: string, since: string): Promise<string> {
  const name = resource.startsWith('service:') ? null : (parseArn(resource)?.id ?? null);
  if (!name) return 'outside aws-warden (instances launched or terminated without it)';
  const out = await aws.cloudtrail.send(
    new LookupEventsCommand({
      LookupAttributes: [{ AttributeKey: 'ResourceName', AttributeValue: name }],
      StartTime: new Date(since),
      MaxResults: 20,
    }),
  );
  const e = (out.Events ?? []).find((x) => x.ReadOnly !== 'true' && !(x.Username ?? '').startsWith('warden-'));
  return e
    ? `${e.Username ?? 'unknown principal'} (${e.EventName} at ${e.EventTime?.toISOString()}, CloudTrail)`
    : 'outside aws-warden (no CloudTrail event found)';
}

type TagReader = (arn: string) => Promise<TagRead>;

async function actualOf(
  aws: AgentAws,
  project: string,
  row: DesiredRow,
  tagsOf: TagReader,
): Promise<{ owned: boolean; tags: Record<string, string> | null; actual: unknown; missing?: string }> {
  if (row.aspect === 'service') {
    const service = row.resource.slice('service:'.length);
    const live = (await findInstances(aws, { ProjectId: project, Service: service })).filter(
      (i) => i.state === 'pending' || i.state === 'running',
    );
    return { owned: true, tags: null, actual: { count: live.length, types: live.map((i) => i.type).sort() } };
  }
  const read = await tagsOf(row.resource);
  if (!read.tags) return { owned: false, tags: null, actual: null, missing: read.why ?? 'unreadable' };
  const owned = read.tags.ProjectId === project;
  if (!owned || row.aspect === 'tags') return { owned, tags: read.tags, actual: read.tags };
  const p = parseArn(row.resource);
  if (row.aspect === 'sg_rules') {
    const sg = (await aws.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [p?.id ?? ''] }))).SecurityGroups?.[0];
    return { owned, tags: read.tags, actual: sg ? rulesOf(sg).map((r) => ({ ...r })) : [] };
  }
  return { owned, tags: read.tags, actual: await bucketAspect(aws, p?.id ?? '', row.aspect) };
}

/**
 * Every managed setting of the project compared with AWS now. `attribute: false` skips the CloudTrail lookups (a
 * repair only needs the differences); an account without CloudTrail is asked once per check, not once per drift.
 */
export async function checkDrift(
  aws: AgentAws,
  ports: Pick<ToolPorts, 'desired'>,
  project: string,
  opts: { attribute?: boolean } = {},
): Promise<DriftReport> {
  const rows = ports.desired.list(project);
  const items: DriftItem[] = [];
  let unavailable: string | null = opts.attribute === false ? 'not looked up' : null;
  // A bucket has up to four managed aspects: its tags are read once per check, not once per aspect.
  const tagReads = new Map<string, Promise<TagRead>>();
  const tagsOf: TagReader = (arn) => {
    let read = tagReads.get(arn);
    if (!read) tagReads.set(arn, (read = readTags(aws, arn)));
    return read;
  };
  const changedBy = async (resource: string, since: string) => {
    if (!unavailable)
      try {
        return await whoChanged(aws, resource, since);
      } catch (e) {
        unavailable = `CloudTrail lookup unavailable: ${(e as Error).name}`;
      }
    return `outside aws-warden (${unavailable})`;
  };
  for (const row of rows) {
    const base = {
      resource: row.resource,
      aspect: row.aspect,
      desired: row.value,
      desired_since: row.at,
      tags: null as Record<string, string> | null,
    };
    let a: Awaited<ReturnType<typeof actualOf>>;
    try {
      a = await actualOf(aws, project, row, tagsOf);
    } catch (e) {
      a = { owned: false, tags: null, actual: null, missing: `${(e as Error).name}: ${(e as Error).message.split('\n')[0]}` };
    }
    if (a.missing !== undefined) {
      items.push({
        ...base,
        id: itemId(row.resource, row.aspect, { missing: true }),
        status: 'missing',
        actual: null,
        differences: [`cannot be read: ${a.missing}`],
        changed_by: await changedBy(row.resource, row.at),
      });
      continue;
    }
    if (!a.owned) {
      const now = a.tags?.ProjectId;
      items.push({
        ...base,
        tags: a.tags,
        id: itemId(row.resource, row.aspect, a.tags),
        status: 'unowned',
        actual: a.tags,
        differences: [`no longer owned by ${project}: ProjectId is ${now === undefined ? 'gone' : `"${now}"`} — reported, not touched`],
        changed_by: await changedBy(row.resource, row.at),
      });
      continue;
    }
    const differences = compare(row.aspect, row.value, a.actual);
    if (differences.length)
      items.push({
        ...base,
        tags: a.tags,
        id: itemId(row.resource, row.aspect, a.actual),
        status: 'drifted',
        actual: a.actual,
        differences,
        changed_by: await changedBy(row.resource, row.at),
      });
  }
  return { checked: rows.length, items };
}
