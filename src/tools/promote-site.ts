// promote_site: the sandbox pattern — copy exactly the version set live in staging to prod, only after staging has soaked healthy.
import { bucketDesired } from '../drift/record.js';
import { CopyObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { accountOf } from '../aws/arn.js';
import { readTags } from '../aws/tags.js';
import { currentScope } from '../aws/write-gate.js';
import type { RiskFlag } from '../guard/types.js';
import { notify } from '../notify/notify.js';
import { s3Prices } from '../prices/prices.js';
import { bucketName, readContents, websiteUrl, type BucketContents } from '../sites/bucket.js';
import { probeUrl, verifyRecorded, type SiteHealth } from '../sites/health.js';
import { rollBackIfUnhealthy, setupBucket, setupOps, siteHealthUrl } from '../sites/ops.js';
import { defineTool, Refusal } from './tool.js';

export const name = 'promote_site';
const FROM = 'staging';
const TO = 'prod';

const output = z.object({
  bucket: z.string(),
  website_url: z.string(),
  deployment_id: z.string(),
  promoted_from: z.string(),
  copied: z.number(),
  deleted: z.number(),
  unchanged: z.number(),
  health: z.array(z.object({ check: z.string(), ok: z.boolean(), detail: z.string() })),
});

interface CopyParams { key: string; sourceBucket: string; sourceVersion: string; previous: string | null }
interface DeleteParams { key: string; previous: string }

export const promoteSite = defineTool({
  name,
  title: 'Promote a site from staging to prod',
  description: `Copies exactly the object versions live in ${FROM} to ${TO} (not the working directory again), once ${FROM} has stayed healthy for the project's soak period; its health is checked again now, and ${TO} gets the same health check and automatic rollback.`,
  input: z.object({ site: z.string().regex(/^[a-z0-9-]{3,40}$/, 'a short name: 3-40 of a-z, 0-9 and -') }).strict(),
  output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  environmentOf: () => TO,
  lockKey: (args, agent) => `site:${agent.projectId}:${args.site}:${TO}`,
  async plan(args, { aws, agent, store }) {
    const sites = agent.project.sites;
    for (const env of [FROM, TO])
      if (!agent.project.environments.includes(env)) throw new Refusal(`project ${agent.projectId} has no ${env} environment (has ${agent.project.environments.join(', ')})`);
    const staged = store.deployments.live(agent.projectId, args.site, FROM);
    if (!staged?.finished_at) throw new Refusal(`site ${args.site} has no live ${FROM} deployment; deploy_static_site to ${FROM} first`);
    const soaked = (store.clock().getTime() - Date.parse(staged.finished_at)) / 60_000;
    if (soaked < sites.soak_minutes)
      throw new Refusal(`${FROM} of ${args.site} has soaked ${Math.floor(soaked)} of ${sites.soak_minutes} minutes; promote again in ${Math.ceil(sites.soak_minutes - soaked)} minute(s)`, 'soak');
    if (!(JSON.parse(staged.health) as SiteHealth[]).every((h) => h.ok)) throw new Refusal(`${FROM} deployment ${staged.id} recorded a failed health check; deploy a healthy one first`, 'soak');
    const versions = JSON.parse(staged.versions) as Record<string, string>;
    // Health again, now: every staged version must still read back with its recorded hash, and the URL answer.
    const region = await aws.s3.config.region();
    const now = await verifyRecorded(aws, staged.bucket, versions);
    if (sites.health_url) now.push(await probeUrl(siteHealthUrl(sites.health_url, args.site, FROM, staged.bucket, region), sites.health_timeout_seconds));
    const bad = now.filter((h) => !h.ok);
    if (bad.length) throw new Refusal(`${FROM} is not healthy now (${bad.slice(0, 3).map((b) => `${b.check}: ${b.detail}`).join('; ')}); nothing was promoted`, 'soak');

    const account = accountOf(aws.session.assumedRoleArn) ?? '';
    const bucket = bucketName(account, agent.projectId, args.site, TO);
    const arn = `arn:aws:s3:::${bucket}`;
    const tagRead = await readTags(aws, arn);
    const exists = !(tagRead.tags === null && /NoSuchBucket/.test(tagRead.why ?? ''));
    let contents: BucketContents = { live: new Map(), allVersionBytes: 0 };
    if (exists && tagRead.tags?.ProjectId === agent.projectId) contents = await readContents(aws, bucket);
    const stagedContents = await readContents(aws, staged.bucket);
    const copies: CopyParams[] = Object.entries(versions)
      .filter(([key]) => contents.live.get(key)?.etag === undefined || contents.live.get(key)?.etag !== stagedEtag(stagedContents, key, versions[key]))
      .map(([key, v]) => ({ key, sourceBucket: staged.bucket, sourceVersion: v, previous: contents.live.get(key)?.versionId ?? null }));
    const deletes: DeleteParams[] = [...contents.live].filter(([k]) => !(k in versions)).map(([key, v]) => ({ key, previous: v.versionId }));
    const tags = { ProjectId: agent.projectId, AgentId: agent.id, ManagedBy: 'aws-warden', Site: args.site, Environment: TO };
    const bytes = copies.reduce((s, c) => s + (stagedContents.live.get(c.key)?.size ?? 0), 0);
    const price = s3Prices(region);
    const riskFlags: RiskFlag[] = [...(sites.prod_requires_approval ? (['production_deploy'] as const) : []), ...(sites.public && !exists ? (['public_exposure'] as const) : [])];
    return {
      tool: name,
      summary: `promote ${args.site}: ${FROM} deployment ${staged.id} → ${TO} (${bucket}): copy ${copies.length}, delete ${deletes.length}`,
      mutating: true,
      operations: [
        ...setupOps(bucket, exists, { region, tags, public: sites.public, index: 'index.html', error: null }),
        ...copies.map((c) => ({ action: 's3:CopyObject', target: bucket, params: c })),
        ...deletes.map((d) => ({ action: 's3:DeleteObject', target: bucket, params: d })),
      ],
      resources: [{ arn, change: exists ? 'modify' : 'create', tags: exists ? tagRead.tags : null, unreadableWhy: tagRead.why }],
      tagsToSet: tags,
      costDeltaUsdMonth: price === null ? null : Math.ceil((bytes / 2 ** 30) * price.standard_gb_month * 100 + (copies.length / 1000) * price.put_per_1000 * 100) / 100,
      riskFlags,
      rollback: [...copies.map((c) => ({ action: 's3:RestoreVersion', target: bucket, params: { key: c.key, to: c.previous } })), ...deletes.map((d) => ({ action: 's3:RestoreVersion', target: bucket, params: { key: d.key, to: d.previous } }))],
      preconditions: {
        staged_deployment: staged.id,
        staged_versions: versions,
        live_versions: Object.fromEntries([...contents.live].map(([k, v]) => [k, v.versionId])),
        unchanged: Object.keys(versions).length - copies.length,
        website_url: websiteUrl(bucket, region),
      },
    };
  },
  async execute(plan, args, { aws, agent, store }) {
    const eventId = currentScope()?.approvalId as string;
    const sites = agent.project.sites;
    const bucket = plan.resources[0].arn.slice('arn:aws:s3:::'.length);
    const pre = plan.preconditions as { staged_deployment: string; staged_versions: Record<string, string>; live_versions: Record<string, string>; unchanged: number; website_url: string };
    store.deployments.start({ id: eventId, project: agent.projectId, site: args.site, environment: TO, bucket, source: `promoted from ${pre.staged_deployment}` });
    for (const op of plan.operations.filter((o) => !['s3:CopyObject', 's3:DeleteObject'].includes(o.action))) await setupBucket(aws, bucket, op);
    const created: { key: string; versionId: string }[] = [];
    const live: Record<string, string> = { ...pre.live_versions };
    let health: SiteHealth[] = [];
    try {
      for (const op of plan.operations) {
        if (op.action === 's3:CopyObject') {
          const c = op.params as CopyParams;
          const out = await aws.s3.send(
            new CopyObjectCommand({ Bucket: bucket, Key: c.key, CopySource: `${c.sourceBucket}/${encodeURIComponent(c.key).replaceAll('%2F', '/')}?versionId=${c.sourceVersion}`, MetadataDirective: 'COPY' }),
          );
          created.push({ key: c.key, versionId: out.VersionId ?? 'null' });
          live[c.key] = out.VersionId ?? 'null';
        } else if (op.action === 's3:DeleteObject') {
          const d = op.params as DeleteParams;
          const out = await aws.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: d.key }));
          if (out.VersionId) created.push({ key: d.key, versionId: out.VersionId });
          delete live[d.key];
        }
      }
      store.deployments.noteCreated(eventId, created);
      health = await verifyRecorded(aws, bucket, live);
      if (sites.health_url) health.push(await probeUrl(siteHealthUrl(sites.health_url, args.site, TO, bucket, await aws.s3.config.region()), sites.health_timeout_seconds));
    } catch (e) {
      health.push({ check: 'promote', ok: false, detail: (e as Error).message.split('\n')[0] });
    }
    await rollBackIfUnhealthy(aws, store, { eventId, bucket, created, previous: pre.live_versions, health }, `promotion failed its health check in ${TO}`);
    store.deployments.finish(eventId, 'live', live, health);
    notify(store, agent.project, { project: agent.projectId, kind: 'promoted', subject: `${args.site} promoted from ${FROM} to ${TO}`, body: { deployment_id: eventId, promoted_from: pre.staged_deployment, bucket }, eventId });
    return {
      bucket, website_url: pre.website_url, deployment_id: eventId, promoted_from: pre.staged_deployment,
      copied: plan.operations.filter((o) => o.action === 's3:CopyObject').length, deleted: plan.operations.filter((o) => o.action === 's3:DeleteObject').length,
      unchanged: pre.unchanged, health,
    };
  },
  desired: (plan) => bucketDesired(plan),
  summarize: (o) => `promoted ${o.promoted_from} to ${o.bucket}: copied ${o.copied}, deleted ${o.deleted}, unchanged ${o.unchanged}`,
});

/** The ETag of the staged version of `key` (equal ETags mean prod already has those bytes). */
function stagedEtag(contents: BucketContents, key: string, versionId: string): string | undefined {
  const live = contents.live.get(key);
  return live && live.versionId === versionId ? live.etag : undefined;
}
