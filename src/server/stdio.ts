// `aws-warden serve`: open the policy, the agent and the store (a bad configuration exits before any protocol), answer
// the MCP opening at once, and load the tools and the AWS SDK beside it. The SDK's stdio entry decides the connection's
// era from its first message: a 2026-07-28 client (server/discover, a `_meta` envelope on every request) or a 2025-era
// client (the initialize handshake). Each era gets a server instance from the factory below; both share one guard.
import { shownLocation } from '../store/sql.js';
import type { Server } from '@modelcontextprotocol/server';
import { serveStdio as serveEra } from '@modelcontextprotocol/server/stdio';
import { log } from '../core/log.js';
import { CallTracker } from './drain.js';
import { eraFactory } from './era-factory.js';
import { openBase, type ServeOptions } from './open.js';

export type { ServeOptions };

export async function serveStdio(opts: ServeOptions): Promise<void> {
  const base = openBase(opts);
  const { store, agent, graceMs } = base;
  const tracker = new CallTracker();
  // The instance serving the connection now: the entry may build a probe instance first and then the pinned one.
  let current: Server | undefined;
  const peer = () => current as Server;
  // The tools and the AWS SDK load once the opening is answered (or at the first request, whichever comes first):
  // a request waits for them rather than finding no handler.
  let guarded: ReturnType<typeof loadGuard> | undefined;
  const loadGuard = () =>
    import('./build.js')
      .then((m) => m.guard(base, peer, tracker, opts))
      .catch((e: unknown) => {
        log.error(`loading the tools failed: ${(e as Error).message}`);
        void stop('tools failed to load');
        throw e;
      });
  const guard = () => (guarded ??= loadGuard());
  const factory = eraFactory(
    async () => (await guard()).handlers,
    (server, era) => {
      current = server;
      // A legacy client's handshake ends with `initialized`; a modern opening has none, so its first answer is the cue.
      if (era === 'legacy') server.oninitialized = () => void guard().catch(() => {});
      else setImmediate(() => void guard().catch(() => {}));
    },
  );
  let stopping: Promise<void> | undefined;
  // SIGTERM, SIGINT or the client closing stdin: admit nothing new, let running calls finish or roll back and record
  // their outcomes, and only then close the store. Exit 1 naming what is left if the grace period ran out.
  const stop = (why: string, waitMs = graceMs) =>
    (stopping ??= (async () => {
      const running = tracker.size;
      if (running) log.info(`${why}: admitting no new calls; waiting up to ${waitMs / 1000}s for ${running} running`);
      const settled = await tracker.drain(waitMs);
      let open: string[] = [];
      try {
        open = settled ? [] : store.audit.openApprovals(agent.id).map((r) => r.id);
      } catch (e) {
        log.error(`cannot list unsettled approvals: ${(e as Error).message}`);
      }
      await handle.close().catch(() => {});
      store.close();
      if (!settled)
        log.error(
          `${why}: ${tracker.size} call(s) still running after ${waitMs / 1000}s; unsettled approvals (settled at the next start): ${open.join(', ') || '(none recorded)'}`,
        );
      process.exit(settled ? 0 : 1);
    })());
  // A client that leaves (or timed out and moved on) does not stop a change midway: calls run to their outcome, each
  // bounded by call_deadline_seconds. A signal asks for a stop, and gets the shorter shutdown grace.
  process.stdin.on('end', () => void stop('stdin closed', Math.max(graceMs, agent.policy.call_deadline_seconds * 1000)));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  const handle = serveEra(factory, { onerror: (e) => log.error(`MCP: ${e.message}`) });
  log.info(
    `serving agent ${agent.id} (project ${agent.projectId}, tier ${agent.tierName}) on stdio; audit in ${shownLocation(opts.dbFile)}`,
  );
}
