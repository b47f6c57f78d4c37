// verify_backups: each owned site restored from its live version set into a scratch bucket and hash-checked, each
// service's volumes checked for a fresh snapshot. Results are stored (wardenctl backups) and failures notified.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { readTags } from '../aws/tags.js';
import { currentApproval } from '../aws/write-gate.js';
import { removeScratchDatabase, verifyDatabase } from '../backups/database.js';
import { removeScratch, verifyService, verifySite, type Verification } from '../backups/verify.js';
import { readDatabase, readSnapshots, scratchDatabasePrefix } from '../databases/rds.js';
import { rdsHourly } from '../prices/prices.js';
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
    databases: z.array(
      z
        .object({
          database: z.string(),
          source: z.string(),
          snapshot: z.string(),
          snapshotAt: z.string().nullable(),
          snapshotGb: z.number(),
          engine: z.string(),
          scratch: z.string(),
          instanceClass: z.string(),
        })
        .strict(),
    ),
    services: z.array(z.string()),
    skipped: z.array(z.object({ subject: z.string(), why: z.string() }).strict()),
    maxSnapshotAgeHours: z.number(),
    restoreTimeoutMinutes: z.number(),
    restorePollSeconds: z.number(),
  })
  .strict();
type Params = z.infer<typeof params>;

export const verifyBackups = defineTool({
  name,
  title: 'Verify backups and restores',
  description:
    'For each site your project deployed: versioning is on, the live objects are the deployed versions, and restoring that version set into a scratch bucket (removed afterwards) reproduces every object’s SHA-256. For each declared database: its newest snapshot restored into a scratch instance (the cheapest allowed class, removed afterwards, also on failure) becomes available with the same engine and storage, from a snapshot within the policy’s age. For each service: every volume has a snapshot within the policy’s age. Results are kept (wardenctl backups) and failures notified.',
  input: z.object({}).strict(),
  output,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  params,
  iam: {
    read: ['ec2:DescribeInstances', 'ec2:DescribeVolumes', 'ec2:DescribeSnapshots', 'rds:DescribeDBInstances', 'rds:DescribeDBSnapshots'],
    scratch_db: ['rds:RestoreDBInstanceFromDBSnapshot', 'rds:AddTagsToResource', 'rds:DeleteDBInstance'],
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
    const region = await aws.rds.config.region();
    const databases: Params['databases'] = [];
    let restoreCents = 0;
    for (const [db, declared] of Object.entries(agent.project.databases)) {
      const subject = `database/${db}`;
      const state = await readDatabase(aws, declared.identifier);
      // As with sites: one not (or no longer) the project's is not read, and reported as a failed check.
      if (state?.tags.ProjectId !== agent.projectId) {
        skipped.push({
          subject,
          why: `${declared.identifier} is ${state ? `not owned by ${agent.projectId} (ProjectId ${state.tags.ProjectId === undefined ? 'missing' : `"${state.tags.ProjectId}"`})` : 'not in this account and region'}; not read`,
        });
        continue;
      }
      resources.push({ arn: state.arn, change: 'read', tags: state.tags });
      const snapshot = (await readSnapshots(aws, declared.identifier)).find((x) => x.status === 'available');
      if (!snapshot) {
        skipped.push({ subject, why: `${declared.identifier} has no available snapshot to restore` });
        continue;
      }
      // The cheapest allowed class restores it: the test checks the backup, not the production size.
      const instanceClass = [...declared.instance_classes].sort(
        (a, b) => (rdsHourly(region, state.engine, a) ?? Infinity) - (rdsHourly(region, state.engine, b) ?? Infinity),
      )[0];
      const scratch = `${scratchDatabasePrefix(agent.projectId)}${randomBytes(4).toString('hex')}`;
      const hourly = rdsHourly(region, state.engine, instanceClass);
      restoreCents +=
        hourly === null ? NaN : Math.ceil(hourly * 100 * Math.max(1, Math.ceil(agent.project.backups.restore_timeout_minutes / 60)));
      resources.push({ arn: `arn:aws:rds:${region}:${state.arn.split(':')[4] ?? ''}:db:${scratch}`, change: 'create', tags: null });
      databases.push({
        database: db,
        source: declared.identifier,
        snapshot: snapshot.id,
        snapshotAt: snapshot.created_at,
        snapshotGb: snapshot.storage_gb,
        engine: state.engine,
        scratch,
        instanceClass,
      });
      operations.push(
        {
          action: 'rds:RestoreDBInstanceFromDBSnapshot',
          target: scratch,
          params: { snapshot: snapshot.id, instance_class: instanceClass },
        },
        { action: 'rds:DeleteDBInstance', target: scratch },
      );
    }
    const services = Object.keys(agent.project.services);
    return {
      tool: name,
      summary: `verify ${sites.length} site deployment(s) by restore into scratch buckets, ${databases.length} database(s) by restore into scratch instances and ${services.length} service(s) by snapshot age`,
      mutating: true,
      operations,
      resources,
      tagsToSet: { ProjectId: agent.projectId, AgentId: agent.id, ManagedBy: 'aws-warden' },
      costDeltaUsdMonth: 0,
      riskFlags: [],
      rollback: operations.filter((o) => o.action === 's3:CreateBucket').map((o) => ({ action: 's3:DeleteBucket', target: o.target })),
      preconditions: {
        sites: sites.map((d) => d.id),
        databases: databases.map((d) => `${d.database} from ${d.snapshot} as ${d.scratch} (${d.instanceClass})`),
        // A one-off cost, not a run-rate: the scratch instances exist for the test only.
        database_restore_cost_usd_at_most: databases.length ? (Number.isNaN(restoreCents) ? null : restoreCents / 100) : 0,
        services,
        skipped,
      },
      params: {
        sites: restores,
        databases,
        services,
        skipped,
        maxSnapshotAgeHours: agent.project.backups.max_snapshot_age_hours,
        restoreTimeoutMinutes: agent.project.backups.restore_timeout_minutes,
        restorePollSeconds: agent.project.backups.restore_poll_seconds,
      },
    };
  },
  async execute(plan, _args, { aws, agent, ports, progress, signal }) {
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
    for (const d of p.databases)
      try {
        results.push(
          await verifyDatabase(aws, d, {
            tags: { ...plan.tagsToSet, WardenEvent: eventId, Purpose: 'restore-check', Database: d.database },
            now: ports.clock(),
            maxAgeHours: p.maxSnapshotAgeHours,
            timeoutMinutes: p.restoreTimeoutMinutes,
            pollSeconds: p.restorePollSeconds,
            signal,
            progress: (waited, total) =>
              progress(waited, total, `restoring ${d.database} into ${d.scratch}: waited ${waited} s (at most ${total} s)`),
          }),
        );
      } catch (e) {
        results.push({
          subject: `database/${d.database}`,
          ok: false,
          checks: 0,
          failures: [`restore failed: ${(e as Error).name}: ${(e as Error).message.split('\n')[0]}`],
        });
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
    const scratches = [
      ...plan.params.sites.map((x) => ({ id: x.scratch, remove: () => removeScratch(aws, x.scratch) })),
      ...plan.params.databases.map((x) => ({ id: x.scratch, remove: () => removeScratchDatabase(aws, x.scratch) })),
    ];
    for (const { id, remove } of scratches)
      try {
        if (await remove()) removed.push(id);
      } catch (e) {
        left.push({ bucket: id, why: `${(e as Error).name}: ${(e as Error).message.split('\n')[0]}` });
      }
    if (left.length)
      throw new RollbackIncomplete(
        `was interrupted, and ${left.length} scratch bucket(s) or instance(s) could not be removed after a restart (${left.map((l) => `${l.bucket}: ${l.why}`).join('; ')}). A human has been notified and must delete them`,
        { left },
      );
    const recorded = ports.backups.ofEvent(approvalId);
    const gone = `${removed.length} scratch bucket(s) and instance(s) left by the crash removed`;
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
