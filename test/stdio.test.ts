// The built `aws-warden serve` over stdio, as an MCP client starts it; plus its refusals to start.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launchTagged } from '../src/demo/seed.js';
import { AuditLog } from '../src/store/audit.js';
import { closeDb, openDb } from '../src/store/db.js';
import { admin, fresh } from './helpers/harness.js';

const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'aws-warden.js');

function withoutQuietSwitch(): Record<string, string> {
  const env = { ...(process.env as Record<string, string>) };
  delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  return env;
}

function policyFile(project: string, agent: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-stdio-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(
    file,
    `version: 1
projects: { ${project}: { budget_usd_month: 50 } }
tiers: { observer: { tools: [get_status, list_resources] } }
agents: { ${agent}: { project: ${project}, tier: observer, role_arn: "arn:aws:iam::123456789012:role/${agent}" } }
`,
  );
  return file;
}

describe('aws-warden serve (stdio)', () => {
  it('lists tools with hints and output schemas, and serves both read tools against moto', async () => {
    const project = fresh('p');
    const agent = fresh('bot');
    const file = policyFile(project, agent);
    const db = join(mkdtempSync(join(tmpdir(), 'warden-stdio-db-')), 'w.db');
    const arn = await launchTagged(admin.ec2(), { ProjectId: project, Name: 'e2e' });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--policy', file, '--db', db],
      // As a client starts it: without the test setup's switch that silences the AWS SDK's Node-version notice.
      env: { ...withoutQuietSwitch(), WARDEN_AGENT: agent },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const client = new Client({ name: 'e2e', version: '0' });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(['get_status', 'list_resources']);
      for (const t of tools) {
        expect(t.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true });
        expect(t.outputSchema?.type).toBe('object');
      }
      const status = await client.callTool({ name: 'get_status', arguments: {} });
      expect(status.isError).toBeFalsy();
      expect(status.structuredContent).toMatchObject({
        agent,
        project,
        assumed_role_arn: `arn:aws:sts::123456789012:assumed-role/${agent}/warden-${agent}`,
      });
      const list = await client.callTool({ name: 'list_resources', arguments: {} });
      expect((list.structuredContent as { resources: { arn: string }[] }).resources.map((r) => r.arn)).toEqual([arn]);
      const denied = await client.callTool({ name: 'tag_resource', arguments: { resource_arn: arn, set: { A: 'b' } } });
      expect(denied.isError).toBe(true);
    } finally {
      await client.close();
    }
    expect(stderr).not.toMatch(/NodeVersionSupportWarning|require node/);
    const conn = openDb(db);
    const kinds = new AuditLog(conn).tail({ limit: 20 }).map((e) => e.kind);
    closeDb(conn);
    // Two reads (one row each), then the denied change (its request, then the denial).
    expect(kinds).toEqual(['read', 'read', 'requested', 'denied']);
  });

  it.each([
    [
      'an invalid policy',
      (f: string) => ['serve', '--agent', 'x', '--policy', f],
      'tiers: { observer: { tools: [nope] } }',
      /policy\.yaml:\d+:\d+ tiers\.observer\.tools\.0: unknown tool "nope"/,
    ],
    [
      'an agent not in the policy',
      (f: string) => ['serve', '--agent', 'mallory', '--policy', f],
      '',
      /agent "mallory" is not in the policy/,
    ],
    ['no agent at all', (f: string) => ['serve', '--policy', f], '', /no agent id: start the server with --agent ID or WARDEN_AGENT/],
    ['a missing policy file', () => ['serve', '--agent', 'x', '--policy', '/nonexistent/policy.yaml'], '', /cannot read policy/],
    ['an unknown flag', () => ['serve', '--agnet', 'x'], '', /Unknown option '--agnet'/],
  ])('exits 2 on %s, saying why on stderr and nothing on stdout', (_what, args, tiers, message) => {
    const project = fresh('p');
    const agent = fresh('bot');
    const file = policyFile(project, agent);
    if (tiers) writeFileSync(file, `version: 1\nprojects: { ${project}: { budget_usd_month: 1 } }\n${tiers}\nagents: {}\n`);
    const env = { ...process.env };
    delete env.WARDEN_AGENT;
    const r = spawnSync(process.execPath, [CLI, ...args(file)], { encoding: 'utf8', env, input: '' });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });

  it('check-policy prints what the shipped policy grants, and exits 1 naming the field on a bad one', () => {
    const ok = spawnSync(process.execPath, [CLI, 'check-policy', 'policy.yaml'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/agent web-bot\n\s+project\s+shop/);
    expect(ok.stdout).toMatch(
      /tools\s+get_status, list_resources, get_budget, request_budget, request_permission, get_proposal, tag_resource, get_service, scale_service, propose_security_change/,
    );
    const file = policyFile('p-x', 'bot-x').replace(/policy\.yaml$/, 'bad.yaml');
    writeFileSync(
      file,
      'version: 1\nprojects: {}\ntiers: {}\nagents: { web: { project: shop, tier: t, role_arn: "arn:aws:iam::123456789012:role/a" } }\n',
    );
    const bad = spawnSync(process.execPath, [CLI, 'check-policy', file], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/bad\.yaml:4:\d+ agents\.web\.project: unknown project "shop"/);
  });
});
