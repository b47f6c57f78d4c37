// wardenctl trust [--agent A] [--json]: each agent's tier in force and the record it is judged by.
import { tableOf } from '../../src/cli/table.js';
import { ExitError, parse } from '../../src/cli/run-main.js';
import { trustRecord } from '../../src/trust/tiers.js';
import { HELP, printHelp } from './help.js';
import { loadPolicy } from './policy.js';
import { withStore } from './store.js';

export async function trustCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      agent: { type: 'string' },
      policy: { type: 'string' },
      db: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    HELP.trust,
  );
  if (values.help) return printHelp(HELP.trust);
  const policy = loadPolicy(values.policy);
  if (values.agent && !(values.agent in policy.agents))
    throw new ExitError(2, `--agent: unknown agent "${values.agent}" (known: ${Object.keys(policy.agents).join(', ')})`);
  return withStore(values.db, ({ store }) => {
    const records = (values.agent ? [values.agent] : Object.keys(policy.agents)).map((a) => trustRecord(store, policy, a));
    if (values.json) {
      process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
      return 0;
    }
    const table = tableOf(['agent', 'tier', 'successes', 'rollbacks', 'denials', 'budget', 'escapes', 'days', 'next'], { keep: ['agent'] });
    for (const r of records)
      table.push([
        r.agent,
        r.tier,
        r.successes,
        r.rollbacks,
        r.denials,
        r.budget_refusals,
        r.boundary_escapes,
        r.days_active,
        r.next_tier ? `${r.next_tier}: ${r.eligible ? 'eligible' : r.why}` : '-',
      ]);
    process.stdout.write(
      `${table.toString()}\n(counted over the last ${policy.trust.promote.window_days} days, since the last tier change)\n`,
    );
    return 0;
  });
}
