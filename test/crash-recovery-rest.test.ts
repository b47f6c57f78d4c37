// Every approval ends in an outcome, for the tools crash-recovery.test.ts does not cover: a promotion killed in the
// middle of its copies (undone, no mixed prod) or in its health check (completed), a human-approved security-group
// change killed after AWS applied half of it (finished without a duplicate), a drift repair and a backup check
// killed mid-change (the repair finished, the scratch bucket removed).
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import {
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
} from '@aws-sdk/client-s3';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveAgent } from '../src/core/agent.js';
import { loadPolicyFile } from '../src/policy/load.js';
import { awsFor } from '../src/registry/agent-aws.js';
import { recoverApprovedProposals, recoverOpenApprovals } from '../src/registry/recover.js';
import { rulesOf } from '../src/security/rules.js';
import { bucketName, scratchBucketPrefix } from '../src/sites/bucket.js';
import { EVENT_METADATA } from '../src/sites/restore.js';
import { rawDb, Store } from '../src/store/store.js';
import { toolNames } from '../src/tools/index.js';
import { s3Operation, useFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { ACCOUNT, admin, approvalOf, call, connect, fresh, heldReservations, world, type Harness } from './helpers/harness.js';
import { approveKilledWhen, serve, until, type Served } from './helpers/served.js';

/** Health answers 200, except for prod while `holdProd` is set: then it never answers. */
let health: Server;
let healthPort = 0;
let holdProd = false;
beforeAll(async () => {
  health = createServer((req, res) => {
    if (holdProd && req.url?.startsWith('/prod')) return;
    res.end('ok');
  });
  await new Promise<void>((r) => health.listen(0, '127.0.0.1', r));
  healthPort = (health.address() as { port: number }).port;
});
afterAll(() => {
  health.closeAllConnections();
  health.close();
});

const open: Harness[] = [];
const stores: Store[] = [];
afterEach(async () => {
  holdProd = false;
  await Promise.all(open.splice(0).map((h) => h.close()));
  stores.splice(0).forEach((s) => s.close());
});

/** A policy and a store file for `w`, and an in-process harness on that store to set the scene with. */
async function scene(w: ReturnType<typeof world>, yaml = w.yaml) {
  const dir = mkdtempSync(join(tmpdir(), 'warden-crash-rest-'));
  const policy = join(dir, 'policy.yaml');
  const db = join(dir, 'w.db');
  writeFileSync(policy, yaml);
  const store = Store.open(db);
  stores.push(store);
  const resolved = loadPolicyFile(policy, toolNames);
  const h = await connect(resolved, w.agent, { store });
  open.push(h);
  const agent = resolveAgent(resolved, w.agent);
  return { dir, policy, db, store, h, resolved, recover: () => recoverOpenApprovals(store, agent, awsFor(agent, store)) };
}

/** Starts a server, asks for one call, waits for `reached`, then kills it -9 with the call unanswered. */
async function killedMidCall(
  policy: string,
  db: string,
  agent: string,
  tool: string,
  args: object,
  reached: () => boolean | Promise<boolean>,
) {
  const s: Served = await serve(policy, db, agent);
  s.callTool(2, tool, args as Record<string, unknown>);
  await until(`${tool} to reach the fault`, reached);
  expect(s.answers.some((a) => a.id === 2)).toBe(false);
  s.child.kill('SIGKILL');
  await s.exited;
}

const body = async (bucket: string, key: string) =>
  (await admin.s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString();

const isCopyTo = (bucket: string, r: Parameters<FaultProxy['rule']>[0]) =>
  s3Operation(r) === 'PutObject' && Boolean(r.headers['x-amz-copy-source']) && r.path.startsWith(`/${bucket}/`);

describe('promote_site killed -9', () => {
  const proxyOf = useFaultProxy('S3');
  const FILES = ['index.html', 'a.js', 'b.css'];

  async function promoted() {
    const root = mkdtempSync(join(tmpdir(), 'warden-promote-crash-'));
    const site = join(root, 'site');
    mkdirSync(site);
    const w = world({
      projectYaml: `    sites: { roots: ["${root}"], soak_minutes: 0, health_url: "http://127.0.0.1:${healthPort}/{environment}", health_timeout_seconds: 3 }`,
    });
    const s = await scene(w);
    const write = (v: string) => FILES.forEach((f) => writeFileSync(join(site, f), `${f} ${v}`));
    const deployStaging = async (v: string) => {
      write(v);
      const r = await call(s.h.client, 'deploy_static_site', { site: 'shop', source_dir: site, environment: 'staging' });
      expect(r.isError, r.text).toBeFalsy();
    };
    await deployStaging('v1');
    const first = await call(s.h.client, 'promote_site', { site: 'shop' });
    expect(first.isError, first.text).toBeFalsy();
    await deployStaging('v2');
    return { w, s, prod: bucketName(ACCOUNT, w.project, 'shop', 'prod') };
  }

  it(
    'between its copies: the copy that landed unrecorded is found by its metadata and undone, prod stays v1',
    { timeout: 120_000 },
    async () => {
      const proxy = proxyOf();
      const { w, s, prod } = await promoted();
      let copies = 0;
      proxy.rule = (r) => (isCopyTo(prod, r) ? (++copies === 2 ? 'hang' : 'pass') : 'pass');
      await killedMidCall(s.policy, s.db, w.agent, 'promote_site', { site: 'shop' }, () => copies === 2);
      proxy.rule = () => 'pass';
      const versions = (await admin.s3().send(new ListObjectVersionsCommand({ Bucket: prod }))).Versions ?? [];
      expect(versions).toHaveLength(FILES.length + 1);

      expect(await s.recover()).toEqual([expect.objectContaining({ tool: 'promote_site', outcome: 'undone' })]);
      for (const f of FILES) expect(await body(prod, f)).toBe(`${f} v1`);
      const approval = approvalOf(s.store, { tool: 'promote_site' });
      expect(s.store.deployments.get(approval)?.state).toBe('rolled_back');
      expect(s.store.audit.followers(approval)).toHaveLength(1);
      expect(s.store.audit.openApprovals(w.agent)).toEqual([]);
      expect(heldReservations(s.store)).toBe(0);
      expect(rawDb(s.store).prepare('SELECT count(*) FROM locks').pluck().get()).toBe(0);
    },
  );

  it('in its health check: every copy landed and names the approval, so the restart completes it', { timeout: 120_000 }, async () => {
    const { w, s, prod } = await promoted();
    holdProd = true;
    let probed = false;
    const seen = (req: { url?: string }) => (probed ||= Boolean(req.url?.startsWith('/prod')));
    health.on('request', seen);
    await killedMidCall(s.policy, s.db, w.agent, 'promote_site', { site: 'shop' }, () => probed);
    health.off('request', seen);
    holdProd = false;

    expect(await s.recover()).toEqual([expect.objectContaining({ tool: 'promote_site', outcome: 'completed' })]);
    const approval = approvalOf(s.store, { tool: 'promote_site' });
    for (const f of FILES) {
      expect(await body(prod, f)).toBe(`${f} v2`);
      const head = await admin.s3().send(new HeadObjectCommand({ Bucket: prod, Key: f }));
      expect(head.Metadata?.[EVENT_METADATA]).toBe(approval);
      expect(head.Metadata?.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(head.ContentType).toMatch(/^text\/|javascript/);
    }
    expect(s.store.deployments.get(approval)?.state).toBe('live');
    expect(s.store.notifications.list().filter((n) => n.kind === 'promoted' && n.body.includes(approval))).toHaveLength(1);
    expect(heldReservations(s.store)).toBe(0);
  });
});

describe('wardenctl killed -9 after AWS applied half of an approved security-group change', () => {
  const proxyOf = useFaultProxy('EC2');
  it(
    'recovery finishes it: the revoke and the authorize already done are not sent again, the proposal executes',
    { timeout: 120_000 },
    async () => {
      const proxy = proxyOf();
      const w = world({
        projectYaml: `    approver_role_arn: "arn:aws:iam::${ACCOUNT}:role/approver"`,
        topYaml: 'approval: { allow_as: [ops-team] }',
      });
      const s = await scene(w);
      const group = (
        await admin.ec2().send(
          new CreateSecurityGroupCommand({
            GroupName: fresh('sg'),
            Description: 'web',
            TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'ProjectId', Value: w.project }] }],
          }),
        )
      ).GroupId as string;
      await admin.ec2().send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: group,
          IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }],
        }),
      );
      const rule = (port: number) => ({ protocol: 'tcp', from_port: port, to_port: port, cidr: '10.0.0.0/8' });
      const asked = await call(s.h.client, 'propose_security_change', {
        security_group: group,
        add: [rule(443)],
        remove: [rule(22)],
        reason: 'https in place of ssh for the web tier',
      });
      const id = (asked.structured as { proposal_id: string }).proposal_id;
      expect(id, asked.text).toMatch(/^prop_/);

      // The authorize reaches AWS and is applied; its answer never comes back.
      let authorized = false;
      proxy.rule = (r) =>
        /(^|&)Action=AuthorizeSecurityGroupIngress(&|$)/.test(r.body.toString()) ? ((authorized = true), 'hang_after') : 'pass';
      const ingress = async () =>
        rulesOf((await admin.ec2().send(new DescribeSecurityGroupsCommand({ GroupIds: [group] }))).SecurityGroups?.[0] ?? {})
          .filter((r) => r.direction === 'ingress')
          .map((r) => r.from_port);
      await approveKilledWhen(id, s.db, s.policy, 'AWS to apply the authorize', async () => authorized && (await ingress()).includes(443));
      proxy.rule = () => 'pass';
      const approval = approvalOf(s.store, { agent: 'human:ops-team' });
      expect(s.store.audit.followers(approval)).toEqual([]);

      const reports = await recoverApprovedProposals(s.store, s.resolved);
      expect(reports).toEqual([expect.objectContaining({ tool: 'propose_security_change', outcome: 'completed' })]);
      expect(reports[0].why).toMatch(/0 of 2 rule\(s\) were still to send/);
      expect(await ingress()).toEqual([443]);
      expect(s.store.proposals.get(id)?.state).toBe('executed');
      expect(s.store.audit.followers(approval).map((r) => r.agent)).toEqual(['human:ops-team']);
      expect(rawDb(s.store).prepare('SELECT count(*) FROM locks WHERE key = ?').pluck().get(`sg:${group}`)).toBe(0);
    },
  );
});

describe('repair_drift and verify_backups killed -9 mid-change', () => {
  const proxyOf = useFaultProxy('S3');

  async function deployed() {
    const root = mkdtempSync(join(tmpdir(), 'warden-repair-crash-'));
    writeFileSync(join(root, 'index.html'), '<h1>hi</h1>');
    const w = world({ projectYaml: `    sites: { roots: ["${root}"], health_timeout_seconds: 2 }` });
    const s = await scene(w);
    const r = await call(s.h.client, 'deploy_static_site', { site: 'shop', source_dir: root, environment: 'staging' });
    expect(r.isError, r.text).toBeFalsy();
    return { w, s, bucket: bucketName(ACCOUNT, w.project, 'shop', 'staging') };
  }

  it('repair_drift: the restart repairs again and records the outcome', { timeout: 120_000 }, async () => {
    const proxy = proxyOf();
    const { w, s, bucket } = await deployed();
    await admin.s3().send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Suspended' } }));
    const checked = await call(s.h.client, 'check_drift', {});
    const [d] = (checked.structured as { drift: { id: string }[] }).drift;
    let sent = false;
    proxy.rule = (r) => (r.method === 'PUT' && r.query.has('versioning') && r.path === `/${bucket}` ? ((sent = true), 'hang') : 'pass');
    await killedMidCall(s.policy, s.db, w.agent, 'repair_drift', { ids: [d.id] }, () => sent);
    proxy.rule = () => 'pass';
    expect((await admin.s3().send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBe('Suspended');

    expect(await s.recover()).toEqual([expect.objectContaining({ tool: 'repair_drift', outcome: 'completed' })]);
    expect((await admin.s3().send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBe('Enabled');
    const approval = approvalOf(s.store, { tool: 'repair_drift' });
    expect(s.store.audit.followers(approval).map((r) => r.kind)).toEqual(['executed']);
    expect(rawDb(s.store).prepare('SELECT count(*) FROM locks').pluck().get()).toBe(0);
  });

  it('verify_backups: the scratch bucket of the interrupted restore is emptied and removed', { timeout: 120_000 }, async () => {
    const proxy = proxyOf();
    const { w, s } = await deployed();
    const prefix = scratchBucketPrefix(w.project);
    let copying = false;
    proxy.rule = (r) => (s3Operation(r) === 'PutObject' && r.path.startsWith(`/${prefix}`) ? ((copying = true), 'hang_after') : 'pass');
    await killedMidCall(s.policy, s.db, w.agent, 'verify_backups', {}, () => copying);
    proxy.rule = () => 'pass';
    const scratch = async () =>
      ((await admin.s3().send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name).filter((n) => n?.startsWith(prefix));
    expect(await scratch()).toHaveLength(1);

    expect(await s.recover()).toEqual([expect.objectContaining({ tool: 'verify_backups', outcome: 'undone' })]);
    expect(await scratch()).toEqual([]);
    const approval = approvalOf(s.store, { tool: 'verify_backups' });
    expect(s.store.audit.followers(approval)).toHaveLength(1);
    expect(s.store.audit.openApprovals(w.agent)).toEqual([]);
  });
});
