// promote_site: the sandbox pattern — copy exactly the version set live in staging to prod, only after staging has soaked healthy.
import { bucketDesired } from '../drift/record.js';
import { CopyObjectCommand, DeleteObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { accountOf } from '../aws/arn.js';
import { readTags } from '../aws/tags.js';
import { currentApproval, OwnershipLost } from '../aws/write-gate.js';
import type { RiskFlag } from '../guard/types.js';
import { s3Prices } from '../prices/prices.js';
import { bucketName, readContents, SITE_BUCKET_ACTIONS, type BucketContents, websiteUrl } from '../sites/bucket.js';
import { probeUrl, verifyRecorded, type SiteHealth } from '../sites/health.js';
import { bucketOperation, bucketStep, setupSteps, siteHealthUrl } from '../sites/ops.js';
import { EVENT_METADATA, rollBackIfUnhealthy, runSetup, setupRollback } from '../sites/restore.js';
import { recoverSiteChange } from '../sites/recover.js';
import type { AgentAws } from '../aws/clients.js';
import { Refusal } from '../core/errors.js';
import { defineTool } from './tool.js';

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

const copyStep = z
  .object({
    key: z.string(),
    sourceBucket: z.string(),
    sourceVersion: z.string(),
    previous: z.string().nullable(),
    /** The staged version's headers and recorded hash: the copy carries them, and this approval's id beside them. */
    sha256: z.string(),
    contentType: z.string().nullable(),
    cacheControl: z.string().nullable(),
  })
  .strict();
type CopyParams = z.infer<typeof copyStep>;

/** Everything the promotion sends and checks, fixed at planning time. */
const params = z
  .object({
    bucket: z.string(),
    setup: z.array(bucketStep),
    copies: z.array(copyStep),
    deletes: z.array(z.object({ key: z.string(), previous: z.string() }).strict()),
    stagedDeployment: z.string(),
    liveVersions: z.record(z.string(), z.string()),
    unchanged: z.number(),
    websiteUrl: z.string(),
    healthUrl: z.string().nullable(),
    healthTimeoutSeconds: z.number(),
  })
  .strict();

export const promoteSite = defineTool({
  name,
  title: 'Promote a site from staging to prod',
  description: `Copies exactly the object versions live in ${FROM} to ${TO} (not the working directory again), once ${FROM} has stayed healthy for the project's soak period; its health is checked again now, and ${TO} gets the same health check and automatic rollback.`,
  input: z.object({ site: z.string().regex(/^[a-z0-9-]{3,40}$/, 'a short name: 3-40 of a-z, 0-9 and -') }).strict(),
  output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  params,
  iam: { s3: [...SITE_BUCKET_ACTIONS] },
  environmentOf: () => TO,
  lockKey: (args, agent) => `site:${agent.projectId}:${args.site}:${TO}`,
  async plan(args, { aws, agent, ports }) {
    const sites = agent.project.sites;
    for (const env of [FROM, TO])
      if (!agent.project.environments.includes(env))
        throw new Refusal(`project ${agent.projectId} has no ${env} environment (has ${agent.project.environments.join(', ')})`);
    const staged = ports.deployments.live(agent.projectId, args.site, FROM);
    if (!staged?.finished_at) throw new Refusal(`site ${args.site} has no live ${FROM} deployment; deploy_static_site to ${FROM} first`);
    const soaked = (ports.clock().getTime() - Date.parse(staged.finished_at)) / 60_000;
    if (soaked < sites.soak_minutes)
      throw new Refusal(
        `${FROM} of ${args.site} has soaked ${Math.floor(soaked)} of ${sites.soak_minutes} minutes; promote again in ${Math.ceil(sites.soak_minutes - soaked)} minute(s)`,
        'soak',
      );
    if (!(JSON.parse(staged.health) as SiteHealth[]).every((h) => h.ok))
      throw new Refusal(`${FROM} deployment ${staged.id} recorded a failed health check; deploy a healthy one first`, 'soak');
    const versions = JSON.parse(staged.versions) as Record<string, string>;
    // Health again, now: every staged version must still read back with its recorded hash, and the URL answer.
    const region = await aws.s3.config.region();
    const now = await verifyRecorded(aws, staged.bucket, versions);
    if (sites.health_url)
      now.push(await probeUrl(siteHealthUrl(sites.health_url, args.site, FROM, staged.bucket, region), sites.health_timeout_seconds));
    const bad = now.filter((h) => !h.ok);
    if (bad.length)
      throw new Refusal(
        `${FROM} is not healthy now (${bad
          .slice(0, 3)
          .map((b) => `${b.check}: ${b.detail}`)
          .join('; ')}); nothing was promoted`,
        'soak',
      );

    const account = accountOf(aws.session.assumedRoleArn) ?? '';
    const bucket = bucketName(account, agent.projectId, args.site, TO);
    const arn = `arn:aws:s3:::${bucket}`;
    const tagRead = await readTags(aws, arn);
    const exists = !(tagRead.tags === null && /NoSuchBucket/.test(tagRead.why ?? ''));
    let contents: BucketContents = { live: new Map(), allVersionBytes: 0 };
    if (exists && tagRead.tags?.ProjectId === agent.projectId) contents = await readContents(aws, bucket);
    const stagedContents = await readContents(aws, staged.bucket);
    const copies: CopyParams[] = await withHeaders(
      aws,
      Object.entries(versions)
        .filter(
          ([key]) =>
            contents.live.get(key)?.etag === undefined || contents.live.get(key)?.etag !== stagedEtag(stagedContents, key, versions[key]),
        )
        .map(([key, v]) => ({ key, sourceBucket: staged.bucket, sourceVersion: v, previous: contents.live.get(key)?.versionId ?? null })),
    );
    const deletes = [...contents.live].filter(([k]) => !(k in versions)).map(([key, v]) => ({ key, previous: v.versionId }));
    const tags = { ProjectId: agent.projectId, AgentId: agent.id, ManagedBy: 'aws-warden', Site: args.site, Environment: TO };
    const setup = setupSteps(bucket, exists, { region, tags, public: sites.public, index: 'index.html', error: null });
    const bytes = copies.reduce((s, c) => s + (stagedContents.live.get(c.key)?.size ?? 0), 0);
    const price = s3Prices(region);
    const riskFlags: RiskFlag[] = [
      ...(sites.prod_requires_approval ? (['production_deploy'] as const) : []),
      ...(sites.public && !exists ? (['public_exposure'] as const) : []),
    ];
    return {
      tool: name,
      summary: `promote ${args.site}: ${FROM} deployment ${staged.id} → ${TO} (${bucket}): copy ${copies.length}, delete ${deletes.length}`,
      mutating: true,
      operations: [
        ...setup.map(bucketOperation),
        ...copies.map((c) => ({
          action: 's3:CopyObject',
          target: bucket,
          params: { key: c.key, from: `${c.sourceBucket}@${c.sourceVersion}` },
        })),
        ...deletes.map((d) => ({ action: 's3:DeleteObject', target: bucket, params: { key: d.key } })),
      ],
      resources: [
        {
          arn,
          change: exists ? 'modify' : 'create',
          tags: exists ? tagRead.tags : null,
          unreadableWhy: tagRead.why,
          unreadableOutage: tagRead.outage,
        },
      ],
      tagsToSet: tags,
      costDeltaUsdMonth:
        price === null
          ? null
          : Math.ceil((bytes / 2 ** 30) * price.standard_gb_month * 100 + (copies.length / 1000) * price.put_per_1000 * 100) / 100,
      riskFlags,
      rollback: [
        ...setupRollback(setup),
        ...copies.map((c) => ({ action: 's3:RestoreVersion', target: bucket, params: { key: c.key, to: c.previous } })),
        ...deletes.map((d) => ({ action: 's3:RestoreVersion', target: bucket, params: { key: d.key, to: d.previous } })),
      ],
      preconditions: {
        staged_deployment: staged.id,
        staged_versions: versions,
        live_versions: Object.fromEntries([...contents.live].map(([k, v]) => [k, v.versionId])),
      },
      params: {
        bucket,
        setup,
        copies,
        deletes,
        stagedDeployment: staged.id,
        liveVersions: Object.fromEntries([...contents.live].map(([k, v]) => [k, v.versionId])),
        unchanged: Object.keys(versions).length - copies.length,
        websiteUrl: websiteUrl(bucket, region),
        healthUrl: sites.health_url ? siteHealthUrl(sites.health_url, args.site, TO, bucket, region) : null,
        healthTimeoutSeconds: sites.health_timeout_seconds,
      },
    };
  },
  async execute(plan, args, { aws, agent, ports }) {
    const eventId = currentApproval();
    const p = plan.params;
    const bucket = p.bucket;
    ports.deployments.start({
      id: eventId,
      project: agent.projectId,
      site: args.site,
      environment: TO,
      bucket,
      source: `promoted from ${p.stagedDeployment}`,
    });
    await runSetup(aws, p.setup);
    const created: { key: string; versionId: string }[] = [];
    const live: Record<string, string> = { ...p.liveVersions };
    let health: SiteHealth[] = [];
    let lost = false;
    try {
      for (const c of p.copies) {
        // The AWS layer re-reads the staging bucket's ownership (CopySource) as well as prod's before this copy.
        const out = await aws.s3.send(
          new CopyObjectCommand({
            Bucket: bucket,
            Key: c.key,
            CopySource: `${c.sourceBucket}/${encodeURIComponent(c.key).replaceAll('%2F', '/')}?versionId=${c.sourceVersion}`,
            // Written ahead with the bytes, as a deploy's uploads are: the version names the approval that made it.
            MetadataDirective: 'REPLACE',
            ContentType: c.contentType ?? undefined,
            CacheControl: c.cacheControl ?? undefined,
            Metadata: { sha256: c.sha256, [EVENT_METADATA]: eventId },
          }),
        );
        created.push({ key: c.key, versionId: out.VersionId ?? 'null' });
        live[c.key] = out.VersionId ?? 'null';
      }
      for (const d of p.deletes) {
        const out = await aws.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: d.key }));
        if (out.VersionId) created.push({ key: d.key, versionId: out.VersionId });
        delete live[d.key];
      }
      ports.deployments.noteCreated(eventId, created);
      health = await verifyRecorded(aws, bucket, live);
      if (p.healthUrl) health.push(await probeUrl(p.healthUrl, p.healthTimeoutSeconds));
    } catch (e) {
      lost = e instanceof OwnershipLost;
      health.push({ check: 'promote', ok: false, detail: (e as Error).message.split('\n')[0] });
    }
    await rollBackIfUnhealthy(
      aws,
      ports,
      { eventId, bucket, created, previous: p.liveVersions, health },
      `promotion failed its health check in ${TO}`,
      lost ? 'ownership' : 'health',
    );
    ports.deployments.finish(eventId, 'live', live, health);
    ports.notify({
      kind: 'promoted',
      subject: `${args.site} promoted from ${FROM} to ${TO}`,
      body: { deployment_id: eventId, promoted_from: p.stagedDeployment, bucket },
      eventId,
    });
    return resultOf(p, eventId, health);
  },
  /** After a crash: live (and humans told) if every copy and delete landed healthy, else what it wrote is undone. */
  async recover(plan, args, { aws, ports, approvalId }) {
    const p = plan.params;
    const r = await recoverSiteChange(aws, ports, approvalId, {
      bucket: p.bucket,
      writes: p.copies,
      deletes: p.deletes.map((x) => x.key),
      previous: p.liveVersions,
      healthUrl: p.healthUrl,
      healthTimeoutSeconds: p.healthTimeoutSeconds,
    });
    if (r.outcome !== 'completed') return r;
    ports.notify({
      kind: 'promoted',
      subject: `${args.site} promoted from ${FROM} to ${TO}`,
      body: { deployment_id: approvalId, promoted_from: p.stagedDeployment, bucket: p.bucket },
      eventId: approvalId,
    });
    return { outcome: 'completed', result: resultOf(p, approvalId, r.health), why: r.why };
  },
  desired: (plan) => bucketDesired(plan.params.setup),
  summarize: (o) => `promoted ${o.promoted_from} to ${o.bucket}: copied ${o.copied}, deleted ${o.deleted}, unchanged ${o.unchanged}`,
});

/** The ETag of the staged version of `key` (equal ETags mean prod already has those bytes). */
function stagedEtag(contents: BucketContents, key: string, versionId: string): string | undefined {
  const live = contents.live.get(key);
  return live && live.versionId === versionId ? live.etag : undefined;
}

function resultOf(p: z.infer<typeof params>, deploymentId: string, health: SiteHealth[]): z.infer<typeof output> {
  return {
    bucket: p.bucket,
    website_url: p.websiteUrl,
    deployment_id: deploymentId,
    promoted_from: p.stagedDeployment,
    copied: p.copies.length,
    deleted: p.deletes.length,
    unchanged: p.unchanged,
    health,
  };
}

/** Each staged version's headers and recorded SHA-256, read 16 at a time, so its copy carries them exactly. */
async function withHeaders(aws: AgentAws, copies: Omit<CopyParams, 'sha256' | 'contentType' | 'cacheControl'>[]): Promise<CopyParams[]> {
  const out: CopyParams[] = [];
  for (let i = 0; i < copies.length; i += 16)
    out.push(
      ...(await Promise.all(
        copies.slice(i, i + 16).map(async (c) => {
          const head = await aws.s3.send(new HeadObjectCommand({ Bucket: c.sourceBucket, Key: c.key, VersionId: c.sourceVersion }));
          const sha256 = head.Metadata?.sha256;
          if (!sha256)
            throw new Refusal(`${FROM} version ${c.sourceVersion} of ${c.key} has no recorded SHA-256; deploy ${FROM} again`, 'soak');
          return { ...c, sha256, contentType: head.ContentType ?? null, cacheControl: head.CacheControl ?? null };
        }),
      )),
    );
  return out;
}
