// Start-up figures a person and an MCP client feel: `wardenctl --help` and `wardenctl audit verify` (a small store)
// from spawn to exit, and `aws-warden serve` from spawn to a completed MCP opening and to the first tool result, with
// each kind of client: the v1 SDK client, the v2 client on the 2025 handshake, and the v2 client on 2026-07-28 (whose
// SDK stdio transport probes server/discover on a short-lived sibling process first).
import { Client as V2Client } from '@modelcontextprotocol/client';
import { StdioClientTransport as V2StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/emulator/moto.js';
import { Store } from '../src/store/store.js';
import { ms, summarize, type Timing } from './stats.js';

const WARDENCTL = join(packageRoot(), 'dist', 'tools', 'wardenctl', 'main.js');
const CLI = join(packageRoot(), 'dist', 'src', 'cli', 'aws-warden.js');

function exitTime(args: string[]): Promise<number> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(performance.now() - t) : reject(new Error(`${args.join(' ')} exited ${code}`))));
  });
}

async function handshakeTime(policyFile: string, dbFile: string): Promise<number> {
  const t = performance.now();
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'serve', '--agent', 'web-bot', '--policy', policyFile, '--db', dbFile],
    env: process.env as Record<string, string>,
    stderr: 'ignore',
  });
  const client = new Client({ name: 'bench', version: '0' });
  await client.connect(transport);
  const took = performance.now() - t;
  await client.close();
  return took;
}

type Kind = 'v1' | 'v2-handshake' | 'v2-2026-07-28' | 'v2-auto';

/** Spawn to the first get_status result, as each kind of client gets it. */
async function firstResultTime(kind: Kind, policyFile: string, dbFile: string): Promise<number> {
  const params = {
    command: process.execPath,
    args: [CLI, 'serve', '--agent', 'web-bot', '--policy', policyFile, '--db', dbFile],
    env: process.env as Record<string, string>,
    stderr: 'ignore' as const,
  };
  const t = performance.now();
  let close: () => Promise<void>;
  if (kind === 'v1') {
    const client = new Client({ name: 'bench', version: '0' });
    await client.connect(new StdioClientTransport(params));
    await client.callTool({ name: 'get_status', arguments: {} });
    close = () => client.close();
  } else {
    const mode = kind === 'v2-handshake' ? undefined : kind === 'v2-auto' ? ('auto' as const) : { pin: '2026-07-28' as const };
    const client = new V2Client({ name: 'bench', version: '0' }, mode ? { versionNegotiation: { mode } } : {});
    await client.connect(new V2StdioClientTransport(params));
    await client.callTool({ name: 'get_status', arguments: {} });
    close = () => client.close();
  }
  const took = performance.now() - t;
  await close();
  return took;
}

async function repeat(n: number, fn: () => Promise<number>): Promise<Timing> {
  await fn(); // warm the file cache once
  const samples: number[] = [];
  for (let i = 0; i < n; i++) samples.push(await fn());
  return summarize(samples);
}

export async function startupBench(out: (s: string) => void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-start-'));
  const db = join(dir, 'small.db');
  const store = Store.open(db);
  for (let i = 0; i < 200; i++) store.audit.append({ kind: 'requested', agent: 'web-bot', project: 'shop', tool: 'get_status' });
  store.close();
  const line = (what: string, t: Timing, target?: number) =>
    out(
      `  ${what}: median ${ms(t.median)}, p99 ${ms(t.p99)} (n=${t.n})${target ? ` — target < ${target} ms: ${t.median < target ? 'met' : 'MISSED'}` : ''}`,
    );
  out('\nstart-up (spawn to exit, or to a completed MCP handshake):');
  line('wardenctl --help', await repeat(15, () => exitTime([WARDENCTL, '--help'])), 250);
  line('wardenctl audit verify (200 events)', await repeat(15, () => exitTime([WARDENCTL, 'audit', 'verify', '--db', db])));
  line('aws-warden --version', await repeat(15, () => exitTime([CLI, '--version'])));
  line(
    'aws-warden serve, spawn to handshake',
    await repeat(10, () => handshakeTime(join(packageRoot(), 'policy.yaml'), join(dir, 'serve.db'))),
    500,
  );
  const policy = join(packageRoot(), 'policy.yaml');
  for (const [kind, what] of [
    ['v1', 'v1 SDK client (2025-11-25 handshake)'],
    ['v2-handshake', 'v2 client, default mode (2025-11-25 handshake)'],
    ['v2-2026-07-28', 'v2 client pinned to 2026-07-28 (probe on a sibling process, then per-request _meta)'],
    ['v2-auto', "v2 client, mode 'auto' (probe, finds 2026-07-28)"],
  ] as const)
    line(
      `aws-warden serve, spawn to first get_status result — ${what}`,
      await repeat(8, () => firstResultTime(kind, policy, join(dir, `${kind}.db`))),
    );
}
