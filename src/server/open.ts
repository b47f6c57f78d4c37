// What a server process opens before it speaks any protocol, so a bad configuration exits 2 with nothing on stdout:
// the policy (validated against the tools' names, without loading the tools), the agent, the store.
import type { SendObserver } from '../aws/clients.js';
import { resolveAgent } from '../core/agent.js';
import { log } from '../core/log.js';
import { readPolicyFile } from '../policy/load.js';
import { Store } from '../store/store.js';
import { TOOL_NAMES } from '../tools/names.js';
import { PolicyFile } from './policy-file.js';
import { PolicyWatcher } from './policy-watch.js';

export interface ServeOptions {
  agentId: string | undefined;
  policyFile: string;
  dbFile: string;
  observe?: SendObserver;
  /** Why calls cannot run yet, or null once they can (the demo answers the handshake while its emulator starts). */
  notReady?: () => string | null;
}

export function openBase(opts: ServeOptions) {
  const loaded = readPolicyFile(opts.policyFile, TOOL_NAMES);
  const policy = loaded.policy;
  const agent = resolveAgent(policy, opts.agentId);
  const watcher = new PolicyWatcher(new PolicyFile(opts.policyFile, TOOL_NAMES, loaded), agent.id);
  const store = openServedStore(opts.dbFile);
  return { agent, store, watcher, graceMs: policy.shutdown_grace_seconds * 1000 };
}

/** The store a server serves from. A damaged file is not trusted with changes: every mutating call is refused until a human repairs or replaces it. */
export function openServedStore(dbFile: string): Store {
  const store = Store.open(dbFile);
  const damage = store.integrity('quick');
  if (damage.length) {
    store.damage = `the audit store ${Store.shown(dbFile)} failed SQLite's quick_check (${damage.slice(0, 3).join('; ')})`;
    log.error(`${store.damage}: mutating calls are refused; run \`wardenctl audit verify\` and restore the store from a backup`);
  }
  return store;
}
