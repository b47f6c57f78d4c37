// What a client sees: the built `aws-warden serve` over real stdio, get_status and list_resources against an MCP
// `ping` on the same connection (the protocol's own floor), alternating so a noisy machine moves all three.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { launchTagged } from '../src/demo/seed.js';
import { connect } from '../src/demo/prepare.js';
import { ms, summarize } from './stats.js';

/** A fresh directory with the policy of one observer agent, wire-bot, for the figures over a wire. */
export function wirePolicy(prefix: string): { dir: string; policy: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    `version: 1
projects: { wire: { budget_usd_month: 50 } }
tiers: { observer: { tools: [get_status, list_resources] } }
agents: { wire-bot: { project: wire, tier: observer, role_arn: "arn:aws:iam::123456789012:role/wire-bot" } }
rate_limits: { calls_per_minute: 100000, mutating_calls_per_hour: 100000, concurrent_calls: 1000, pending_proposals: 100 }
`,
  );
  return { dir, policy };
}

/** Calls before the figures are taken, on each connection (stdio and HTTP alike). */
export const WARM_UP = 1000;

export async function stdioBench(
  out: (s: string) => void,
  n = 300,
): Promise<{ statusMedian: number; pingMedian: number; listMedian: number }> {
  const { dir, policy } = wirePolicy('warden-bench-stdio-');
  const ec2 = new EC2Client({});
  for (let i = 0; i < 10; i++) await launchTagged(ec2, { ProjectId: 'wire', Name: `w${i}` });
  const client = await connect('wire-bot', { policyFile: policy, dbFile: join(dir, 'w.db') });
  await client.listTools();
  const timed = async (fn: () => Promise<unknown>) => {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  };
  const ping: number[] = [];
  const status: number[] = [];
  const list: number[] = [];
  // A served process runs for hours: measure it warm (the JIT has compiled the call path), not its first calls.
  for (let i = 0; i < 20; i++) await client.callTool({ name: 'list_resources', arguments: {} });
  for (let i = 0; i < WARM_UP; i++) await Promise.all([client.ping(), client.callTool({ name: 'get_status', arguments: {} })]);
  for (let i = 0; i < n; i++) {
    ping.push(await timed(() => client.ping()));
    status.push(await timed(() => client.callTool({ name: 'get_status', arguments: {} })));
    if (i % 3 === 0) list.push(await timed(() => client.callTool({ name: 'list_resources', arguments: {} })));
  }
  await client.close();
  const [p, s, l] = [summarize(ping), summarize(status), summarize(list)];
  out(`\nover real stdio (the built serve, one connection, alternating):`);
  out(`  ping                        median ${ms(p.median)}  p99 ${ms(p.p99)} (n=${p.n})`);
  out(
    `  get_status                  median ${ms(s.median)}  p99 ${ms(s.p99)} — ping + ${ms(s.median - p.median)} (target ping + 0.2 ms: ${s.median - p.median <= 0.2 ? 'met' : 'not met'})`,
  );
  out(`  list_resources, 10 owned    median ${ms(l.median)}  p99 ${ms(l.p99)} (n=${l.n})`);
  return { statusMedian: s.median, pingMedian: p.median, listMedian: l.median };
}
