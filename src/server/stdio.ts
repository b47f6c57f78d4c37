// `aws-warden serve`: load policy, resolve the agent, open the store, and serve MCP on stdin/stdout.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { SendObserver } from '../aws/clients.js';
import { loadPolicyFile } from '../policy/load.js';
import { Store } from '../store/store.js';
import { allTools, toolNames } from '../tools/index.js';
import { resolveAgent } from '../core/agent.js';
import { awsFor } from '../registry/agent-aws.js';
import { createServer } from './create-server.js';
import { recoverOpenApprovals } from '../registry/recover.js';
import { log } from '../core/log.js';

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
  // A change a crashed process left half done is finished or rolled back now, without holding up the protocol.
  void recoverOpenApprovals(store, agent, aws)
    .then((r) => r.forEach((x) => log.info(`recovered ${x.tool} approval ${x.approval}: ${x.outcome} (${x.why})`)))
    .catch((e) => log.error(`recovering interrupted changes failed: ${(e as Error).message}`));
  log.info(`serving agent ${agent.id} (project ${agent.projectId}, tier ${agent.tierName}) on stdio; audit in ${opts.dbFile}`);
}
