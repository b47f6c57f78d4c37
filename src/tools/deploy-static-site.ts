// deploy_static_site: sync an allowed directory into the site's own bucket, health-check it, and roll back by itself.
import { bucketDesired } from '../drift/record.js';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { z } from 'zod';
import { accountOf } from '../aws/arn.js';
import { readTags } from '../aws/tags.js';
import { currentApproval, OwnershipLost } from '../aws/write-gate.js';
import { tagSetProblems } from '../guard/tag-rules.js';
import type { RiskFlag } from '../guard/types.js';
import { monthlyCentsFromGbMonth, s3Prices } from '../prices/prices.js';
import { bucketName, readContents, SITE_BUCKET_ACTIONS, type BucketContents, websiteUrl } from '../sites/bucket.js';
import { bucketOperation, bucketStep, setupSteps, siteHealthUrl } from '../sites/ops.js';
import { EVENT_METADATA, rollBackIfUnhealthy, runSetup, setupRollback } from '../sites/restore.js';
import { recoverSiteChange } from '../sites/recover.js';
import { checkUploads, probeUrl, type SiteHealth, type Uploaded } from '../sites/health.js';
import { MULTIPART_BYTES, PART_BYTES } from '../sites/parts.js';
import { boundStream, ContentChanged } from '../sites/bound-stream.js';
import { scanSource } from '../sites/source.js';
import { Refusal } from '../core/errors.js';
import { defineTool, type Recovered } from './tool.js';

export const name = 'deploy_static_site';

const GB = 2 ** 30;
/** Tags the server sets on a site bucket. */
const SERVER_BUCKET_TAGS = 5;

const input = z
  .object({
    site: z.string().regex(/^[a-z0-9-]{3,40}$/, 'a short name: 3-40 of a-z, 0-9 and -'),
    source_dir: z.string().min(1).max(4096).describe("a directory under one of the policy's sites.roots"),
    environment: z.string().regex(/^[a-z][a-z0-9-]{1,39}$/, "one of the project's environments (get_status lists them)"),
    index_document: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[^/][\w./-]*$/, 'a relative file name such as index.html')
      .default('index.html'),
    error_document: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[^/][\w./-]*$/, 'a relative file name such as 404.html')
      .optional(),
    tags: z
      .record(z.string(), z.string())
      .default({})
      .describe("extra tags for the bucket (keys: ASCII letters, digits, spaces and + - = . _ : / @); ownership keys are the server's"),
  })
  .strict()
  .superRefine((a, ctx) => {
    // The server adds its own five (ProjectId, AgentId, ManagedBy, Site, Environment): they count toward AWS's 50.
    for (const p of tagSetProblems(a.tags, SERVER_BUCKET_TAGS))
      ctx.addIssue({ code: 'custom', path: ['tags', ...p.path], message: p.message });
  });

const output = z.object({
  bucket: z.string(),
  website_url: z.string(),
  deployment_id: z.string(),
  put: z.number(),
  deleted: z.number(),
  unchanged: z.number(),
  bytes_uploaded: z.number(),
  skipped: z.array(z.object({ path: z.string(), why: z.string() })).describe('the first 50 files not deployed, by path'),
  skipped_count: z.number().describe('how many files were not deployed in all'),
  health: z.array(z.object({ check: z.string(), ok: z.boolean(), detail: z.string() })),
});

const putStep = z
  .object({
    key: z.string(),
    path: z.string(),
    size: z.number(),
    sha256: z.string(),
    /** S3's checksum of the multipart object a large file becomes (absent in plans made before it was planned). */
    sha256Parts: z.string().optional(),
    contentType: z.string(),
    previous: z.string().nullable(),
  })
  .strict();
type PutParams = z.infer<typeof putStep>;

/** Everything the deploy sends and checks, fixed at planning time. */
const params = z
  .object({
    bucket: z.string(),
    setup: z.array(bucketStep),
    puts: z.array(putStep),
    deletes: z.array(z.object({ key: z.string(), previous: z.string() }).strict()),
    liveVersions: z.record(z.string(), z.string()),
    allVersionBytes: z.number(),
    region: z.string(),
    skipped: z.array(z.object({ path: z.string(), why: z.string() }).strict()),
    skippedCount: z.number(),
    unchanged: z.number(),
    websiteUrl: z.string(),
    cacheControl: z.string(),
    /** The URL that must answer after the upload ({site}… already filled in), and how long it may take. */
    healthUrl: z.string().nullable(),
    healthTimeoutSeconds: z.number(),
  })
  .strict();
type DeployParams = z.infer<typeof params>;

export const deployStaticSite = defineTool({
  name,
  title: 'Deploy a static site',
  description:
    "Syncs a directory (under the policy's sites.roots) into the site's own bucket for an environment: uploads new and changed files, removes files that are gone, checks every object reads back with the right hash and that the site URL answers, and restores every key to its previous version by itself if not. The bucket name is derived by the server.",
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  params,
  iam: { s3: [...SITE_BUCKET_ACTIONS] },
  environmentOf: (args) => args.environment,
  lockKey: (args, agent) => `site:${agent.projectId}:${args.site}:${args.environment}`,
  async plan(args, { aws, agent }) {
    const sites = agent.project.sites;
    if (!agent.project.environments.includes(args.environment))
      throw new Refusal(
        `environment "${args.environment}" is not one of project ${agent.projectId}'s (${agent.project.environments.join(', ')})`,
      );
    const source = await scanSource(args.source_dir, sites);
    if (!source.files.some((f) => f.key === args.index_document))
      throw new Refusal(`source_dir ${args.source_dir} has no ${args.index_document} (index_document)`);
    const region = await aws.s3.config.region();
    const account = accountOf(aws.session.assumedRoleArn) ?? '';
    const bucket = bucketName(account, agent.projectId, args.site, args.environment);
    const arn = `arn:aws:s3:::${bucket}`;
    const tagRead = await readTags(aws, arn);
    const exists = !(tagRead.tags === null && /NoSuchBucket/.test(tagRead.why ?? ''));
    // Contents are read only from a bucket the guard can own; another project's is denied before it matters.
    let contents: BucketContents = { live: new Map(), allVersionBytes: 0 };
    if (exists && tagRead.tags?.ProjectId === agent.projectId) contents = await readContents(aws, bucket);

    // A single-part object's ETag is its MD5; a multipart one's is not, so its recorded sha256 decides.
    const multipartSame = new Set<string>();
    for (const f of source.files) {
      const live = contents.live.get(f.key);
      if (live?.etag.includes('-')) {
        const head = await aws.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: f.key, VersionId: live.versionId }));
        if (head.Metadata?.sha256 === f.sha256) multipartSame.add(f.key);
      }
    }
    const puts: PutParams[] = source.files
      .filter((f) => contents.live.get(f.key)?.etag !== f.md5 && !multipartSame.has(f.key))
      .map((f) => ({
        key: f.key,
        path: f.path,
        size: f.size,
        sha256: f.sha256,
        ...(f.sha256Parts ? { sha256Parts: f.sha256Parts } : {}),
        contentType: f.contentType,
        previous: contents.live.get(f.key)?.versionId ?? null,
      }));
    const keep = new Set(source.files.map((f) => f.key));
    const deletes = [...contents.live].filter(([k]) => !keep.has(k)).map(([key, v]) => ({ key, previous: v.versionId }));
    // Server tags last: an agent's extra tags can never overwrite them.
    const tags = {
      ...args.tags,
      ProjectId: agent.projectId,
      AgentId: agent.id,
      ManagedBy: 'aws-warden',
      Site: args.site,
      Environment: args.environment,
    };
    const setup = setupSteps(bucket, exists, {
      region,
      tags,
      public: sites.public,
      index: args.index_document,
      error: args.error_document ?? null,
    });
    const price = s3Prices(region);
    const putBytes = puts.reduce((s, p) => s + p.size, 0);
    const riskFlags: RiskFlag[] = sites.public && !exists ? ['public_exposure'] : [];
    return {
      tool: name,
      summary: `${args.site} → ${args.environment} (${bucket}): put ${puts.length}, delete ${deletes.length}, unchanged ${source.files.length - puts.length}`,
      mutating: true,
      operations: [
        ...setup.map(bucketOperation),
        ...puts.map((p) => ({ action: 's3:PutObject', target: bucket, params: { key: p.key, size: p.size, sha256: p.sha256 } })),
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
      // Versioning keeps old versions, so storage grows by every byte put; requests are counted once, rounded up.
      costDeltaUsdMonth:
        price === null
          ? null
          : (monthlyCentsFromGbMonth(putBytes / GB, price.standard_gb_month) + Math.ceil((puts.length / 1000) * price.put_per_1000 * 100)) /
            100,
      riskFlags,
      rollback: [
        ...setupRollback(setup),
        ...puts.map((p) => ({ action: 's3:RestoreVersion', target: bucket, params: { key: p.key, to: p.previous } })),
        ...deletes.map((d) => ({ action: 's3:RestoreVersion', target: bucket, params: { key: d.key, to: d.previous } })),
      ],
      preconditions: { live_versions: Object.fromEntries([...contents.live].map(([k, v]) => [k, v.versionId])) },
      params: {
        bucket,
        setup,
        puts,
        deletes,
        liveVersions: Object.fromEntries([...contents.live].map(([k, v]) => [k, v.versionId])),
        allVersionBytes: contents.allVersionBytes,
        region,
        skipped: source.skipped,
        skippedCount: source.skippedCount,
        unchanged: source.files.length - puts.length,
        websiteUrl: websiteUrl(bucket, region),
        cacheControl: sites.cache_control,
        healthUrl: sites.health_url ? siteHealthUrl(sites.health_url, args.site, args.environment, bucket, region) : null,
        healthTimeoutSeconds: sites.health_timeout_seconds,
      },
    };
  },
  async execute(plan, args, { aws, agent, ports, progress }) {
    const eventId = currentApproval();
    const p = plan.params;
    const bucket = p.bucket;
    ports.deployments.start({
      id: eventId,
      project: agent.projectId,
      site: args.site,
      environment: args.environment,
      bucket,
      source: args.source_dir,
    });
    await runSetup(aws, p.setup);

    const created: { key: string; versionId: string }[] = [];
    const uploaded: Uploaded[] = [];
    let health: SiteHealth[] = [];
    let lost = false;
    try {
      for (let i = 0; i < p.puts.length; i += 8) {
        // Every upload of the batch settles before anything is decided, so a rollback knows each version written.
        const batch = await Promise.allSettled(p.puts.slice(i, i + 8).map((put) => upload(aws, bucket, put, p.cacheControl, eventId)));
        for (const [j, r] of batch.entries()) {
          if (r.status !== 'fulfilled') continue;
          created.push({ key: p.puts[i + j].key, versionId: r.value.versionId });
          uploaded.push({ ...p.puts[i + j], versionId: r.value.versionId, reported: r.value.checksum });
        }
        ports.deployments.noteCreated(eventId, created);
        const failed = batch.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
        const filesDone = Math.min(i + 8, p.puts.length);
        const mb = (n: number) => (n / 1_048_576).toFixed(1);
        await progress(
          filesDone,
          p.puts.length + p.deletes.length,
          `uploaded ${filesDone}/${p.puts.length} files, ${mb(p.puts.slice(0, filesDone).reduce((s, x) => s + x.size, 0))} of ${mb(p.puts.reduce((s, x) => s + x.size, 0))} MB`,
        );
      }
      for (const d of p.deletes) {
        const out = await aws.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: d.key }));
        if (out.VersionId) created.push({ key: d.key, versionId: out.VersionId });
        ports.deployments.noteCreated(eventId, created);
      }
      // S3's own checksum of each object it stored, against the plan's; only an object it reported none for is read back.
      health = await checkUploads(aws, bucket, uploaded);
      if (p.healthUrl) health.push(await probeUrl(p.healthUrl, p.healthTimeoutSeconds));
    } catch (e) {
      lost = e instanceof OwnershipLost;
      health.push({ check: 'deploy', ok: false, detail: (e as Error).message.split('\n')[0] });
    }
    await rollBackIfUnhealthy(
      aws,
      ports,
      { eventId, bucket, created, previous: p.liveVersions, health },
      'failed its health check',
      lost ? 'ownership' : 'health',
    );
    const versions: Record<string, string> = { ...p.liveVersions };
    for (const d of p.deletes) delete versions[d.key];
    for (const u of uploaded) versions[u.key] = u.versionId;
    ports.deployments.finish(eventId, 'live', versions, health);
    return resultOf(p, eventId, health);
  },
  /** After a crash: live if every planned write landed healthy, else exactly what this approval wrote is undone. */
  async recover(plan, _args, { aws, ports, approvalId }): Promise<Recovered<z.infer<typeof output>>> {
    const p = plan.params;
    const r = await recoverSiteChange(aws, ports, approvalId, {
      bucket: p.bucket,
      writes: p.puts,
      deletes: p.deletes.map((x) => x.key),
      previous: p.liveVersions,
      healthUrl: p.healthUrl,
      healthTimeoutSeconds: p.healthTimeoutSeconds,
    });
    return r.outcome === 'completed' ? { outcome: 'completed', result: resultOf(p, approvalId, r.health), why: r.why } : r;
  },
  ledger(plan) {
    const p = plan.params;
    const price = s3Prices(p.region);
    const bytes = p.allVersionBytes + p.puts.reduce((s, x) => s + x.size, 0);
    const cents = price ? monthlyCentsFromGbMonth(bytes / GB, price.standard_gb_month) : null;
    const arn = `arn:aws:s3:::${p.bucket}`;
    // The bucket's run-rate is its whole stored size: replace the row rather than add to it.
    return {
      remove: [arn],
      add: [
        {
          arn,
          description: `site bucket, ${(bytes / 2 ** 20).toFixed(1)} MiB stored`,
          hourlyUsd: cents === null ? null : cents / 100 / 730,
          centsMonth: cents,
        },
      ],
    };
  },
  desired: (plan) => bucketDesired(plan.params.setup),
  summarize: (o) => `deployed to ${o.bucket}: put ${o.put}, deleted ${o.deleted}, unchanged ${o.unchanged}; ${o.website_url}`,
});

function resultOf(p: DeployParams, deploymentId: string, health: SiteHealth[]) {
  return {
    bucket: p.bucket,
    website_url: p.websiteUrl,
    deployment_id: deploymentId,
    put: p.puts.length,
    deleted: p.deletes.length,
    unchanged: p.unchanged,
    bytes_uploaded: p.puts.reduce((s, x) => s + x.size, 0),
    skipped: p.skipped,
    skipped_count: p.skippedCount,
    health,
  };
}

/** Uploads one file; the bytes sent must be the bytes planned (a file changed since planning fails the deploy). */
async function upload(
  aws: import('../aws/clients.js').AgentAws,
  bucket: string,
  p: PutParams,
  cacheControl: string,
  eventId: string,
): Promise<{ versionId: string; checksum?: string }> {
  // Written ahead with the bytes: the version itself names the approval, so recovery finds it even if it was never recorded.
  const common = {
    Bucket: bucket,
    Key: p.key,
    ContentType: p.contentType,
    CacheControl: cacheControl,
    Metadata: { sha256: p.sha256, [EVENT_METADATA]: eventId },
  };
  if (p.size > MULTIPART_BYTES) {
    // Large files go up in parts, read through a stream that fails before the last part if the bytes are not the plan's;
    // each part carries its SHA-256, which S3 checks (a full-object SHA-256 is not offered for multipart uploads).
    const out = (await new Upload({
      client: aws.s3,
      params: { ...common, Body: boundStream(p.path, p.key, p.sha256, p.size), ChecksumAlgorithm: 'SHA256' },
      queueSize: 4,
      partSize: PART_BYTES,
    }).done()) as { VersionId?: string; ChecksumSHA256?: string };
    const versionId = out.VersionId ?? 'null';
    if (out.ChecksumSHA256) return { versionId, checksum: out.ChecksumSHA256 };
    // Not in the completion's answer: S3 reports the stored checksum on a HEAD that asks for it.
    const head = await aws.s3.send(
      new HeadObjectCommand({
        Bucket: bucket,
        Key: p.key,
        ...(out.VersionId ? { VersionId: out.VersionId } : {}),
        ChecksumMode: 'ENABLED',
      }),
    );
    return { versionId, checksum: head.ChecksumSHA256 };
  }
  const body = await readNoFollow(p.path, p.key);
  if (createHash('sha256').update(body).digest('hex') !== p.sha256)
    throw new ContentChanged(`${p.key} changed since the deploy was planned; not uploaded`);
  // S3 refuses the object unless its bytes hash to the plan's SHA-256, and reports the checksum it stored: the plan binds
  // what is stored, not just what was read.
  const out = await aws.s3.send(
    new PutObjectCommand({
      ...common,
      Body: body,
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: Buffer.from(p.sha256, 'hex').toString('base64'),
    }),
  );
  return { versionId: out.VersionId ?? 'null', checksum: out.ChecksumSHA256 };
}

/** A small file's bytes, refusing a symlink swapped in after planning. */
async function readNoFollow(path: string, key: string): Promise<Buffer> {
  try {
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (e) {
    throw new ContentChanged(
      `${key} cannot be read as planned (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); not uploaded`,
    );
  }
}
