// `aws-warden demo --serve` as a person's MCP client meets it: the handshake answers while the emulator is still
// starting (calls say so), the demo's health URLs are served so a deploy passes, two demos run side by side on ports
// chosen free, and a critical tag asks the person in the client for consent.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findMotoServer } from '../src/emulator/moto.js';
import { until } from './helpers/served.js';

const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'aws-warden.js');

/** A moto_server that waits for `flag` before it starts: the emulator of a first run, still installing. */
function slowMoto(): { bin: string; release(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'warden-slow-moto-'));
  const flag = join(dir, 'go');
  const bin = join(dir, 'moto_server');
  writeFileSync(bin, `#!/bin/sh\nwhile [ ! -f '${flag}' ]; do sleep 0.1; done\nexec '${findMotoServer()}' "$@"\n`);
  chmodSync(bin, 0o755);
  return { bin, release: () => writeFileSync(flag, '') };
}

interface Demo {
  client: Client;
  asked: string[];
  stderr: () => string;
  release(): void;
}

async function startDemo(): Promise<Demo> {
  const moto = slowMoto();
  const env: Record<string, string> = { ...(process.env as Record<string, string>), WARDEN_MOTO_SERVER: moto.bin };
  // The demo sets its own AWS environment, as it would on a machine with no AWS configuration at all.
  for (const k of ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) delete env[k];
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'demo', '--serve'], env, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: 'person', version: '1' }, { capabilities: { elicitation: {} } });
  const asked: string[] = [];
  client.setRequestHandler(ElicitRequestSchema, async (req) => {
    asked.push(req.params.message);
    return { action: 'accept', content: { approve: true } };
  });
  await client.connect(transport);
  return { client, asked, stderr: () => stderr, release: moto.release };
}

const text = (r: object) => ((('content' in r && r.content) || []) as { text: string }[]).map((c) => c.text).join('\n');

describe('aws-warden demo --serve', () => {
  it('answers the handshake at once, says "still starting", then serves two demos side by side with consent in the client', async () => {
    const demos = await Promise.all([startDemo(), startDemo()]);
    try {
      for (const d of demos) {
        // The emulator is held back, yet the handshake is done and the tools are listed.
        const { tools } = await d.client.listTools();
        expect(tools.map((t) => t.name)).toContain('deploy_static_site');
        const early = await d.client.callTool({ name: 'get_status', arguments: {} });
        expect(early.isError).toBe(true);
        expect(text(early)).toMatch(/still starting/);
        d.release();
      }
      await Promise.all(
        demos.map((d) =>
          until('the demo to be ready', async () => !(await d.client.callTool({ name: 'get_status', arguments: {} })).isError, 90_000),
        ),
      );
      for (const d of demos) {
        const site = join(process.cwd(), 'examples', 'site');
        const deploy = await d.client.callTool({
          name: 'deploy_static_site',
          arguments: { site: 'shop', source_dir: site, environment: 'staging' },
        });
        expect(deploy.isError, text(deploy)).toBeFalsy();
        expect(deploy.structuredContent).toMatchObject({ status: 'executed' });
        const listed = await d.client.callTool({ name: 'list_resources', arguments: {} });
        const web = (listed.structuredContent as { resources: { arn: string; name: string | null }[] }).resources.find(
          (r) => r.name === 'shop-web-1',
        );
        const tagged = await d.client.callTool({
          name: 'tag_resource',
          arguments: { resource_arn: web?.arn, set: { Criticality: 'critical' } },
        });
        expect(d.asked).toHaveLength(1);
        expect(d.asked[0]).toMatch(/A human must approve because: .*critical/);
        expect(tagged.structuredContent, text(tagged)).toMatchObject({ status: 'executed' });
      }
      expect(demos[0].stderr()).toMatch(/ready: seeded/);
      const ports = demos.map((d) => d.stderr().match(/emulator at (http:\/\/127\.0\.0\.1:\d+)/)?.[1]);
      expect(new Set(ports).size).toBe(2);
    } finally {
      await Promise.all(demos.map((d) => d.client.close()));
    }
  }, 180_000);

  it('WARDEN_MOTO_SERVER naming nothing is an error that says so', () => {
    const saved = process.env.WARDEN_MOTO_SERVER;
    process.env.WARDEN_MOTO_SERVER = '/nonexistent/moto_server';
    try {
      expect(() => findMotoServer()).toThrow(/WARDEN_MOTO_SERVER=\/nonexistent\/moto_server: no such file/);
    } finally {
      if (saved === undefined) delete process.env.WARDEN_MOTO_SERVER;
      else process.env.WARDEN_MOTO_SERVER = saved;
    }
    expect(existsSync(findMotoServer())).toBe(true);
  });
});
