// verify_backups restores each declared database: its newest snapshot into a scratch instance of the cheapest
// allowed class, checked, then deleted — when the check passes, when the snapshot is too old, and after a kill -9
// during the wait for the restore (recovery deletes it).
import { CreateDBSnapshotCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveAgent } from '../src/core/agent.js';
import { scratchDatabasePrefix } from '../src/databases/rds.js';
import { loadPolicyFile } from '../src/policy/load.js';
import { awsFor } from '../src/registry/agent-aws.js';
import { recoverOpenApprovals } from '../src/registry/recover.js';
import { Store } from '../src/store/store.js';
import { toolNames } from '../src/tools/index.js';
import { useFaultProxy } from './helpers/fault-proxy.js';
import { call, connect, world, type Harness } from './helpers/harness.js';
import { ownedDatabase } from './helpers/samples.js';
import { serve, until } from './helpers/served.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

const rds = () => new RDSClient({ endpoint: process.env.AWS_ENDPOINT_URL });
const DATABASE = `    databases:\n      orders: { identifier: "{project}-orders", engine: postgres, instance_classes: [db.t3.small, db.t3.micro], max_storage_gb: 100, environment: prod }\n    backups: { max_snapshot_age_hours: 26, restore_poll_seconds: 0.2, restore_timeout_minutes: 1 }`;

async function withSnapshot(project: string) {
  const id = await ownedDatabase(project);
  await rds().send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: id, DBSnapshotIdentifier: `${id}-nightly` }));
  return id;
}

/** The scratch instances of `project` that exist now. */
const scratches = async (project: string) =>
  ((await rds().send(new DescribeDBInstancesCommand({}))).DBInstances ?? [])
    .map((d) => d.DBInstanceIdentifier ?? '')
    .filter((id) => id.startsWith(scratchDatabasePrefix(project)));

type Result = { ok: boolean; results: { subject: string; ok: boolean; failures: string[] }[] };

describe('verify_backups restores databases', () => {
  it('restores the newest snapshot into the cheapest allowed class, checks it, deletes it, and says what it costs', async () => {
    const w = world({ projectYaml: DATABASE });
    await withSnapshot(w.project);
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const dry = await call(h.client, 'verify_backups', { dry_run: true });
    const plan = (
      dry.structured as {
        plan: { operations: { action: string; params?: Record<string, unknown> }[]; preconditions: Record<string, unknown> };
      }
    ).plan;
    expect(plan.operations.find((o) => o.action === 'rds:RestoreDBInstanceFromDBSnapshot')?.params).toEqual({
      snapshot: `${w.project}-orders-nightly`,
      instance_class: 'db.t3.micro',
    });
    // One hour of db.t3.micro postgres at most: 1.8 cents, up to 2.
    expect(plan.preconditions.database_restore_cost_usd_at_most).toBe(0.02);
    const r = await call(h.client, 'verify_backups', {});
    expect(r.isError, r.text).toBeFalsy();
    const result = r.structured?.result as Result;
    expect(result.results.find((x) => x.subject === 'database/orders')).toMatchObject({ ok: true, failures: [] });
    expect(await scratches(w.project)).toEqual([]);
    expect(h.writes().map((c) => c.command)).toEqual(expect.arrayContaining(['RestoreDBInstanceFromDBSnapshot', 'DeleteDBInstance']));
  });

  it('fails when the newest snapshot is older than the policy allows, and still deletes the scratch instance', async () => {
    const w = world({ projectYaml: DATABASE });
    await withSnapshot(w.project);
    const later = new Date(Date.now() + 48 * 3_600_000);
    const h = await connect(w.policy, w.agent, { store: Store.open(':memory:', { clock: () => later }) });
    open.push(h);
    const r = await call(h.client, 'verify_backups', {});
    const db = (r.structured?.result as Result).results.find((x) => x.subject === 'database/orders');
    expect(db?.ok).toBe(false);
    expect(db?.failures).toEqual([expect.stringMatching(/newest snapshot .*-orders-nightly is 4[78] h old \(at most 26 h\)/)]);
    expect(await scratches(w.project)).toEqual([]);
  });

  it('a database that is not the project’s is a failed check, not read and nothing restored', async () => {
    const w = world({ projectYaml: DATABASE });
    await ownedDatabase(w.project, { ProjectId: w.other });
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const r = await call(h.client, 'verify_backups', {});
    expect((r.structured?.result as Result).results.find((x) => x.subject === 'database/orders')).toMatchObject({
      ok: false,
      failures: [expect.stringMatching(new RegExp(`-orders is not owned by ${w.project} \\(ProjectId "${w.other}"\\); not read`))],
    });
    expect(h.sent.map((c) => c.command)).not.toContain('DescribeDBSnapshots');
    expect(h.writes().map((c) => c.command)).not.toContain('RestoreDBInstanceFromDBSnapshot');
  });
});

describe('verify_backups killed -9 while it waits for a restore', () => {
  const proxyOf = useFaultProxy('RDS');
  it('recovery deletes the scratch instance and settles the approval', { timeout: 120_000 }, async () => {
    const proxy = proxyOf();
    const w = world({ projectYaml: DATABASE });
    await withSnapshot(w.project);
    const dir = mkdtempSync(join(tmpdir(), 'warden-db-restore-crash-'));
    const policy = join(dir, 'policy.yaml');
    const db = join(dir, 'w.db');
    writeFileSync(policy, w.yaml);
    // The restore is made; every look at it afterwards hangs, so the call stays in its wait.
    const prefix = scratchDatabasePrefix(w.project);
    let waiting = false;
    proxy.rule = (r) => {
      const body = r.body.toString();
      return /Action=DescribeDBInstances/.test(body) && body.includes(`DBInstanceIdentifier=${prefix}`)
        ? ((waiting = true), 'hang')
        : 'pass';
    };
    const s = await serve(policy, db, w.agent);
    s.callTool(2, 'verify_backups', {});
    await until('the restore wait', () => waiting);
    s.child.kill('SIGKILL');
    await s.exited;
    proxy.rule = () => 'pass';
    expect(await scratches(w.project)).toHaveLength(1);

    const store = Store.open(db);
    try {
      const agent = resolveAgent(loadPolicyFile(policy, toolNames), w.agent);
      const reports = await recoverOpenApprovals(store, agent, awsFor(agent, store));
      expect(reports).toEqual([expect.objectContaining({ tool: 'verify_backups', outcome: 'undone' })]);
      expect(reports[0].why).toMatch(/1 scratch bucket\(s\) and instance\(s\) left by the crash removed/);
      expect(await scratches(w.project)).toEqual([]);
      expect(store.audit.openApprovals(w.agent)).toEqual([]);
    } finally {
      store.close();
    }
  });
});
