import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveAgent } from '../src/core/agent.js';
import { emulatorEnv, startMoto } from '../src/emulator/moto.js';
import { parsePolicy } from '../src/policy/load.js';
import { awsFor } from '../src/registry/agent-aws.js';
import { createServer } from '../src/server/create-server.js';
import { Store } from '../src/store/store.js';
import { toolNames } from '../src/tools/index.js';

async function main() {
  const emulator = await startMoto();
  Object.assign(process.env, emulatorEnv(emulator.endpoint));
  const policy = parsePolicy(
    `version: 1
projects: { bench: { budget_usd_month: 10 } }
tiers: { observer: { tools: [get_status, list_resources] } }
agents: { bench-bot: { project: bench, tier: observer, role_arn: "arn:aws:iam::123456789012:role/bench-bot" } }
rate_limits: { calls_per_minute: 100000, mutating_calls_per_hour: 100000, concurrent_calls: 1000 }
`,
    'bench.yaml',
    toolNames,
  );
  const agent = resolveAgent(policy, 'bench-bot');
  const store = Store.open(join(mkdtempSync(join(tmpdir(), 'p-')), 'warden.db'));
  const aws = awsFor(agent, store);
  const server = createServer({ agent, store, aws });
  const client = new Client({ name: 'bench', version: '0' });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await Promise.all([client.connect(a), server.connect(b)]);
  await client.listTools();
  const n = Number(process.env.N ?? 5000);
  for (let i = 0; i < 200; i++) await client.callTool({ name: 'get_status', arguments: {} });
  const t = performance.now();
  for (let i = 0; i < n; i++) await client.callTool({ name: 'get_status', arguments: {} });
  console.log('per call ms', (performance.now() - t) / n);
  await client.close();
  store.close();
  await emulator.stop();
}
void main();
