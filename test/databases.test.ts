// Databases a human declared: get_database reads one the project owns; scale_database changes class or storage
// within bounds, priced and budgeted, a production one always escalated; snapshot_database takes a tagged snapshot.
// Another project's, an untagged and a look-alike-tagged instance are refused with nothing sent.
import { DescribeDBInstancesCommand, DescribeDBSnapshotsCommand, RDSClient } from '@aws-sdk/client-rds';
import { afterEach, describe, expect, it } from 'vitest';
import { renderAgentRoles } from '../src/iam/render.js';
import { approveAndRun } from '../src/registry/approve.js';
import { rawDb, Store } from '../src/store/store.js';
import { call, connect, world, type Harness } from './helpers/harness.js';
import { ownedDatabase } from './helpers/samples.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

const rds = () => new RDSClient({ endpoint: process.env.AWS_ENDPOINT_URL });

async function setup(opts: { environment?: string; budget?: number; tags?: (project: string) => Record<string, string> } = {}) {
  const w = world({
    budget: opts.budget,
    projectYaml: `    databases:\n      orders: { identifier: "{project}-orders", engine: postgres, instance_classes: [db.t3.micro, db.t3.small], min_storage_gb: 20, max_storage_gb: 100, environment: ${opts.environment ?? 'staging'} }`,
  });
  const id = await ownedDatabase(w.project, opts.tags?.(w.project));
  const h = await connect(w.policy, w.agent);
  open.push(h);
  return { w, h, id };
}

const instance = async (id: string) => (await rds().send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances?.[0];

describe('get_database', () => {
  it('shows state, class, storage, snapshots, monthly cost and bounds of an owned database', async () => {
    const { h, id } = await setup();
    const r = await call(h.client, 'get_database', { database: 'orders' });
    expect(r.isError, r.text).toBeFalsy();
    expect(r.structured).toMatchObject({
      database: 'orders',
      identifier: id,
      engine: 'postgres',
      environment: 'staging',
      instance_class: 'db.t3.micro',
      storage_gb: 20,
      // db.t3.micro postgres 0.018 × 730 = $13.14, and 20 GB × $0.115 = $2.30.
      monthly_cost_usd: 15.44,
      bounds: { instance_classes: ['db.t3.micro', 'db.t3.small'], min_storage_gb: 20, max_storage_gb: 100 },
    });
  });

  it('names the declared databases when asked for another', async () => {
    const { h } = await setup();
    const r = await call(h.client, 'get_database', { database: 'payments' });
    expect(r.text).toMatch(/database: "payments" is not a database of p-\w+ \(declared: orders\)/);
  });
});

describe.each([
  ['another project', (p: string) => ({ ProjectId: `${p}x` })],
  ['nobody (untagged)', () => ({ Name: 'orders' })],
  ['a look-alike tag', (p: string) => ({ ProjectId: `${p}\u200b` })],
])('a database owned by %s', (_what, tags) => {
  it.each([
    ['get_database', { database: 'orders' }],
    ['scale_database', { database: 'orders', instance_class: 'db.t3.small' }],
    ['snapshot_database', { database: 'orders' }],
  ])('%s is denied by the ownership rule, nothing sent', async (tool, args) => {
    const { h, id } = await setup({ tags });
    const r = await call(h.client, tool, args);
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/denied by the ownership rule/);
    expect(h.writes()).toEqual([]);
    expect((await instance(id))?.DBInstanceClass).toBe('db.t3.micro');
  });
});

describe('scale_database', () => {
  it('within bounds: modifies the class, records the new run-rate in the ledger', async () => {
    const { h, id } = await setup();
    const dry = await call(h.client, 'scale_database', { database: 'orders', instance_class: 'db.t3.small', dry_run: true });
    expect(dry.structured).toMatchObject({
      plan: { summary: expect.stringMatching(/at the next maintenance window/), costDeltaUsdMonth: 13.14 },
    });
    expect(h.writes()).toEqual([]);
    const r = await call(h.client, 'scale_database', { database: 'orders', instance_class: 'db.t3.small', storage_gb: 40, apply: 'now' });
    expect(r.isError, r.text).toBeFalsy();
    expect(r.structured).toMatchObject({ status: 'executed', result: { identifier: id, applies: 'now' } });
    expect(h.writes().map((c) => c.command)).toEqual(['ModifyDBInstance']);
    const now = await instance(id);
    expect(now?.PendingModifiedValues?.DBInstanceClass ?? now?.DBInstanceClass).toBe('db.t3.small');
    // db.t3.small 0.036 × 730 = $26.28, and 40 GB × $0.115 = $4.60.
    expect(
      rawDb(h.store)
        .prepare('SELECT cents_month FROM budget_resources WHERE arn = ? AND released_at IS NULL')
        .pluck()
        .get(now?.DBInstanceArn),
    ).toBe(3088);
  });

  it.each([
    [
      { instance_class: 'db.r5.large' },
      /instance_class: db\.r5\.large is not allowed for orders \(allowed: db\.t3\.micro, db\.t3\.small\)/,
    ],
    [{ storage_gb: 200 }, /storage_gb: 200 GB is outside orders's 20-100 GB/],
    [{ instance_class: 'db.t3.micro' }, /orders is already db\.t3\.micro with 20 GB; nothing to change/],
    [{}, /instance_class: nothing to change: give instance_class and\/or storage_gb/],
  ])('out of bounds %j: refused naming the field, nothing sent', async (change, msg) => {
    const { h } = await setup();
    const r = await call(h.client, 'scale_database', { database: 'orders', ...change });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(msg);
    expect(h.writes()).toEqual([]);
  });

  it('a production database always becomes a proposal, even within bounds', async () => {
    const { h } = await setup({ environment: 'prod' });
    const r = await call(h.client, 'scale_database', { database: 'orders', instance_class: 'db.t3.small' });
    expect(r.structured).toMatchObject({ status: 'pending_approval', decision: { classes: ['production_database'] } });
    expect(h.writes()).toEqual([]);
  });

  it('over the budget: denied by the budget rule with what is left', async () => {
    const { h } = await setup({ budget: 10 });
    const r = await call(h.client, 'scale_database', { database: 'orders', instance_class: 'db.t3.small' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/denied by the budget rule/);
    expect(h.writes()).toEqual([]);
  });
});

describe('snapshot_database', () => {
  it('takes a snapshot tagged for the project and the approval, priced as snapshot storage', async () => {
    const { w, h, id } = await setup();
    const r = await call(h.client, 'snapshot_database', { database: 'orders' });
    expect(r.isError, r.text).toBeFalsy();
    const snap = (r.structured?.result as { snapshot_id: string }).snapshot_id;
    expect(snap).toMatch(new RegExp(`^${id}-warden-[0-9a-f]{8}$`));
    const found = (await rds().send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: snap }))).DBSnapshots?.[0];
    const tags = Object.fromEntries((found?.TagList ?? []).map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({ ProjectId: w.project, AgentId: w.agent, ManagedBy: 'aws-warden', Database: 'orders' });
    expect(tags.WardenEvent).toMatch(/^[0-9a-f-]{36}$/);
    // 20 GB × $0.095 = $1.90 a month.
    expect(rawDb(h.store).prepare("SELECT cents_month FROM budget_resources WHERE arn LIKE '%:snapshot:%'").pluck().all()).toEqual([190]);
  });
});

describe('get_database_credentials', () => {
  const ask = (h: Harness) =>
    call(h.client, 'get_database_credentials', { database: 'orders', db_user: 'app_ro', reason: 'to check the order counts' });

  it('staging: a token signed by the agent’s own role, at once; the audit keeps no token', async () => {
    const { h } = await setup();
    const r = await ask(h);
    expect(r.isError, r.text).toBeFalsy();
    const out = r.structured?.result as { token: string; db_user: string; expires_at: string; host: string };
    const agentKey = (await h.aws.session.provider()).accessKeyId;
    expect(out.token).toContain(`${out.host}:`);
    expect(out.token).toMatch(/Action=connect/);
    expect(out.token).toMatch(/DBUser=app_ro/);
    expect(decodeURIComponent(out.token)).toContain(`X-Amz-Credential=${agentKey}/`);
    expect(h.writes()).toEqual([]);
    const executed = h.audit.tail({ limit: 5 }).find((e) => e.kind === 'executed');
    expect(executed?.result).toMatch(/\[secret: given to the agent only, never stored\]/);
    expect(
      rawDb(h.store)
        .prepare('SELECT count(*) FROM audit_events WHERE result LIKE ?')
        .pluck()
        .get(`%${out.token.slice(-40)}%`),
    ).toBe(0);
  });

  it('production: a proposal first; after a human approves, the next call gets the token until access ends', async () => {
    let now = new Date();
    const w = world({
      projectYaml: `    databases:\n      orders: { identifier: "{project}-orders", engine: postgres, instance_classes: [db.t3.micro], max_storage_gb: 100, environment: prod, access_minutes: 30 }`,
    });
    await ownedDatabase(w.project);
    const store = Store.open(':memory:', { clock: () => now });
    const h = await connect(w.policy, w.agent, { store });
    open.push(h);
    const first = await ask(h);
    expect(first.structured).toMatchObject({ status: 'pending_approval', decision: { classes: ['production_database'] } });
    expect(JSON.stringify(first.structured)).not.toMatch(/X-Amz-Signature/);
    const done = await approveAndRun(store, w.policy, first.structured?.proposal_id as string, 'ann', 'read-only, this afternoon');
    expect(done.result).toMatchObject({
      applied: [{ action: 'warden:AllowDatabaseAccess', db_user: 'app_ro', access_until: expect.any(String) }],
    });

    const second = await ask(h);
    expect(second.isError, second.text).toBeFalsy();
    expect(second.structured).toMatchObject({ status: 'executed', result: { access: expect.stringMatching(/^approved in prop_/) } });
    // Another user is another access; after the approved 30 minutes it is a proposal again.
    const other = await call(h.client, 'get_database_credentials', {
      database: 'orders',
      db_user: 'admin',
      reason: 'to fix a row by hand',
    });
    expect(other.structured?.status).toBe('pending_approval');
    now = new Date(now.getTime() + 31 * 60_000);
    expect((await ask(h)).structured?.status).toBe('pending_approval');
  });

  it('renders rds-db:connect only for declared databases that name their DbiResourceId', () => {
    const w = world({
      projectYaml: `    databases:\n      orders: { identifier: "{project}-orders", engine: postgres, instance_classes: [db.t3.micro], max_storage_gb: 100, environment: prod, iam_resource_id: db-ABCDEFGHIJKL }\n      other: { identifier: "{project}-other", engine: postgres, instance_classes: [db.t3.micro], max_storage_gb: 100, environment: prod }`,
    });
    const [role] = renderAgentRoles(w.policy, w.agent, 'arn:aws:iam::123456789012:root');
    const connects = role.permissions.Statement.filter((s) => JSON.stringify(s.Action).includes('rds-db:connect'));
    expect(connects).toEqual([
      {
        Sid: 'ConnectToDeclaredDatabases',
        Effect: 'Allow',
        Action: ['rds-db:connect'],
        Resource: ['arn:aws:rds-db:*:123456789012:dbuser:db-ABCDEFGHIJKL/*'],
      },
    ]);
    const none = world();
    expect(JSON.stringify(renderAgentRoles(none.policy, none.agent, 'arn:aws:iam::123456789012:root'))).not.toContain('rds-db:connect');
  });
});
