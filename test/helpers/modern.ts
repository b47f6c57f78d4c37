// An in-process aws-warden behind the SDK's own stdio entry (the era decision `serve` makes), with a v2 client that
// speaks 2026-07-28: no initialize, server/discover, a `_meta` envelope on every request, input_required rounds.
import { Client } from '@modelcontextprotocol/client';
import { InMemoryTransport, type Server } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import type { SentCommand } from '../../src/aws/clients.js';
import { resolveAgent } from '../../src/core/agent.js';
import type { Policy } from '../../src/policy/schema.js';
import { awsFor } from '../../src/registry/agent-aws.js';
import { eraFactory, toolHandlers } from '../../src/server/create-server.js';
import { Store } from '../../src/store/store.js';

export type Elicit = (message: string) => { action: 'accept' | 'decline' | 'cancel'; content?: Record<string, string | number | boolean> };

export interface ModernHarness {
  client: Client;
  store: Store;
  sent: SentCommand[];
  writes(): SentCommand[];
  close(): Promise<void>;
}

export async function connectModern(
  policy: Policy,
  agentId: string,
  opts: { onElicit?: Elicit; autoFulfill?: boolean; name?: string } = {},
): Promise<ModernHarness> {
  const agent = resolveAgent(policy, agentId);
  const store = Store.open(':memory:');
  const sent: SentCommand[] = [];
  const aws = awsFor(agent, store, (c) => sent.push(c));
  let current: Server | undefined;
  const handlers = toolHandlers(() => current as Server, { agent, store, aws });
  const [a, b] = InMemoryTransport.createLinkedPair();
  const entry = serveStdio(
    eraFactory(
      () => handlers,
      (s) => (current = s),
    ),
    { transport: b },
  );
  const client = new Client(
    { name: opts.name ?? 'test', version: '0' },
    {
      capabilities: opts.onElicit ? { elicitation: { form: {} } } : {},
      versionNegotiation: { mode: { pin: '2026-07-28' } },
      inputRequired: { autoFulfill: opts.autoFulfill ?? true },
    },
  );
  const onElicit = opts.onElicit;
  if (onElicit) client.setRequestHandler('elicitation/create', async (req) => onElicit(req.params.message));
  await client.connect(a);
  await client.listTools();
  return {
    client,
    store,
    sent,
    writes: () => sent.filter((c) => c.mutating),
    close: async () => {
      handlers.close();
      await client.close();
      await entry.close();
      store.close();
    },
  };
}
