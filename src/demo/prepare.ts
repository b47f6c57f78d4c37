// The demo's world: its policy (the bundled one with demo edits said out loud), ports chosen free at start, the
// emulator, the IAM roles the policy implies, and the resources the script acts on.
import { RDSClient } from '@aws-sdk/client-rds';
import { CreateNetworkAclCommand, CreateSecurityGroupCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emulatorEnv, ensureMotoInstalled, freePort, packageRoot, startMoto, type Emulator } from '../emulator/moto.js';
import { applyRoles } from '../iam/apply.js';
import { renderAgentRoles, renderApproverRole, type RenderedRole } from '../iam/render.js';
import { loadPolicyFile } from '../policy/load.js';
import { toolNames } from '../tools/index.js';
import type { DemoPorts } from './health.js';
import { closedWindow } from './operations.js';
import { anyImageId, createTaggedDatabase, launchTagged } from './seed.js';

export interface Layout {
  policyFile: string;
  dbFile: string;
  siteDir: string;
  brokenSiteDir: string;
  ports: DemoPorts;
}

export interface Prepared extends Layout {
  emulator: Emulator;
  shopInstance: string;
  billingInstance: string;
  shopGroup: string;
  shopAcl: string;
}

/** Files and ports, no AWS yet: the policy the demo runs under, and the environment that points the SDK at the emulator. */
export async function layout(dbFile: string | undefined, say: (s: string) => void): Promise<Layout> {
  const siteDir = join(packageRoot(), 'examples', 'site');
  if (!existsSync(join(siteDir, 'index.html'))) throw new Error(`the demo's site is missing: ${siteDir}/index.html (a broken install?)`);
  const ports = { moto: await freePort(), site: await freePort(), canary: await freePort() };
  const work = mkdtempSync(join(tmpdir(), 'warden-demo-'));
  const broken = join(work, 'site-v2');
  mkdirSync(broken);
  writeFileSync(join(broken, 'index.html'), '<h1>The shop, v2 (its health check will fail)</h1>');
  const policyFile = join(work, 'policy.yaml');
  const edit = (text: string, from: string | RegExp, to: string) => {
    const next = text.replace(from, to);
    if (next === text) throw new Error(`the bundled policy.yaml no longer has ${String(from)}: the demo cannot make its edits`);
    return next;
  };
  let text = readFileSync(join(packageRoot(), 'policy.yaml'), 'utf8');
  text = edit(text, 'soak_minutes: 30', 'soak_minutes: 0');
  text = edit(text, 'roots: [./examples/site]', `roots: ["${siteDir}", "${broken}"]`);
  text = edit(text, /prod: \[\{ days: \[tue, thu\][^\n]*\]/, `prod: ${closedWindow()}`);
  text = edit(text, '127.0.0.1:47832', `127.0.0.1:${ports.site}`);
  text = edit(text, '127.0.0.1:47831', `127.0.0.1:${ports.canary}`);
  text = edit(text, '    environments: [staging, prod]\n', '    environments: [staging, prod]\n    in_client_consent: [critical_tag]\n');
  writeFileSync(policyFile, text);
  say(
    `the demo uses policy.yaml with the staging soak cut to 0 minutes, a second site root for a broken v2, prod's deploy window moved to one that is closed now (${closedWindow()}), health URLs on ports free now (${ports.site}, ${ports.canary}), and in-client consent for critical tags`,
  );
  Object.assign(process.env, emulatorEnv(`http://127.0.0.1:${ports.moto}`));
  return { policyFile, dbFile: dbFile ?? join(work, 'warden.db'), siteDir, brokenSiteDir: broken, ports };
}

/** Emulator up, roles created from the policy, the resources the script acts on seeded. */
export async function prepare(l: Layout, say: (s: string) => void): Promise<Prepared> {
  say('starting the local AWS emulator (moto) …');
  await ensureMotoInstalled();
  const emulator = await startMoto({ port: l.ports.moto });
  try {
    return { ...l, emulator, ...(await seed(l.policyFile, say)) };
  } catch (e) {
    await emulator.stop();
    throw e;
  }
}

async function seed(policyFile: string, say: (s: string) => void) {
  const policy = loadPolicyFile(policyFile, toolNames);
  // The same roles `wardenctl iam apply --project P` would create, rendered from the policy.
  const rendered = Object.keys(policy.projects).flatMap((project) => [
    ...Object.entries(policy.agents)
      .filter(([, a]) => a.project === project)
      .flatMap(([id, a]) => renderAgentRoles(policy, id, `arn:aws:iam::${a.role_arn.split(':')[4]}:root`)),
    ...[renderApproverRole(policy, project, 'arn:aws:iam::123456789012:root')].filter((r): r is RenderedRole => r !== null),
  ]);
  const roles = await applyRoles(new IAMClient({}), rendered);
  say(`emulator at ${process.env.AWS_ENDPOINT_URL}; applied ${roles.length} IAM roles rendered from policy.yaml (wardenctl iam apply)`);
  const rds = new RDSClient({});
  await createTaggedDatabase(rds, 'shop-orders', { ProjectId: 'shop', Environment: 'prod' });
  await createTaggedDatabase(rds, 'shop-orders-staging', { ProjectId: 'shop', Environment: 'staging' });
  say('created the RDS instances shop-orders (prod) and shop-orders-staging, tagged ProjectId=shop');
  const ec2 = new EC2Client({});
  const image = await anyImageId(ec2);
  const shopInstance = await launchTagged(
    ec2,
    { ProjectId: 'shop', AgentId: 'web-bot', ManagedBy: 'aws-warden', Name: 'shop-web-1' },
    image,
  );
  const billingInstance = await launchTagged(
    ec2,
    { ProjectId: 'billing', AgentId: 'billing-bot', ManagedBy: 'aws-warden', Name: 'billing-db' },
    image,
  );
  const group = await ec2.send(
    new CreateSecurityGroupCommand({
      GroupName: 'shop-web',
      Description: 'shop web servers',
      TagSpecifications: [
        {
          ResourceType: 'security-group',
          Tags: [
            { Key: 'ProjectId', Value: 'shop' },
            { Key: 'ManagedBy', Value: 'aws-warden' },
          ],
        },
      ],
    }),
  );
  const vpc = (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))).Vpcs?.[0]?.VpcId;
  const acl = await ec2.send(
    new CreateNetworkAclCommand({
      VpcId: vpc,
      TagSpecifications: [{ ResourceType: 'network-acl', Tags: [{ Key: 'ProjectId', Value: 'shop' }] }],
    }),
  );
  return {
    shopInstance,
    billingInstance,
    shopGroup: group.GroupId as string,
    shopAcl: acl.NetworkAcl?.NetworkAclId as string,
  };
}

/** An MCP client of the built server, as an MCP client host starts it (the demo, and the bench over real stdio). */
export async function connect(agent: string, p: Pick<Layout, 'policyFile' | 'dbFile'>): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [
      join(packageRoot(), 'dist', 'src', 'cli', 'aws-warden.js'),
      'serve',
      '--agent',
      agent,
      '--policy',
      p.policyFile,
      '--db',
      p.dbFile,
    ],
    env: { ...(process.env as Record<string, string>) },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'warden-demo', version: '0.1.0' });
  await client.connect(transport);
  return client;
}
