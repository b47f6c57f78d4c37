// `aws-warden serve`: load policy, resolve the agent, open the store, and serve MCP on stdin/stdout.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { SendObserver } from '../aws/clients.js';
import { readPolicyFile } from '../policy/load.js';
import { Store } from '../store/store.js';
import { allTools, toolNames } from '../tools/index.js';
import { resolveAgent } from '../core/agent.js';
import { awsFor } from '../registry/agent-aws.js';
import { createServer } from './create-server.js';
import { CallTracker } from './drain.js';
import { PolicyWatcher } from './policy-watch.js';
import { recoverOpenApprovals } from '../registry/recover.js';
import { log } from '../core/log.js';

export interface ServeOptions {
  agentId: string | undefined;
  policyFile: string;
  dbFile: string;
  observe?: SendObserver;
  /** Why calls cannot run yet, or null once they can (the demo answers the handshake while its emulator starts). */
  notReady?: () => string | null;
}

/** Everything a server process holds; built before any byte of protocol is spoken, so bad config exits early. */
export function buildServer(opts: ServeOptions) {
  const loaded = readPolicyFile(opts.policyFile, toolNames);
  const policy = loaded.policy;
  const agent = resolveAgent(policy, opts.agentId);
  const watcher = new PolicyWatcher(opts.policyFile, agent.id, toolNames, loaded);
  const store = Store.open(opts.dbFile);
  // A damaged file is not trusted with changes: every mutating call is refused until a human repairs or replaces it.
  const damage = store.integrity('quick');
  if (damage.length) {
    store.damage = `the audit store ${opts.dbFile} failed SQLite's quick_check (${damage.slice(0, 3).join('; ')})`;
    log.error(`${store.damage}: mutating calls are refused; run \`wardenctl audit verify\` and restore the store from a backup`);
  }
  const aws = awsFor(agent, store, opts.observe);
  const tracker = new CallTracker();
  const server = createServer({ agent, store, aws, tools: allTools, tracker, policy: watcher, notReady: opts.notReady });
  return { server, store, agent, aws, tracker, graceMs: policy.shutdown_grace_seconds * 1000 };
}

export async function serveStdio(opts: ServeOptions): Promise<void> {
  const { server, store, agent, aws, tracker, graceMs } = buildServer(opts);
  const transport = new StdioServerTransport();
  let stopping: Promise<void> | undefined;
  // SIGTERM, SIGINT or the client closing stdin: admit nothing new, let running calls finish or roll back and record
  // their outcomes, and only then close the store. Exit 1 naming what is left if the grace period ran out.
  const stop = (why: string) =>
    (stopping ??= (async () => {
      const running = tracker.size;
      if (running) log.info(`${why}: admitting no new calls; waiting up to ${graceMs / 1000}s for ${running} running`);
      const settled = await tracker.drain(graceMs);
      let open: string[] = [];
      try {
        open = settled ? [] : store.audit.openApprovals(agent.id).map((r) => r.id);
      } catch (e) {
        log.error(`cannot list unsettled approvals: ${(e as Error).message}`);
      }
      await server.close().catch(() => {});
      store.close();
      if (!settled)
        log.error(
          `${why}: ${tracker.size} call(s) still running after ${graceMs / 1000}s; unsettled approvals (settled at the next start): ${open.join(', ') || '(none recorded)'}`,
        );
      process.exit(settled ? 0 : 1);
    })());
  process.stdin.on('end', () => void stop('stdin closed'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  await server.connect(transport);
  // A change a crashed process left half done is finished or rolled back now, without holding up the protocol.
  void recoverOpenApprovals(store, agent, aws)
    .then((r) => r.forEach((x) => log.info(`recovered ${x.tool} approval ${x.approval}: ${x.outcome} (${x.why})`)))
    .catch((e) => log.error(`recovering interrupted changes failed: ${(e as Error).message}`));
  log.info(`serving agent ${agent.id} (project ${agent.projectId}, tier ${agent.tierName}) on stdio; audit in ${opts.dbFile}`);
}
