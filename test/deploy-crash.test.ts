// A server killed (-9) between upload and health check: the next start finds the deployment unfinished and
// completes its health check (live) or rolls it back — under the original, still-open approval.
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentAws } from '../src/aws/clients.js';
import { AgentSession } from '../src/aws/session.js';
import { loadPolicyFile } from '../src/policy/load.js';
import { resolveAgent } from '../src/core/agent.js';
import { recoverOpenApprovals } from '../src/registry/recover.js';
import { rawDb, Store } from '../src/store/store.js';
import { toolNames } from '../src/tools/index.js';
import { admin, fresh } from './helpers/harness.js';

async function crashMidHealthCheck(after: 'ok' | 'fail') {
  let mode: 'hang' | 'ok' | 'fail' = 'hang';
  const hanging: ServerResponse[] = [];
  const http = createServer((_req, res) => {
    if (mode === 'hang') return void hanging.push(res);
    res.statusCode = mode === 'ok' ? 200 : 503;
    res.end();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'warden-crash-'));
  const site = join(dir, 'site');
  mkdirSync(site);
  for (const f of ['index.html', 'a.js', 'b.css']) writeFileSync(join(site, f), `${f} body`);
  const project = fresh('p');
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `version: 1
projects:
  ${project}:
    budget_usd_month: 10
    sites: { roots: ["${dir}"], health_url: "http://127.0.0.1:${port}/health", health_timeout_seconds: 8 }
tiers: { operator: { tools: [deploy_static_site] } }
agents: { bot: { project: ${project}, tier: operator, role_arn: "arn:aws:iam::123456789012:role/bot" } }
`,
  );
  const db = join(dir, 'warden.db');
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(process.cwd(), 'dist', 'src', 'cli', 'aws-warden.js'), 'serve', '--agent', 'bot', '--policy', policyFile, '--db', db],
    env: { ...(process.env as Record<string, string>) },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'crash', version: '0' });
  await client.connect(transport);
  const pending = client
    .callTool({ name: 'deploy_static_site', arguments: { site: 'shop', source_dir: site, environment: 'staging' } })
    .catch(() => null);
  // Wait until every upload is recorded and the health check is hanging, then kill the server outright.
  const store = Store.open(db);
  for (let i = 0; i < 200; i++) {
    const d = rawDb(store).prepare("SELECT created FROM deployments WHERE state = 'in_progress'").get() as { created: string } | undefined;
    if (d && (JSON.parse(d.created) as unknown[]).length === 3 && hanging.length > 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  process.kill(transport.pid as number, 'SIGKILL');
  await pending;
  for (const res of hanging) res.destroy();
  mode = after;

  const policy = loadPolicyFile(policyFile, toolNames);
  const agent = resolveAgent(policy, 'bot');
  const aws = new AgentAws(
    new AgentSession({ agentId: 'bot', projectId: project, roleArn: agent.agent.role_arn, sessionSeconds: 900 }),
    (id, who) => store.audit.isOpenApproval(id, who),
  );
  await aws.session.credentials();
  const recovered = await recoverOpenApprovals(store, agent, aws);
  http.close();
  return { store, recovered, bucket: rawDb(store).prepare('SELECT bucket FROM deployments').pluck().get() as string };
}

describe('a deploy interrupted by kill -9', () => {
  it('completes on restart when the health check now passes', async () => {
    const { store, recovered, bucket } = await crashMidHealthCheck('ok');
    expect(recovered).toEqual([expect.objectContaining({ outcome: 'completed' })]);
    expect(rawDb(store).prepare('SELECT state FROM deployments').pluck().get()).toBe('live');
    expect(store.audit.tail({ limit: 3 }).map((e) => e.kind)).toEqual(['requested', 'approved', 'executed']);
    const keys = (await admin.s3().send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map((c) => c.Key).sort();
    expect(keys).toEqual(['a.js', 'b.css', 'index.html']);
    expect(store.audit.verify().ok).toBe(true);
    store.close();
  });

  it('rolls back on restart when the health check fails', async () => {
    const { store, recovered, bucket } = await crashMidHealthCheck('fail');
    expect(recovered).toEqual([expect.objectContaining({ outcome: 'undone' })]);
    expect(rawDb(store).prepare('SELECT state FROM deployments').pluck().get()).toBe('rolled_back');
    expect(store.audit.tail({ limit: 4 }).map((e) => e.kind)).toEqual(['requested', 'approved', 'executed', 'rolled_back']);
    expect((await admin.s3().send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).toEqual([]);
    store.close();
  });
});
