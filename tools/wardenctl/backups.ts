// wardenctl backups [--project P] [--json]: the newest verify_backups result per site and service.
import { tableOf } from '../../src/cli/table.js';
import { parse } from '../../src/cli/run-main.js';
import { HELP, printHelp } from './help.js';
import { readStore } from './store.js';

export async function backupsCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    { project: { type: 'string' }, db: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    HELP.backups,
  );
  if (values.help) return printHelp(HELP.backups);
  return readStore(values.db, ({ store }) => {
    const rows = store.backups
      .latest(values.project)
      .map((b) => ({ ...b, ok: b.ok === 1, detail: JSON.parse(b.detail) as { failures: string[]; checks: number } }));
    if (values.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else {
      const table = tableOf(['project', 'subject', 'result', 'checked at (UTC)', 'what failed']);
      for (const b of rows)
        table.push([
          b.project,
          b.subject,
          b.ok ? 'ok' : 'FAILED',
          b.at.slice(0, 16).replace('T', ' '),
          b.detail.failures.join('; ') || `${b.detail.checks} check(s) passed`,
        ]);
      process.stdout.write(
        rows.length
          ? `${table.toString()}\n`
          : 'no backup verification yet (verify_backups, or the worker with operations.backup_check_hours)\n',
      );
    }
    return rows.some((b) => !b.ok) ? 1 : 0;
  });
}
