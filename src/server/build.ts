// A server process's guarded half: the agent's AWS clients, every tool, the call tracker, crash recovery. Heavy (it
// loads the AWS SDK), so `serve` answers the MCP handshake first and loads this beside it.
import type { Server } from '@modelcontextprotocol/server';
import type { SendObserver } from '../aws/clients.js';
import type { AgentContext } from '../core/agent.js';
import { log } from '../core/log.js';
import { awsFor } from '../registry/agent-aws.js';
import { recoverOpenApprovals } from '../registry/recover.js';
import type { Store } from '../store/store.js';
import { allTools } from '../tools/index.js';
import { createServer, toolHandlers, type ToolHandlers } from './create-server.js';
import { CallTracker } from './drain.js';
import { openBase, type ServeOptions } from './open.js';
import type { PolicyWatcher } from './policy-watch.js';

export interface Base {
  agent: AgentContext;
  store: Store;
  watcher: PolicyWatcher;
  graceMs: number;
}

/** The tool handlers of `server` for this agent, and recovery of what a crashed process left half done. */
export function guard(
  base: Base,
  peer: () => Server,
  tracker: CallTracker,
  opts: { observe?: SendObserver; notReady?: () => string | null },
) {
  const { agent, store, watcher } = base;
  const aws = awsFor(agent, store, opts.observe);
  const handlers: ToolHandlers = toolHandlers(peer, {
    agent,
    store,
    aws,
    tools: allTools,
    tracker,
    policy: watcher,
    notReady: opts.notReady,
  });
  // A change a crashed process left half done is finished or rolled back now, without holding up the protocol.
  const recovered = recoverOpenApprovals(store, agent, aws)
    .then((r) => r.forEach((x) => log.info(`recovered ${x.tool} approval ${x.approval}: ${x.outcome} (${x.why})`)))
    .catch((e) => log.error(`recovering interrupted changes failed: ${(e as Error).message}`));
  return { handlers, aws, recovered };
}

/** Everything a server process holds, built at once (tests and tools that need no fast handshake). */
export function buildServer(opts: ServeOptions) {
  const base = openBase(opts);
  const { agent, store, watcher, graceMs } = base;
  const aws = awsFor(agent, store, opts.observe);
  const tracker = new CallTracker();
  const server = createServer({ agent, store, aws, tools: allTools, tracker, policy: watcher, notReady: opts.notReady });
  return { server, store, agent, aws, tracker, graceMs };
}
