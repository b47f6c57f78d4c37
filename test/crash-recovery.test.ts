// Every approval ends in an outcome: a server killed -9 between `approved` and its outcome leaves a change that the
// next start settles through the tool's recovery step — the outcome row, the reservation, the ledger, the lock, and
// AWS as the outcome says. Here scale_service, killed inside its health wait after RunInstances.
import {
  AllocateAddressCommand,
  CreateVolumeCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { GetObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anyImageId, launchTagged } from '../src/demo/seed.js';
import { loadPolicyFile } from '../src/policy/load.js';
import { resolveAgent } from '../src/core/agent.js';
import { awsFor } from '../src/registry/agent-aws.js';
import { recoverOpenApprovals } from '../src/registry/recover.js';
import { bucketName } from '../src/sites/bucket.js';
import { rawDb, Store } from '../src/store/store.js';
import { toolNames } from '../src/tools/index.js';
import { s3Operation, useFaultProxy } from './helpers/fault-proxy.js';
import { ACCOUNT, admin, approvalOf, call, connect, heldReservations, liveInstances, world } from './helpers/harness.js';
import { approveKilledWhen, serve, until } from './helpers/served.js';

/** A health endpoint that never answers: the scale stays inside its health wait, its approval open. */
let hang: Server;
let port = 0;
beforeAll(async () => {
  hang = createServer(() => {});
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
  port = (hang.address() as { port: number }).port;
});
afterAll(() => {
  hang.closeAllConnections();
  hang.close();
});

describe('a server killed -9 mid-change', () => {
  it(
    'scale_service: the restart terminates what it launched, settles the approval, reservation, ledger and lock',
    { timeout: 120_000 },
    async () => {
      const w = world({
        projectYaml: `    services:
      web: { image_id: ${await anyImageId(admin.ec2())}, instance_types: [t3.micro], max: 2, health: { timeout_seconds: 120, poll_seconds: 1, http_url: "http://127.0.0.1:${port}/{instance_id}" } }`,
      });
      const dir = mkdtempSync(join(tmpdir(), 'warden-crash-'));
      const policy = join(dir, 'policy.yaml');
      const db = join(dir, 'w.db');
      writeFileSync(policy, w.yaml);
      const first = await serve(policy, db, w.agent);
      first.callTool(2, 'scale_service', { service: 'web', desired_count: 1 });
      await until('the instance to launch', async () => (await liveInstances(w.project)).length === 1);
      first.child.kill('SIGKILL');
      await first.exited;

      const store = Store.open(db);
      const raw = rawDb(store);
      const approval = approvalOf(store, { tool: 'scale_service' });
      // The crash left it open, its reservation held.
      expect(store.audit.openApprovals(w.agent).map((r) => r.id)).toEqual([approval]);
      expect(heldReservations(store)).toBe(1);

      const second = await serve(policy, db, w.agent);
      try {
        await until('recovery at start', () => /recovered scale_service approval/.test(second.stderr()));
        expect(second.stderr()).toMatch(
          new RegExp(`recovered scale_service approval ${approval}: undone \\(terminated the 1 instance\\(s\\) it had launched`),
        );
        expect(await liveInstances(w.project)).toEqual([]);
        expect(store.audit.followers(approval).map((r) => r.kind)).toEqual(['executed']);
        expect(store.audit.openApprovals(w.agent)).toEqual([]);
        expect(heldReservations(store)).toBe(0);
        expect(raw.prepare("SELECT count(*) FROM budget_resources WHERE arn LIKE '%:instance/%'").pluck().get()).toBe(0);
        expect(raw.prepare('SELECT count(*) FROM locks WHERE key = ?').pluck().get(`service:${w.project}:web`)).toBe(0);
        expect(store.notifications.list().some((n) => n.kind === 'rolled_back' && n.body.includes(approval))).toBe(true);
        expect(store.audit.verify().ok).toBe(true);
      } finally {
        await second.stop();
        store.close();
      }
    },
  );
});

describe('a deploy killed -9 in the middle of a batch', () => {
  const proxyOf = useFaultProxy('S3');
  it('recovery finds the versions the batch wrote but never recorded, and no mixed site is left', { timeout: 120_000 }, async () => {
    const proxy = proxyOf();
    const dir = mkdtempSync(join(tmpdir(), 'warden-batch-'));
    const site = join(dir, 'site');
    mkdirSync(site);
    const write = (v: string) => ['index.html', 'a.js', 'b.css'].forEach((f) => writeFileSync(join(site, f), `${f} ${v}`));
    const w = world({ projectYaml: `    sites: { roots: ["${dir}"], soak_minutes: 0 }` });
    const policy = join(dir, 'policy.yaml');
    const db = join(dir, 'w.db');
    writeFileSync(policy, w.yaml);
    const bucket = bucketName(ACCOUNT, w.project, 'shop', 'staging');
    const deploy = { site: 'shop', source_dir: site, environment: 'staging' };
    const first = await serve(policy, db, w.agent);
    write('v1');
    first.callTool(2, 'deploy_static_site', deploy);
    await until('v1 to deploy', () => first.answers.some((a) => a.id === 2));
    expect(first.answers.find((a) => a.id === 2)?.result?.isError).toBeFalsy();

    // v2: b.css never gets an answer; index.html and a.js land in S3 while the batch is still open.
    write('v2');
    proxy.rule = (r) => (s3Operation(r) === 'PutObject' && r.path.endsWith('/b.css') ? 'hang' : 'pass');
    first.callTool(3, 'deploy_static_site', deploy);
    const versions = async (key: string) =>
      ((await admin.s3().send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }))).Versions ?? []).length;
    await until('two of the batch to land', async () => (await versions('index.html')) === 2 && (await versions('a.js')) === 2);
    first.child.kill('SIGKILL');
    await first.exited;
    proxy.rule = () => 'pass';

    const store = Store.open(db);
    try {
      const agent = resolveAgent(loadPolicyFile(policy, toolNames), w.agent);
      const recovered = await recoverOpenApprovals(store, agent, awsFor(agent, store));
      expect(recovered).toEqual([expect.objectContaining({ tool: 'deploy_static_site', outcome: 'undone' })]);
      for (const f of ['index.html', 'a.js', 'b.css'])
        expect(await (await admin.s3().send(new GetObjectCommand({ Bucket: bucket, Key: f }))).Body?.transformToString()).toBe(`${f} v1`);
      expect(rawDb(store).prepare('SELECT state FROM deployments ORDER BY started_at').pluck().all()).toEqual(['live', 'rolled_back']);
      expect(heldReservations(store)).toBe(0);
    } finally {
      store.close();
    }
  });
});

describe('wardenctl killed -9 while it runs an approved proposal', () => {
  it(
    'the next worker pass settles it under the approver role: instance terminated, proposal failed, reservation released',
    { timeout: 120_000 },
    async () => {
      const img = await anyImageId(admin.ec2());
      const w = world({
        projectYaml: `    approver_role_arn: "arn:aws:iam::${ACCOUNT}:role/approver"
    services:
      web: { image_id: ${img}, instance_types: [t3.micro], max: 2, health: { timeout_seconds: 120, poll_seconds: 1, http_url: "http://127.0.0.1:${port}/{instance_id}" } }`,
        topYaml: 'approval: { allow_as: [ops-team] }',
      });
      // Every scale needs a human: the operator tier escalates it.
      const yaml = w.yaml.replace(/( {2}operator: \{ tools: \[[^\]]*\])/, '$1, escalate_tools: [scale_service]');
      const dir = mkdtempSync(join(tmpdir(), 'warden-approve-crash-'));
      const policy = join(dir, 'policy.yaml');
      const db = join(dir, 'w.db');
      writeFileSync(policy, yaml);
      const store = Store.open(db);
      const h = await connect(resolvePolicy(policy), w.agent, { store });
      const asked = await call(h.client, 'scale_service', { service: 'web', desired_count: 1 });
      const id = (asked.structured as { proposal_id: string }).proposal_id;
      expect(id).toMatch(/^prop_/);

      await approveKilledWhen(id, db, policy, 'the approved launch', async () => (await liveInstances(w.project)).length === 1);
      const approval = approvalOf(store, { agent: 'human:ops-team' });
      expect(store.audit.followers(approval)).toEqual([]);

      const pass = spawnSync(
        process.execPath,
        [join(process.cwd(), 'dist', 'src', 'cli', 'aws-warden.js'), 'worker', '--once', '--policy', policy, '--db', db],
        {
          encoding: 'utf8',
        },
      );
      expect(pass.stderr).toMatch(new RegExp(`recovered scale_service approval ${approval}: undone`));
      expect(await liveInstances(w.project)).toEqual([]);
      expect(store.audit.followers(approval).map((r) => r.kind)).toEqual(['executed']);
      expect(store.audit.followers(approval)[0].agent).toBe('human:ops-team');
      expect(store.proposals.get(id)?.state).toBe('failed');
      expect(heldReservations(store)).toBe(0);
      expect(rawDb(store).prepare('SELECT count(*) FROM locks WHERE key = ?').pluck().get(`service:${w.project}:web`)).toBe(0);
      await h.close();
      store.close();
    },
  );
});

const resolvePolicy = (file: string) => loadPolicyFile(file, toolNames);

describe('a server killed -9 in the middle of a reclaim', () => {
  const proxyOf = useFaultProxy('EC2');
  it(
    'the restart finishes it: the snapshot is reused, the volume AWS already deleted counts as done, the address is released',
    { timeout: 120_000 },
    async () => {
      const proxy = proxyOf();
      const w = world({
        projectYaml: '    unused: { unattended: { volume: ["*"], address: ["*"] } }',
        limits: '{ reclaim_unattended: true }',
      });
      const dir = mkdtempSync(join(tmpdir(), 'warden-reclaim-crash-'));
      const policy = join(dir, 'policy.yaml');
      const db = join(dir, 'w.db');
      writeFileSync(policy, w.yaml);
      const tags = [{ Key: 'ProjectId', Value: w.project }];
      const vol = (
        await admin.ec2().send(
          new CreateVolumeCommand({
            AvailabilityZone: 'us-east-1a',
            Size: 8,
            TagSpecifications: [{ ResourceType: 'volume', Tags: tags }],
          }),
        )
      ).VolumeId as string;
      const eip = (
        await admin
          .ec2()
          .send(new AllocateAddressCommand({ Domain: 'vpc', TagSpecifications: [{ ResourceType: 'elastic-ip', Tags: tags }] }))
      ).AllocationId as string;

      // AWS deletes the volume, but the answer never comes back: the process dies not knowing.
      let deleted = false;
      proxy.rule = (r) => (/(^|&)Action=DeleteVolume(&|$)/.test(r.body.toString()) ? ((deleted = true), 'hang_after') : 'pass');
      const first = await serve(policy, db, w.agent);
      first.callTool(2, 'reclaim_resources', { ids: [vol, eip], reason: 'unattached for weeks' });
      await until('the volume delete to reach AWS', () => deleted);
      await until(
        'AWS to delete it',
        async () =>
          ((await admin.ec2().send(new DescribeVolumesCommand({ Filters: [{ Name: 'volume-id', Values: [vol] }] }))).Volumes ?? [])
            .length === 0,
      );
      first.child.kill('SIGKILL');
      await first.exited;
      proxy.rule = () => 'pass';

      const second = await serve(policy, db, w.agent);
      const store = Store.open(db);
      try {
        await until('recovery at start', () => /recovered reclaim_resources approval/.test(second.stderr()));
        expect(second.stderr()).toMatch(/recovered reclaim_resources approval \S+: completed \(finished reclaiming/);
        const addresses = await admin.ec2().send(new DescribeAddressesCommand({ Filters: [{ Name: 'allocation-id', Values: [eip] }] }));
        expect(addresses.Addresses ?? []).toEqual([]);
        const snaps = await admin.ec2().send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'tag:ReclaimedFrom', Values: [vol] }] }));
        expect(snaps.Snapshots ?? []).toHaveLength(1);
        const approval = approvalOf(store, { tool: 'reclaim_resources' });
        expect(store.audit.followers(approval).map((r) => r.kind)).toEqual(['executed']);
        expect(heldReservations(store)).toBe(0);
        expect(
          rawDb(store)
            .prepare("SELECT count(*) FROM budget_resources WHERE project = ? AND arn LIKE '%snapshot/%' AND released_at IS NULL")
            .pluck()
            .get(w.project),
        ).toBe(1);
      } finally {
        await second.stop();
        store.close();
      }
    },
  );
});

describe('a server killed -9 in the middle of tag_resource', () => {
  const proxyOf = useFaultProxy('EC2');
  it('the restart sets the planned tags again and records the outcome', { timeout: 120_000 }, async () => {
    const proxy = proxyOf();
    const w = world();
    const dir = mkdtempSync(join(tmpdir(), 'warden-tag-crash-'));
    const policy = join(dir, 'policy.yaml');
    const db = join(dir, 'w.db');
    writeFileSync(policy, w.yaml);
    const arn = await launchTagged(admin.ec2(), { ProjectId: w.project, Name: 'tagged' });
    let sent = false;
    proxy.rule = (r) => (/(^|&)Action=CreateTags(&|$)/.test(r.body.toString()) ? ((sent = true), 'hang') : 'pass');
    const first = await serve(policy, db, w.agent);
    first.callTool(2, 'tag_resource', { resource_arn: arn, set: { Owner: 'web-team' } });
    await until('CreateTags to be sent', () => sent);
    first.child.kill('SIGKILL');
    await first.exited;
    proxy.rule = () => 'pass';
    const second = await serve(policy, db, w.agent);
    const store = Store.open(db);
    try {
      await until('recovery at start', () => /recovered tag_resource approval/.test(second.stderr()));
      expect(second.stderr()).toMatch(/recovered tag_resource approval \S+: completed/);
      const id = arn.split('/').pop() as string;
      const tags =
        (await admin.ec2().send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.Tags ?? [];
      expect(tags).toContainEqual({ Key: 'Owner', Value: 'web-team' });
      const approval = approvalOf(store, { tool: 'tag_resource' });
      expect(store.audit.followers(approval).map((r) => r.kind)).toEqual(['executed']);
    } finally {
      await second.stop();
      store.close();
    }
  });
});
