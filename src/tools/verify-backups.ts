// verify_backups: each owned site restored from its live version set into a scratch bucket and hash-checked, each
// service's volumes checked for a fresh snapshot. Results are stored (wardenctl backups) and failures notified.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { readTags } from '../aws/tags.js';
import { currentApproval } from '../aws/write-gate.js';
import { removeScratch, verifyService, verifySite, type Verification } from '../backups/verify.js';
import { RollbackIncomplete } from '../core/errors.js';
import type { PlannedOperation, TouchedResource } from '../guard/types.js';
import { scratchBucketPrefix } from '../sites/bucket.js';
import { defineTool } from './tool.js';

export const name = 'verify_backups';

const verification = z.object({ subject: z.string(), ok: z.boolean(), checks: z.number(), failures: z.array(z.string()) });
const output = z.object({ project: z.string(), ok: z.boolean(), results: z.array(verification) });

/** A scratch bucket name: restore-<project>--… are the only buckets an agent role may delete (see src/iam/render.ts). */
const scratchName = (project: string) => `${scratchBucketPrefix(project)}${randomBytes(4).toString('hex')}`;

const params = z
  .object({
    sites: z.array(z.object({ deployment: z.string(), scratch: z.string(), site: z.string(), environment: z.string() }).strict()),
    services: z.array(z.string()),
    skipped: z.array(z.object({ subject: z.string(), why: z.string() }).strict()),
    maxSnapshotAgeHours: z.number(),
  })
  .strict();

export const verifyBackups = defineTool({
  name,
  title: 'Verify backups and restores',
  description:
    'For each site your project deployed: versioning is on, the live objects are the deployed versions, and restoring that version set into a scratch bucket (removed afterwards) reproduces every object’s SHA-256. For each service: every volume has a snapshot within the policy’s age. Results are kept (wardenctl backups) and failures notified.',
  input: z.object({}).strict(),
  output,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  params,
  iam: {
    read: ['ec2:DescribeInstances', 'ec2:DescribeVolumes', 'ec2:DescribeSnapshots'],
    s3: ['s3:GetBucketTagging', 's3:GetBucketVersioning', 's3:ListBucketVersions', 's3:GetObject', 's3:GetObjectVersion'],
    scratch: [
      's3:CreateBucket',
      's3:PutBucketTagging',
      's3:PutObject',
      's3:GetObject',
      's3:ListBucketVersions',
      's3:DeleteObjectVersion',
      's3:DeleteBucket',
    ],
  },
  lockKey: (_a, agent) => `backups:${agent.projectId}`,
  async plan(_args, { aws, agent, ports }) {
    const sites = ports.deployments.allLive(agent.projectId);
    const resources: TouchedResource[] = [];
    const operations: PlannedOperation[] = [];
    const skipped: { subject: string; why: string }[] = [];
    const restores: z.infer<typeof params>['sites'] = [];
    for (const d of sites) {
      const arn = `arn:aws:s3:::${d.bucket}`;
      const read = await readTags(aws, arn);
      // A bucket retagged to another project (or gone) is not read, and reported as a failed check: the periodic job
      // must not turn someone else's retagging into this agent's boundary escape.
      if (read.tags?.ProjectId !== agent.projectId) {
        const why = read.tags
          ? `ProjectId is ${read.tags.ProjectId === undefined ? 'missing' : `"${read.tags.ProjectId}"`}`
          : (read.why ?? 'tags unreadable');
        skipped.push({
          subject: `site/${d.site}/${d.environment}`,
          why: `${d.bucket} is no longer owned by ${agent.projectId} (${why}); not read`,
        });
        continue;
      }
      resources.push({ arn, change: 'read', tags: read.tags });
      const scratch = scratchName(agent.projectId);
      resources.push({ arn: `arn:aws:s3:::${scratch}`, change: 'create', tags: null });
      restores.push({ deployment: d.id, scratch, site: d.site, environment: d.environment });
      operations.push(
        { action: 's3:CreateBucket', target: scratch, params: { restore_of: d.id, site: d.site, environment: d.environment } },
        { action: 's3:PutBucketTagging', target: scratch },
        {
          action: 's3:CopyObject',
          target: scratch,
          params: { from: d.bucket, objects: Object.keys(JSON.parse(d.versions) as object).length },
        },
        { action: 's3:DeleteObjectVersion', target: scratch, params: { all: true } },
        { action: 's3:DeleteBucket', target: scratch },
      );
    }
    const services = Object.keys(agent.project.services);
    return {
      tool: name,
      summary: `verify ${sites.length} site deployment(s) by restore into scratch buckets and ${services.length} service(s) by snapshot age`,
      mutating: true,
      operations,
      resources,
      tagsToSet: { ProjectId: agent.projectId, AgentId: agent.id, ManagedBy: 'aws-warden' },
      costDeltaUsdMonth: 0,
      riskFlags: [],
      rollback: operations.filter((o) => o.action === 's3:CreateBucket').map((o) => ({ action: 's3:DeleteBucket', target: o.target })),
      preconditions: { sites: sites.map((d) => d.id), services, skipped },
      params: { sites: restores, services, skipped, maxSnapshotAgeHours: agent.project.backups.max_snapshot_age_hours },
    };
  },
  async execute(plan, _args, { aws, agent, ports, progress }) {
    const eventId = currentApproval();
    const p = plan.params;
    const results: Verification[] = p.skipped.map((x) => ({ subject: x.subject, ok: false, checks: 0, failures: [x.why] }));
    for (const r of p.sites) {
      const d = ports.deployments.get(r.deployment);
      const subject = `site/${r.site}/${r.environment}`;
      if (!d) {
        results.push({ subject, ok: false, checks: 0, failures: [`deployment ${r.deployment} is no longer recorded`] });
        continue;
      }
      const tags = { ...plan.tagsToSet, WardenEvent: eventId, Purpose: 'restore-check' };
      try {
        results.push(
          await verifySite(aws, d, r.scratch, tags, (done, total) =>
            progress(done, total, `restored ${done}/${total} objects of ${r.site}/${r.environment}`),
          ),
        );
      } catch (e) {
        results.push({
          subject,
          ok: false,
          checks: 0,
          failures: [`restore failed: ${(e as Error).name}: ${(e as Error).message.split('\n')[0]}`],
        });
      }
    }
    for (const service of p.services)
      results.push(await verifyService(aws, agent.projectId, service, p.maxSnapshotAgeHours, ports.clock()));
    ports.backups.recordAll(
      agent.projectId,
      eventId,
      results.map((r) => ({ subject: r.subject, ok: r.ok, detail: { checks: r.checks, failures: r.failures } })),
    );
    const failed = results.filter((r) => !r.ok);
    if (failed.length)
      ports.notify({
        kind: 'backup_failed',
        subject: `backup verification failed for ${failed.map((r) => r.subject).join(', ')}`,
        body: { failed },
        eventId,
      });
    return { project: agent.projectId, ok: failed.length === 0, results };
  },
  /**
   * After a crash: every planned scratch bucket still there is emptied and removed, so no restore copy outlives the
   * check; the verification is completed with its results if they were recorded before the crash, else undone.
   */
  async recover(plan, _args, { aws, agent, ports, approvalId }) {
    const removed: string[] = [];
    const left: { bucket: string; why: string }[] = [];
    for (const { scratch } of plan.params.sites)
      try {
        if (await removeScratch(aws, scratch)) removed.push(scratch);
      } catch (e) {
        left.push({ bucket: scratch, why: `${(e as Error).name}: ${(e as Error).message.split('\n')[0]}` });
      }
    if (left.length)
      throw new RollbackIncomplete(
        `was interrupted, and ${left.length} scratch bucket(s) could not be removed after a restart (${left.map((l) => `${l.bucket}: ${l.why}`).join('; ')}). A human has been notified and must delete them`,
        { left },
      );
    const recorded = ports.backups.ofEvent(approvalId);
    const gone = `${removed.length} scratch bucket(s) left by the crash removed`;
    if (recorded.length === 0)
      return {
        outcome: 'undone' as const,
        why: `it stopped before its results were recorded; ${gone} — call verify_backups again`,
        detail: { removed },
      };
    const results = recorded.map((r) => ({
      subject: r.subject,
      ok: r.ok === 1,
      ...(JSON.parse(r.detail) as { checks: number; failures: string[] }),
    }));
    return {
      outcome: 'completed' as const,
      result: { project: agent.projectId, ok: results.every((r) => r.ok), results },
      why: `its results were recorded before the crash; ${gone}`,
    };
  },
  summarize: (o) =>
    `${o.ok ? 'backups verified' : 'BACKUP VERIFICATION FAILED'} for ${o.project}: ${o.results.map((r) => `${r.subject} ${r.ok ? 'ok' : `failed (${r.failures.length})`}`).join(', ') || 'nothing to verify'}`,
});
