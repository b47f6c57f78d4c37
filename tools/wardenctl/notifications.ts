// wardenctl notifications [--limit N] [--json]: what humans were told, and whether each webhook took it.
import { tableOf } from '../../src/cli/table.js';
import { parse, parseLimit } from '../../src/cli/run-main.js';
import { listNotifications } from '../../src/notify/notify.js';
import { HELP, printHelp } from './help.js';
import { readStore } from './store.js';

export async function notificationsCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    { limit: { type: 'string' }, db: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    HELP.notifications,
  );
  if (values.help) return printHelp(HELP.notifications);
  const limit = parseLimit(values.limit, 50);
  return readStore(values.db, ({ store }) => {
    const rows = listNotifications(store, limit).map((n) => ({
      ...n,
      body: JSON.parse(n.body),
      deliveries: JSON.parse(n.deliveries) as { webhook: string; ok: boolean }[],
    }));
    if (values.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    const table = tableOf(['#', 'time (UTC)', 'project', 'kind', 'subject', 'webhooks']);
    for (const n of rows)
      table.push([
        n.id,
        n.ts.slice(0, 19).replace('T', ' '),
        n.project,
        n.kind,
        n.subject,
        n.deliveries.length ? `${n.deliveries.filter((d) => d.ok).length}/${n.deliveries.length} delivered` : 'none set',
      ]);
    process.stdout.write(rows.length ? `${table.toString()}\n` : 'no notifications\n');
    return 0;
  });
}
