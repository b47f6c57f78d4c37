// wardenctl status: what the store holds, per agent, and whether its chain verifies.
import { Store } from '../../src/store/store.js';
import { tableOf } from '../../src/cli/table.js';
import { parse } from '../../src/cli/run-main.js';
import { HELP, printHelp } from './help.js';
import { readStore } from './store.js';

export async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      json: { type: 'boolean' },
      db: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    HELP.status,
  );
  if (values.help) return printHelp(HELP.status);
  return readStore(values.db, ({ store, audit, file }) => {
    const chain = audit.verify();
    const agents = new Map<string, { agent: string; last: string; events: Record<string, number> }>();
    for (const c of audit.counts()) {
      const a = agents.get(c.agent) ?? { agent: c.agent, last: c.last, events: {} };
      a.events[c.kind] = c.n;
      if (c.last > a.last) a.last = c.last;
      agents.set(c.agent, a);
    }
    const schema = store.schemaVersion();
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ db: Store.shown(file), schema, chain, agents: [...agents.values()] }, null, 2)}\n`);
    } else {
      const lines = [
        `store   ${Store.shown(file)} (schema v${schema})`,
        `chain   ${chain.ok ? `ok, ${chain.count} events, head ${chain.head.slice(0, 16)}…` : `BROKEN at #${chain.seq}: ${chain.reason}`}`,
      ];
      const table = tableOf(['agent', 'last activity (UTC)', 'executed', 'denied', 'escalated', 'failed', 'rolled back']);
      for (const a of agents.values())
        table.push([
          a.agent,
          a.last.slice(0, 19).replace('T', ' '),
          a.events.executed ?? 0,
          a.events.denied ?? 0,
          a.events.escalated ?? 0,
          a.events.failed ?? 0,
          a.events.rolled_back ?? 0,
        ]);
      process.stdout.write(`${lines.join('\n')}\n${agents.size ? table.toString() : '(no events yet)'}\n`);
    }
    return chain.ok ? 0 : 1;
  });
}
