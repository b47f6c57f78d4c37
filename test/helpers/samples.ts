// A valid call of each registered tool, with the world it needs: the choke-point and plan-bound suites run them all.
import {
  CreateNetworkAclCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DescribeVpcsCommand,
} from '@aws-sdk/client-ec2';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RDSClient } from '@aws-sdk/client-rds';
import { anyImageId, createTaggedDatabase } from '../../src/demo/seed.js';
import { admin, call, fresh, world, type Harness } from './harness.js';

/** A valid call of each tool. A new tool without one fails the first test below. */
export const SAMPLES: Record<
  string,
  (w: ReturnType<typeof world>, ownedArn: string, h?: Harness) => Record<string, unknown> | Promise<Record<string, unknown>>
> = {
  get_status: () => ({}),
  list_resources: () => ({}),
  tag_resource: (_w, arn) => ({ resource_arn: arn, set: { Owner: 'x' } }),
  get_budget: () => ({}),
  request_budget: () => ({ amount_usd_month: 25, reason: 'a second web node for the sale', duration: 'this_month' }),
  request_permission: () => ({
    actions: ['s3:GetObject'],
    resources: ['arn:aws:s3:::shared-assets/*'],
    reason: 'to read the shared brand assets',
  }),
  get_service: () => ({ service: 'web' }),
  get_database: async (w) => (await ownedDatabase(w.project), { database: 'orders' }),
  scale_database: async (w) => (await ownedDatabase(w.project), { database: 'orders', instance_class: 'db.t3.small' }),
  snapshot_database: async (w) => (await ownedDatabase(w.project), { database: 'orders' }),
  get_database_credentials: async (w) => (
    await ownedDatabase(w.project),
    { database: 'orders', db_user: 'app_ro', reason: 'to check the order counts' }
  ),
  scale_service: () => ({ service: 'web', desired_count: 1, instance_type: 't3.micro' }),
  get_site_status: () => ({ site: 'shop' }),
  deploy_static_site: () => ({ site: 'shop', source_dir: SITE, environment: 'staging' }),
  promote_site: async (_w, _arn, h) => {
    if (h) await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: SITE, environment: 'staging' });
    return { site: 'shop' };
  },
  get_proposal: async (_w, _arn, h) => {
    if (!h) return { proposal_id: 'prop_000000000000' };
    const asked = await call(h.client, 'request_budget', {
      amount_usd_month: 5,
      reason: 'to have something to poll',
      duration: 'this_month',
    });
    return { proposal_id: asked.structured?.proposal_id };
  },
  propose_security_change: async (w) => {
    const sg = await admin.ec2().send(
      new CreateSecurityGroupCommand({
        GroupName: `sg-${w.project}-${Math.random().toString(16).slice(2, 8)}`,
        Description: 'test',
        TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'ProjectId', Value: w.project }] }],
      }),
    );
    return {
      security_group: sg.GroupId,
      add: [{ protocol: 'tcp', from_port: 443, to_port: 443, cidr: '0.0.0.0/0' }],
      reason: 'serve https to everyone',
    };
  },
  propose_network_acl_change: async (w) => ({
    network_acl: await ownedAcl(w.project),
    add: [{ rule_number: 100, protocol: 'tcp', from_port: 443, to_port: 443, cidr: '0.0.0.0/0', action: 'allow' }],
    reason: 'serve https to everyone',
  }),
  find_unused_resources: () => ({}),
  reclaim_resources: async (w) => {
    const vol = await admin.ec2().send(
      new CreateVolumeCommand({
        AvailabilityZone: 'us-east-1a',
        Size: 1,
        TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'ProjectId', Value: w.project }] }],
      }),
    );
    return { ids: [vol.VolumeId], reason: 'attached to nothing' };
  },
  check_drift: () => ({}),
  repair_drift: async (_w, arn, h) => {
    if (!h) return { ids: ['drift-0123456789'] };
    // Real drift: a tag aws-warden set, changed behind its back.
    await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'web-team' } });
    await admin
      .ec2()
      .send(new CreateTagsCommand({ Resources: [arn.split('/').pop() as string], Tags: [{ Key: 'Owner', Value: 'someone-else' }] }));
    const found = await call(h.client, 'check_drift', {});
    return { ids: [(found.structured as { drift: { id: string }[] }).drift[0].id] };
  },
  verify_backups: async (_w, _arn, h) => {
    // With a live deployment, so the check has a restore to make (and so writes to plan).
    if (h) await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: SITE, environment: 'staging' });
    return {};
  },
  get_job: async (w, _arn, h) => {
    if (!h) return { job_id: 'job-0123abcd' };
    return {
      job_id: h.store.jobs.create({
        project: w.project,
        agent: w.agent,
        tool: 'check_drift',
        args: {},
        runAt: new Date(),
        why: 'to have something to poll',
      }).id,
    };
  },
};

/** A site directory under the root the sample world allows. */
export const ROOT = mkdtempSync(join(tmpdir(), 'warden-choke-'));
export const SITE = join(ROOT, 'site');
mkdirSync(SITE);
writeFileSync(join(SITE, 'index.html'), '<h1>hi</h1>');

/** A world whose project declares the service the samples scale and the site root they deploy from. */
/** The database every sample world declares: `<project>-orders`, a staging postgres (ownedDatabase makes it). */
export const DATABASES = `    databases:\n      orders: { identifier: "{project}-orders", engine: postgres, instance_classes: [db.t3.micro, db.t3.small], max_storage_gb: 100, environment: staging }\n`;

export async function serviceWorld(projectYaml = '') {
  const img = await anyImageId(admin.ec2());
  return world({
    projectYaml: `    services:\n      web: { image_id: ${img}, instance_types: [t3.micro], max: 2, health: { timeout_seconds: 5, poll_seconds: 0.2 } }\n    sites: { roots: ["${ROOT}"], soak_minutes: 0 }\n${DATABASES}${projectYaml}`,
  });
}

/** A security group tagged for `project`. */
export async function ownedGroup(project: string): Promise<string> {
  const sg = await admin.ec2().send(
    new CreateSecurityGroupCommand({
      GroupName: fresh('sg'),
      Description: 'web',
      TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'ProjectId', Value: project }] }],
    }),
  );
  return sg.GroupId as string;
}

/** A network ACL in the default VPC, tagged for `project` (or with `tags` instead). */
export async function ownedAcl(project: string, tags: Record<string, string> = { ProjectId: project }): Promise<string> {
  const vpc = (await admin.ec2().send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))).Vpcs?.[0]?.VpcId;
  const acl = await admin.ec2().send(
    new CreateNetworkAclCommand({
      VpcId: vpc,
      TagSpecifications: [{ ResourceType: 'network-acl', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
    }),
  );
  return acl.NetworkAcl?.NetworkAclId as string;
}

/** The RDS instance `<project>-orders` (postgres, db.t3.micro, 20 GB), tagged with `tags`; made once per project. */
export const ownedDatabase = (project: string, tags: Record<string, string> = { ProjectId: project }) =>
  createTaggedDatabase(new RDSClient({ endpoint: process.env.AWS_ENDPOINT_URL }), `${project}-orders`, tags);
