// The README's client snippets work as written: each one is read from the README and the server is started with
// the command, arguments and environment it gives, through an MCP handshake and tools/list.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = process.cwd();
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

interface Launch {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

/** The code block that follows `<!-- client: NAME -->`. */
function snippet(name: string): string {
  const at = README.indexOf(`<!-- client: ${name} -->`);
  expect(at, `README has no snippet "${name}"`).toBeGreaterThanOrEqual(0);
  const block = /```(\w+)\n([^]*?)```/.exec(README.slice(at));
  return block?.[2] ?? '';
}

/** A JSON client config: the one server it names, under "mcpServers" or VS Code's "servers". */
function fromJson(text: string): Launch {
  const config = JSON.parse(text) as Record<string, Record<string, Launch & { type?: string }>>;
  const servers = config.mcpServers ?? config.servers;
  const [server] = Object.values(servers);
  if (config.servers) expect(server.type).toBe('stdio');
  return server;
}

/** `claude mcp add NAME -- COMMAND ARGS…` */
function fromClaudeAdd(line: string): Launch {
  const [, rest] = line.trim().split(' -- ');
  expect(line).toMatch(/^claude mcp add aws-warden -- /);
  const [command, ...args] = rest.split(/\s+/);
  return { command, args };
}

/** What `npm link` gives: an `aws-warden` command on PATH running the built CLI. */
function linkedPath(): string {
  const bin = mkdtempSync(join(tmpdir(), 'warden-linked-'));
  const shim = join(bin, 'aws-warden');
  writeFileSync(shim, `#!/bin/sh\nexec '${process.execPath}' '${join(ROOT, 'dist', 'src', 'cli', 'aws-warden.js')}' "$@"\n`);
  chmodSync(shim, 0o755);
  return `${bin}:${process.env.PATH}`;
}

/** The placeholders a reader fills in. */
function filled(launch: Launch): Launch {
  const db = join(mkdtempSync(join(tmpdir(), 'warden-readme-')), 'warden.db');
  const fill = (a: string) =>
    a.replace('/path/to/aws-warden', ROOT).replace('/path/to/policy.yaml', join(ROOT, 'policy.yaml')).replace('/path/to/warden.db', db);
  return { ...launch, command: launch.command === 'node' ? process.execPath : launch.command, args: launch.args.map(fill) };
}

const CASES: [string, () => Launch][] = [
  ['claude-code-cli', () => fromClaudeAdd(snippet('claude-code-cli'))],
  ['claude-code', () => fromJson(snippet('claude-code'))],
  ['claude-desktop', () => fromJson(snippet('claude-desktop'))],
  ['vscode', () => fromJson(snippet('vscode'))],
  ['absolute', () => fromJson(snippet('absolute'))],
  ['aws', () => fromJson(snippet('aws'))],
];

describe('README client snippets', () => {
  it.each(CASES)(
    '%s starts the server as written',
    async (_name, read) => {
      const launch = filled(read());
      const env: Record<string, string> = { ...(process.env as Record<string, string>), PATH: linkedPath(), ...launch.env };
      // The AWS snippet names a profile this machine does not have: its handshake and tool list need no AWS.
      if (launch.env?.AWS_PROFILE) env.AWS_CONFIG_FILE = join(mkdtempSync(join(tmpdir(), 'warden-nocfg-')), 'config');
      const transport = new StdioClientTransport({ command: launch.command, args: launch.args, env, stderr: 'pipe' });
      const client = new Client({ name: 'readme', version: '1' });
      await client.connect(transport);
      try {
        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name)).toContain('get_status');
        expect(client.getServerVersion()?.name).toBe('aws-warden');
      } finally {
        await client.close();
      }
    },
    60_000,
  );

  it('names every client the README promises', () => {
    for (const client of ['Claude Desktop', 'Claude Code', 'VS Code', 'Cursor', 'npm link']) expect(README).toContain(client);
  });
});
