// `aws-warden serve`: load policy, resolve the agent, open the store, and serve MCP on stdin/stdout.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { SendObserver } from '../aws/clients.js';
import { loadPolicyFile } from '../policy/load.js';
import { Store } from '../store/store.js';
import { allTools, toolNames } from '../tools/index.js';
import { awsFor, resolveAgent } from './agent-context.js';
import { createServer } from './create-server.js';
import { recoverDeployments } from '../sites/recover.js';
import { log } from './log.js';

export interface ServeOptions {
  agentId: string | undefined;
  policyFile: string;
  dbFile: string;
  observe?: SendObserver;
}

/** Everything a server process holds; built before any byte of protocol is spoken, so bad config exits early. */
export function buildServer(opts: ServeOptions) {
  const policy = loadPolicyFile(opts.policyFile, toolNames);
  const agent = resolveAgent(policy, opts.agentId);
  const store = Store.open(opts.dbFile);
  const aws = awsFor(agent, store, opts.observe);
  const server = createServer({ agent, store, aws, tools: allTools });
  return { server, store, agent, aws };
}

export async function serveStdio(opts: ServeOptions): Promise<void> {
  const { server, store, agent, aws } = buildServer(opts);
  const transport = new StdioServerTransport();
  let closed = false;
  const shutdown = () => {
    if (closed) return;
    closed = true;
    store.close();
  };
  server.onclose = shutdown;
  process.stdin.on('end', () => void server.close());
  process.on('SIGINT', () => void server.close().finally(() => process.exit(0)));
  process.on('SIGTERM', () => void server.close().finally(() => process.exit(0)));
  await server.connect(transport);
  // A deploy a crashed process left half done is finished or rolled back now, without holding up the protocol.
  void recoverDeployments(store, agent, aws)
    .then((r) => r.forEach((x) => log.info(`recovered deployment ${x.deployment}: ${x.outcome} (${x.why})`)))
    .catch((e) => log.error(`recovering unfinished deployments failed: ${(e as Error).message}`));
  log.info(`serving agent ${agent.id} (project ${agent.projectId}, tier ${agent.tierName}) on stdio; audit in ${opts.dbFile}`);
}
