// `aws-warden demo`: a scripted agent session through the real MCP server over stdio, against a local emulator.
import type { Client } from '@modelcontextprotocol/client';
import type { ToolClient } from './tool-client.js';
import { GetRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { auditTable } from '../cli/audit-table.js';
import { INLINE_POLICY } from '../iam/apply.js';
import { loadPolicyFile } from '../policy/load.js';
import { approveProposal, rejectProposal } from '../proposals/approve.js';
import { approveAndRun } from '../registry/approve.js';
import { approveGrant } from '../proposals/grant.js';
import { bucketName } from '../sites/bucket.js';
import { Store } from '../store/store.js';
import { toolNames } from '../tools/index.js';
import { serveStdio } from '../server/stdio.js';
import { serveHealth } from './health.js';
import { operationsChapter, windowChapter } from './operations.js';
import { connect, layout, prepare } from './prepare.js';
import { Script, type Expect, type Out } from './script.js';

/** Runs the scripted session; 1 when a step did not come to what the demo shows (or the chain does not verify). */
export async function runDemo(opts: { dbFile?: string }, out: Out = (s) => console.log(s)): Promise<number> {
  const p = await prepare(await layout(opts.dbFile, out), out);
  const script = new Script(out);
  const clients: Client[] = [];
  const health = await serveHealth(p.ports);
  /** One step: what the agent calls, what came back, checked against what the demo shows. */
  const call = async (client: ToolClient, agent: string, tool: string, args: Record<string, unknown>, expect: Expect) => {
    out(`\n▶ ${agent} calls ${tool}(${JSON.stringify(args)})`);
    const { got, text, structured } = await script.call(client, agent, tool, args, expect);
    if (got === 'error') out(`  ✗ ${text}`);
    else if (got === 'pending') out(`  ⏸ ${text}`);
    else if (got === 'scheduled') out(`  ⏲ ${text}`);
    else out(`  ✓ ${structured?.status === 'dry_run' ? 'guard would allow' : 'guard allowed'} — ${text}`);
    return structured;
  };
  /** A proposal web-bot makes: printed as the agent would see it, checked to be pending; its id. */
  const propose = async (bot: ToolClient, tool: string, args: Record<string, unknown>, saying: string) => {
    const { text, structured } = await script.call(bot, 'web-bot', tool, args, 'pending');
    out(`\n▶ web-bot ${saying}\n  ⏸ ${text}`);
    return (structured?.proposal_id as string | undefined) ?? '';
  };
  /** What a human does with wardenctl, against the demo's store. */
  const human = async <T>(what: (store: Store) => T | Promise<T>): Promise<T> => {
    const store = Store.open(p.dbFile);
    try {
      return await what(store);
    } finally {
      store.close();
    }
  };
  const analysis = (store: Store, id: string) =>
    (JSON.parse(store.proposals.get(id)?.plan ?? '{}') as { preconditions?: { analysis?: string[] } }).preconditions?.analysis?.join('; ');
  try {
    const bot = await connect('web-bot', p);
    clients.push(bot);
    const tools = await bot.listTools();
    out(`\nweb-bot (tier operator) sees tools: ${tools.tools.map((t) => t.name).join(', ')}`);
    await call(bot, 'web-bot', 'get_status', {}, 'ok');
    await call(bot, 'web-bot', 'list_resources', {}, 'ok');
    await call(bot, 'web-bot', 'tag_resource', { resource_arn: p.shopInstance, set: { Owner: 'web-team' }, dry_run: true }, 'ok');
    await call(bot, 'web-bot', 'tag_resource', { resource_arn: p.shopInstance, set: { Owner: 'web-team' } }, 'ok');
    out('\n— now the agent tries to leave its boundary —');
    await call(bot, 'web-bot', 'tag_resource', { resource_arn: p.billingInstance, set: { Owner: 'web-team' } }, 'error');
    await call(bot, 'web-bot', 'tag_resource', { resource_arn: p.shopInstance, set: { ProjectId: 'billing' } }, 'error');
    await call(bot, 'web-bot', 'tag_resource', { resource_arn: p.shopInstance, set: { Criticality: 'critical' } }, 'pending');

    out('\n— a static site: staging, a bad deploy rolled back by itself, promotion —');
    const staging = { site: 'shop', environment: 'staging' };
    await call(bot, 'web-bot', 'deploy_static_site', { ...staging, source_dir: p.siteDir, error_document: '404.html' }, 'ok');
    health.site.healthy = false;
    await call(bot, 'web-bot', 'deploy_static_site', { ...staging, source_dir: p.brokenSiteDir }, 'error');
    health.site.healthy = true;
    await windowChapter(bot, call, script, p, out);
    await call(bot, 'web-bot', 'get_site_status', { site: 'shop' }, 'ok');

    out('\n— capacity —');
    await call(
      bot,
      'web-bot',
      'scale_service',
      { service: 'web', desired_count: 2, instance_type: 't3.micro', reason: 'evening traffic' },
      'ok',
    );
    await call(bot, 'web-bot', 'get_service', { service: 'web' }, 'ok');
    await call(bot, 'web-bot', 'scale_service', { service: 'web', desired_count: 1000, reason: 'just in case' }, 'error');
    await call(bot, 'web-bot', 'scale_service', { service: 'web', desired_count: 2, instance_type: 'm5.large' }, 'error');
    await call(bot, 'web-bot', 'scale_service', { service: 'canary', desired_count: 1, instance_type: 't3.micro' }, 'error');

    out('\n— security groups: the agent may only suggest —');
    const rule = (port: number) => ({ protocol: 'tcp', from_port: port, to_port: port, cidr: '0.0.0.0/0' });
    const httpsId = await propose(
      bot,
      'propose_security_change',
      { security_group: p.shopGroup, add: [{ ...rule(443), description: 'public https' }], reason: 'the shop must serve https' },
      'proposes opening 443 to the world',
    );
    const sshId = await propose(
      bot,
      'propose_security_change',
      { security_group: p.shopGroup, add: [rule(22)], reason: 'I want to debug over ssh' },
      'proposes opening 22 to the world',
    );
    await human(async (store) => {
      out(`\n  a human reads \`wardenctl proposals show ${sshId}\`: ${analysis(store, sshId)}`);
      const done = await approveAndRun(store, loadPolicyFile(p.policyFile, toolNames), httpsId, 'demo-human', 'https is fine');
      script.check('approve the https rule', done.proposal.state === 'executed', `the approved https rule ended "${done.proposal.state}"`);
      out(`  a human runs: wardenctl proposals approve ${httpsId} --yes → ${done.proposal.state} under the approver role`);
      rejectProposal(store, sshId, 'demo-human', 'never open ssh to the world; use SSM Session Manager');
      out(`  a human runs: wardenctl proposals reject ${sshId} --reason "never open ssh to the world; use SSM Session Manager"`);
    });
    await call(bot, 'web-bot', 'get_proposal', { proposal_id: sshId }, 'ok');

    out('\n— network ACLs: the agent may only suggest —');
    const mysqlId = await propose(
      bot,
      'propose_network_acl_change',
      {
        network_acl: p.shopAcl,
        add: [{ ...rule(3306), rule_number: 100, action: 'allow' }],
        reason: 'the reporting tool needs the database',
      },
      'proposes letting the world reach 3306',
    );
    await human((store) => {
      out(`\n  a human reads \`wardenctl proposals show ${mysqlId}\`: ${analysis(store, mysqlId)}`);
      rejectProposal(store, mysqlId, 'demo-human', 'no database port on the internet; use a VPN');
      out(`  a human runs: wardenctl proposals reject ${mysqlId} --reason "no database port on the internet; use a VPN"`);
    });

    out('\n— IAM: the agent may only ask —');
    const wants = {
      actions: ['s3:GetObject'],
      resources: ['arn:aws:s3:::shared-brand-assets/*'],
      reason: 'the shop pages use the shared logo',
    };
    await call(bot, 'web-bot', 'request_permission', { ...wants, actions: ['iam:PassRole'] }, 'error');
    const permId = await propose(bot, 'request_permission', wants, 'asks to read the shared brand assets');
    await human(async (store) => {
      const iam = new IAMClient({});
      const done = await approveGrant(store, p.policyFile, toolNames, permId, 'demo-human', 'read-only, one bucket', iam);
      out(
        `  a human runs: wardenctl proposals approve ${permId} --yes → ${done.proposal.state}: the statement is in policy.yaml and on web-bot's role`,
      );
      // What the agent's next call is judged by: its live role, read back from IAM.
      const live = await iam.send(new GetRolePolicyCommand({ RoleName: 'warden-shop-web-bot', PolicyName: INLINE_POLICY }));
      const granted = (
        JSON.parse(decodeURIComponent(live.PolicyDocument ?? '{}')) as {
          Statement: { Sid?: string; Action: string[]; Resource: string[] }[];
        }
      ).Statement.filter((st) => st.Sid?.startsWith('Granted'));
      script.check('grant s3:GetObject', granted.length === 1, `web-bot's live role carries ${granted.length} granted statement(s), not 1`);
      out(`  web-bot's role now allows: ${granted.map((st) => `${st.Action.join(', ')} on ${st.Resource.join(', ')}`).join('; ')}`);
    });

    out('\n— databases —');
    await call(bot, 'web-bot', 'get_database', { database: 'orders-staging' }, 'ok');
    await call(bot, 'web-bot', 'scale_database', { database: 'orders-staging', instance_class: 'db.t3.small', apply: 'now' }, 'ok');
    await call(bot, 'web-bot', 'scale_database', { database: 'orders', instance_class: 'db.t3.small' }, 'scheduled');
    await call(bot, 'web-bot', 'snapshot_database', { database: 'orders-staging' }, 'ok');
    const reader = { db_user: 'app_ro', reason: 'to count yesterday’s orders' };
    await call(bot, 'web-bot', 'get_database_credentials', { database: 'orders-staging', ...reader }, 'ok');
    await call(bot, 'web-bot', 'get_database_credentials', { database: 'orders', ...reader }, 'pending');
    await call(bot, 'web-bot', 'verify_backups', {}, 'ok');

    out('\n— budget —');
    await call(bot, 'web-bot', 'get_budget', {}, 'ok');
    const budgetId = await propose(
      bot,
      'request_budget',
      { amount_usd_month: 50, reason: 'a second web node for the winter sale', duration: 'this_month' },
      'calls request_budget({"amount_usd_month":50,…})',
    );
    await human((store) => approveProposal(store, budgetId, 'demo-human', 'approved in the demo'));
    out(`\n  a human runs: wardenctl proposals approve ${budgetId} --yes`);
    await call(bot, 'web-bot', 'get_budget', {}, 'ok');
    await operationsChapter(bot, call, script, { ...p, stagingBucket: bucketName('123456789012', 'shop', 'shop', 'staging') }, out);
    await bot.close();
    const auditor = await connect('auditor', p);
    clients.push(auditor);
    await call(auditor, 'auditor', 'tag_resource', { resource_arn: p.shopInstance, set: { Owner: 'auditors' } }, 'error');
    await auditor.close();

    const verified = await human((store) => {
      out(`\nAudit trail (${p.dbFile}):`);
      out(auditTable(store.audit.tail({ limit: 200 })));
      const v = store.audit.verify();
      out(v.ok ? `chain verified: ${v.count} events, head ${v.head.slice(0, 16)}…` : `CHAIN BROKEN at #${v.seq}: ${v.reason}`);
      return v.ok;
    });
    out(`\nInspect it yourself: npx wardenctl audit tail --db ${p.dbFile}`);
    return Math.max(script.verdict(), verified ? 0 : 1);
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    await health.close();
    await p.emulator.stop();
  }
}

/**
 * `demo --serve`: MCP on stdio for an MCP client to drive, against the same emulator, roles and resources. The
 * handshake answers at once; until the emulator is up and seeded (installing it on first use takes a minute or more)
 * a tool call is refused with "still starting". The health URLs the demo policy names are served here too.
 */
export async function serveDemo(opts: { agentId: string; dbFile?: string }): Promise<void> {
  const say = (s: string) => console.error(`[aws-warden demo] ${s}`);
  const l = await layout(opts.dbFile, say);
  await serveHealth(l.ports);
  let notReady: string | null =
    "the demo's local AWS emulator is still starting (installing it on first use takes a minute or two; the server's log says when it is up)";
  await serveStdio({ agentId: opts.agentId, policyFile: l.policyFile, dbFile: l.dbFile, notReady: () => notReady });
  prepare(l, say).then(
    (p) => {
      notReady = null;
      say(`ready: seeded ${p.shopInstance} (shop) and ${p.billingInstance} (billing); audit in ${p.dbFile}`);
    },
    (e: unknown) => {
      notReady = `the demo's local AWS emulator failed to start: ${(e as Error).message.split('\n')[0]}`;
      say(notReady);
    },
  );
}
