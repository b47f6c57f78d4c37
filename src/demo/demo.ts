// `aws-warden demo`: a scripted agent session through the real MCP server over stdio, against a local emulator.
import { RDSClient } from '@aws-sdk/client-rds';
import { CreateNetworkAclCommand, CreateSecurityGroupCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditTable } from '../cli/audit-table.js';
import { emulatorEnv, ensureMotoInstalled, packageRoot, startMoto, type Emulator } from '../emulator/moto.js';
import { loadPolicyFile } from '../policy/load.js';
import { serveStdio } from '../server/stdio.js';
import { approveProposal, rejectProposal } from '../proposals/approve.js';
import { approveAndRun } from '../registry/approve.js';
import { approveGrant } from '../proposals/grant.js';
import { Store } from '../store/store.js';
import { toolNames } from '../tools/index.js';
import { GetRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { applyRoles, INLINE_POLICY } from '../iam/apply.js';
import { renderAgentRoles, renderApproverRole, type RenderedRole } from '../iam/render.js';
import { bucketName } from '../sites/bucket.js';
import { closedWindow, operationsChapter, windowChapter } from './operations.js';
import { anyImageId, createTaggedDatabase, launchTagged } from './seed.js';

interface Prepared {
  emulator: Emulator;
  policyFile: string;
  dbFile: string;
  shopInstance: string;
  billingInstance: string;
  shopGroup: string;
  shopAcl: string;
  siteDir: string;
  brokenSiteDir: string;
}

/** Emulator up, roles created from the bundled policy, one instance per project seeded. */
async function prepare(dbFile: string | undefined, say: (s: string) => void): Promise<Prepared> {
  say('starting the local AWS emulator (moto) …');
  ensureMotoInstalled();
  const emulator = await startMoto();
  Object.assign(process.env, emulatorEnv(emulator.endpoint));
  // The bundled policy, with two demo-only edits said out loud: no staging soak, and a second site root.
  const work = mkdtempSync(join(tmpdir(), 'warden-demo-'));
  const broken = join(work, 'site-v2');
  mkdirSync(broken);
  writeFileSync(join(broken, 'index.html'), '<h1>The shop, v2 (its health check will fail)</h1>');
  const policyFile = join(work, 'policy.yaml');
  writeFileSync(
    policyFile,
    readFileSync(join(packageRoot(), 'policy.yaml'), 'utf8')
      .replace('soak_minutes: 30', 'soak_minutes: 0')
      .replace('roots: [./examples/site]', `roots: ["${join(packageRoot(), 'examples', 'site')}", "${broken}"]`)
      .replace(/prod: \[\{ days: \[tue, thu\][^\n]*\]/, `prod: ${closedWindow()}`),
  );
  say(
    `the demo uses policy.yaml with the staging soak cut to 0 minutes, a second site root for a broken v2, and prod's deploy window moved to one that is closed now (${closedWindow()})`,
  );
  const policy = loadPolicyFile(policyFile, toolNames);
  // The same roles `wardenctl iam apply --project P` would create, rendered from the policy.
  const rendered = Object.keys(policy.projects).flatMap((project) => [
    ...Object.entries(policy.agents)
      .filter(([, a]) => a.project === project)
      .flatMap(([id, a]) => renderAgentRoles(policy, id, `arn:aws:iam::${a.role_arn.split(':')[4]}:root`)),
    ...[renderApproverRole(policy, project, 'arn:aws:iam::123456789012:root')].filter((r): r is RenderedRole => r !== null),
  ]);
  const roles = await applyRoles(new IAMClient({}), rendered);
  say(`emulator at ${emulator.endpoint}; applied ${roles.length} IAM roles rendered from policy.yaml (wardenctl iam apply)`);
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
    emulator,
    policyFile,
    shopGroup: group.GroupId as string,
    shopAcl: acl.NetworkAcl?.NetworkAclId as string,
    dbFile: dbFile ?? join(work, 'warden.db'),
    siteDir: join(packageRoot(), 'examples', 'site'),
    brokenSiteDir: broken,
    shopInstance,
    billingInstance,
  };
}

async function connect(agent: string, p: Prepared): Promise<Client> {
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

type Out = (s: string) => void;

async function call(
  client: Client,
  agent: string,
  tool: string,
  args: Record<string, unknown>,
  out: Out,
): Promise<Record<string, unknown> | undefined> {
  out(`\n▶ ${agent} calls ${tool}(${JSON.stringify(args)})`);
  const res = await client.callTool({ name: tool, arguments: args });
  const text = (res.content as { type: string; text: string }[]).find((c) => c.type === 'text')?.text ?? '';
  const structured = res.structuredContent as Record<string, unknown> | undefined;
  const status = structured?.status;
  if (res.isError) out(`  ✗ ${text}`);
  else if (status === 'pending_approval') out(`  ⏸ ${text}`);
  else if (status === 'scheduled') out(`  ⏲ ${text}`);
  else out(`  ✓ ${status === 'dry_run' ? 'guard would allow' : 'guard allowed'} — ${text}`);
  return structured;
}

export async function runDemo(opts: { dbFile?: string }, out: Out = (s) => console.log(s)): Promise<number> {
  const p = await prepare(opts.dbFile, out);
  const clients: Client[] = [];
  try {
    const bot = await connect('web-bot', p);
    clients.push(bot);
    const tools = await bot.listTools();
    out(`\nweb-bot (tier operator) sees tools: ${tools.tools.map((t) => t.name).join(', ')}`);
    await call(bot, 'web-bot', 'get_status', {}, out);
    await call(bot, 'web-bot', 'list_resources', {}, out);
    await call(bot, 'web-bot', 'tag_resource', { resource_arn: p.shopInstance, set: { Owner: 'web-team' }, dry_run: true }, out);
    await call(bot, 'web-bot', 'tag_resource', { resource_arn: p.shopInstance, set: { Owner: 'web-team' } }, out);
    out('\n— now the agent tries to leave its boundary —');
    await call(bot, 'web-bot', 'tag_resource', { resource_arn: p.billingInstance, set: { Owner: 'web-team' } }, out);
    await call(bot, 'web-bot', 'tag_resource', { resource_arn: p.shopInstance, set: { ProjectId: 'billing' } }, out);
    await call(bot, 'web-bot', 'tag_resource', { resource_arn: p.shopInstance, set: { Criticality: 'critical' } }, out);
    out('\n— a static site: staging, a bad deploy rolled back by itself, promotion —');
    let siteHealthy = true;
    const siteHealth = createServer((_req, res) => {
      res.statusCode = siteHealthy ? 200 : 503;
      res.end();
    });
    await new Promise<void>((r) => siteHealth.listen(47832, '127.0.0.1', r));
    try {
      await call(
        bot,
        'web-bot',
        'deploy_static_site',
        { site: 'shop', source_dir: p.siteDir, environment: 'staging', error_document: '404.html' },
        out,
      );
      siteHealthy = false;
      await call(bot, 'web-bot', 'deploy_static_site', { site: 'shop', source_dir: p.brokenSiteDir, environment: 'staging' }, out);
      siteHealthy = true;
      await windowChapter(bot, (c, a, t, args) => call(c, a, t, args, out), p, out);
      await call(bot, 'web-bot', 'get_site_status', { site: 'shop' }, out);
    } finally {
      siteHealth.close();
    }

    out('\n— capacity —');
    await call(
      bot,
      'web-bot',
      'scale_service',
      { service: 'web', desired_count: 2, instance_type: 't3.micro', reason: 'evening traffic' },
      out,
    );
    await call(bot, 'web-bot', 'get_service', { service: 'web' }, out);
    await call(bot, 'web-bot', 'scale_service', { service: 'web', desired_count: 1000, reason: 'just in case' }, out);
    await call(bot, 'web-bot', 'scale_service', { service: 'web', desired_count: 2, instance_type: 'm5.large' }, out);
    const unhealthy = createServer((_req, res) => {
      res.statusCode = 503;
      res.end('not ready');
    });
    await new Promise<void>((r) => unhealthy.listen(47831, '127.0.0.1', r));
    try {
      await call(bot, 'web-bot', 'scale_service', { service: 'canary', desired_count: 1, instance_type: 't3.micro' }, out);
    } finally {
      unhealthy.close();
    }

    out('\n— security groups: the agent may only suggest —');
    const https = await bot.callTool({
      name: 'propose_security_change',
      arguments: {
        security_group: p.shopGroup,
        add: [{ protocol: 'tcp', from_port: 443, to_port: 443, cidr: '0.0.0.0/0', description: 'public https' }],
        reason: 'the shop must serve https',
      },
    });
    out(`\n▶ web-bot proposes opening 443 to the world\n  ⏸ ${(https.content as { text: string }[])[0].text}`);
    const ssh = await bot.callTool({
      name: 'propose_security_change',
      arguments: {
        security_group: p.shopGroup,
        add: [{ protocol: 'tcp', from_port: 22, to_port: 22, cidr: '0.0.0.0/0' }],
        reason: 'I want to debug over ssh',
      },
    });
    out(`\n▶ web-bot proposes opening 22 to the world\n  ⏸ ${(ssh.content as { text: string }[])[0].text}`);
    {
      const store = Store.open(p.dbFile);
      try {
        const httpsId = (https.structuredContent as { proposal_id: string }).proposal_id;
        const sshId = (ssh.structuredContent as { proposal_id: string }).proposal_id;
        const sshPlan = JSON.parse(store.proposals.get(sshId)?.plan ?? '{}') as { preconditions?: { analysis?: string[] } };
        out(`\n  a human reads \`wardenctl proposals show ${sshId}\`: ${sshPlan.preconditions?.analysis?.join('; ')}`);
        const done = await approveAndRun(store, loadPolicyFile(p.policyFile, toolNames), httpsId, 'demo-human', 'https is fine');
        out(`  a human runs: wardenctl proposals approve ${httpsId} --yes → ${done.proposal.state} under the approver role`);
        rejectProposal(store, sshId, 'demo-human', 'never open ssh to the world; use SSM Session Manager');
        out(`  a human runs: wardenctl proposals reject ${sshId} --reason "never open ssh to the world; use SSM Session Manager"`);
      } finally {
        store.close();
      }
    }
    await call(bot, 'web-bot', 'get_proposal', { proposal_id: (ssh.structuredContent as { proposal_id: string }).proposal_id }, out);

    out('\n— network ACLs: the agent may only suggest —');
    const mysql = await bot.callTool({
      name: 'propose_network_acl_change',
      arguments: {
        network_acl: p.shopAcl,
        add: [{ rule_number: 100, protocol: 'tcp', from_port: 3306, to_port: 3306, cidr: '0.0.0.0/0', action: 'allow' }],
        reason: 'the reporting tool needs the database',
      },
    });
    out(`\n▶ web-bot proposes letting the world reach 3306\n  ⏸ ${(mysql.content as { text: string }[])[0].text}`);
    {
      const store = Store.open(p.dbFile);
      try {
        const id = (mysql.structuredContent as { proposal_id: string }).proposal_id;
        const plan = JSON.parse(store.proposals.get(id)?.plan ?? '{}') as { preconditions?: { analysis?: string[] } };
        out(`\n  a human reads \`wardenctl proposals show ${id}\`: ${plan.preconditions?.analysis?.join('; ')}`);
        rejectProposal(store, id, 'demo-human', 'no database port on the internet; use a VPN');
        out(`  a human runs: wardenctl proposals reject ${id} --reason "no database port on the internet; use a VPN"`);
      } finally {
        store.close();
      }
    }

    out('\n— IAM: the agent may only ask —');
    const wants = {
      actions: ['s3:GetObject'],
      resources: ['arn:aws:s3:::shared-brand-assets/*'],
      reason: 'the shop pages use the shared logo',
    };
    await call(bot, 'web-bot', 'request_permission', { ...wants, actions: ['iam:PassRole'] }, out);
    const perm = await bot.callTool({ name: 'request_permission', arguments: wants });
    out(`\n▶ web-bot asks to read the shared brand assets\n  ⏸ ${(perm.content as { text: string }[])[0].text}`);
    {
      const store = Store.open(p.dbFile);
      try {
        const id = (perm.structuredContent as { proposal_id: string }).proposal_id;
        const iam = new IAMClient({});
        const done = await approveGrant(store, p.policyFile, toolNames, id, 'demo-human', 'read-only, one bucket', iam);
        out(
          `  a human runs: wardenctl proposals approve ${id} --yes → ${done.proposal.state}: the statement is in policy.yaml and on web-bot's role`,
        );
        // What the agent's next call is judged by: its live role, read back from IAM.
        const live = await iam.send(new GetRolePolicyCommand({ RoleName: 'warden-shop-web-bot', PolicyName: INLINE_POLICY }));
        const granted = (
          JSON.parse(decodeURIComponent(live.PolicyDocument ?? '{}')) as {
            Statement: { Sid?: string; Action: string[]; Resource: string[] }[];
          }
        ).Statement.filter((st) => st.Sid?.startsWith('Granted'));
        out(`  web-bot's role now allows: ${granted.map((st) => `${st.Action.join(', ')} on ${st.Resource.join(', ')}`).join('; ')}`);
      } finally {
        store.close();
      }
    }

    out('\n— databases —');
    await call(bot, 'web-bot', 'get_database', { database: 'orders-staging' }, out);
    await call(bot, 'web-bot', 'scale_database', { database: 'orders-staging', instance_class: 'db.t3.small', apply: 'now' }, out);
    await call(bot, 'web-bot', 'scale_database', { database: 'orders', instance_class: 'db.t3.small' }, out);
    await call(bot, 'web-bot', 'snapshot_database', { database: 'orders-staging' }, out);
    const reader = { db_user: 'app_ro', reason: 'to count yesterday’s orders' };
    await call(bot, 'web-bot', 'get_database_credentials', { database: 'orders-staging', ...reader }, out);
    await call(bot, 'web-bot', 'get_database_credentials', { database: 'orders', ...reader }, out);
    await call(bot, 'web-bot', 'verify_backups', {}, out);

    out('\n— budget —');
    await call(bot, 'web-bot', 'get_budget', {}, out);
    const asked = await bot.callTool({
      name: 'request_budget',
      arguments: { amount_usd_month: 50, reason: 'a second web node for the winter sale', duration: 'this_month' },
    });
    const proposalId = (asked.structuredContent as { proposal_id?: string } | undefined)?.proposal_id;
    out(`\n▶ web-bot calls request_budget({"amount_usd_month":50,…})\n  ⏸ ${(asked.content as { text: string }[])[0].text}`);
    if (proposalId) {
      const store = Store.open(p.dbFile);
      try {
        approveProposal(store, proposalId, 'demo-human', 'approved in the demo');
      } finally {
        store.close();
      }
      out(`\n  a human runs: wardenctl proposals approve ${proposalId} --yes`);
      await call(bot, 'web-bot', 'get_budget', {}, out);
    }
    await operationsChapter(
      bot,
      (c, a, t, args) => call(c, a, t, args, out),
      { ...p, stagingBucket: bucketName('123456789012', 'shop', 'shop', 'staging') },
      out,
    );
    await bot.close();
    const auditor = await connect('auditor', p);
    clients.push(auditor);
    await call(auditor, 'auditor', 'tag_resource', { resource_arn: p.shopInstance, set: { Owner: 'auditors' } }, out);
    await auditor.close();

    const store = Store.open(p.dbFile);
    try {
      const audit = store.audit;
      out(`\nAudit trail (${p.dbFile}):`);
      out(auditTable(audit.tail({ limit: 200 })));
      const v = audit.verify();
      out(v.ok ? `chain verified: ${v.count} events, head ${v.head.slice(0, 16)}…` : `CHAIN BROKEN at #${v.seq}: ${v.reason}`);
      out(`\nInspect it yourself: npx wardenctl audit tail --db ${p.dbFile}`);
      return v.ok ? 0 : 1;
    } finally {
      store.close();
    }
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    await p.emulator.stop();
  }
}

/** `demo --serve`: the same emulator and roles, then MCP on stdio for an MCP client to drive. */
export async function serveDemo(opts: { agentId: string; dbFile?: string }): Promise<void> {
  const p = await prepare(opts.dbFile, (s) => console.error(`[aws-warden demo] ${s}`));
  console.error(`[aws-warden demo] seeded ${p.shopInstance} (shop) and ${p.billingInstance} (billing); audit in ${p.dbFile}`);
  const stop = () => void p.emulator.stop().finally(() => process.exit(0));
  process.stdin.on('end', stop);
  await serveStdio({ agentId: opts.agentId, policyFile: p.policyFile, dbFile: p.dbFile });
}
