// wardenctl store copy --from A --to B: a whole store into a new one, SQLite ⇄ PostgreSQL, proven by its chain.
import { ExitError, parse, UsageError } from '../../src/cli/run-main.js';
import { storeLocation } from '../../src/cli/store-location.js';
import { Store } from '../../src/store/store.js';
import { HELP, printHelp } from './help.js';

function opened(location: string, what: string, opts: { mustExist?: boolean }): Store {
  try {
    return Store.open(location, opts);
  } catch (e) {
    throw new ExitError(2, `cannot open the ${what} store ${Store.shown(location)}: ${(e as Error).message}`);
  }
}

export function storeCommand(argv: string[]): number {
  const { values, positionals } = parse(
    argv,
    { from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    HELP.store,
    1,
  );
  if (values.help) return printHelp(HELP.store);
  if (positionals[0] !== 'copy') throw new UsageError(`expected \`store copy\`, got "${positionals.join(' ')}"\n\n${HELP.store}`);
  if (!values.from) throw new UsageError(`--from: the store to copy is required\n\n${HELP.store}`);
  if (!values.to) throw new UsageError(`--to: where to copy it is required\n\n${HELP.store}`);
  const from = storeLocation(values.from);
  const to = storeLocation(values.to);
  if (from === to) throw new UsageError('--from and --to name the same store');
  const source = opened(from, 'source', { mustExist: true });
  try {
    const before = source.audit.verify({ full: true });
    if (!before.ok) throw new ExitError(1, `the source's chain does not verify at #${before.seq} (${before.reason}); nothing copied`);
    const target = opened(to, 'target', {});
    try {
      let report;
      try {
        report = source.copyInto(target);
      } catch (e) {
        throw new ExitError(2, `nothing copied: ${(e as Error).message}`);
      }
      const after = target.audit.verify({ full: true });
      // The head the copy ends on is the source's row of that seq: the same chain, whatever the source appended since.
      const sourceSeq = after.ok ? source.audit.seqOfHash(after.head)?.seq : undefined;
      const same = after.ok && (after.count === 0 || sourceSeq === after.count);
      const result = {
        from: Store.shown(from),
        to: Store.shown(to),
        tables: report.tables,
        chain: after.ok
          ? { ok: true, events: after.count, head: after.head, sourceHasHead: same }
          : { ok: false, seq: after.seq, reason: after.reason },
      };
      if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else {
        const rows = report.tables.reduce((s, t) => s + t.rows, 0);
        process.stdout.write(`copied ${rows} rows in ${report.tables.length} tables from ${result.from} to ${result.to}\n`);
        process.stdout.write(
          after.ok
            ? `chain verifies on the target: ${after.count} events, head ${after.head}${same ? ' (the same head as the source at that event)' : ' — NOT the source’s head'}\n`
            : `chain does NOT verify on the target at #${after.seq}: ${after.reason}\n`,
        );
      }
      return same ? 0 : 1;
    } finally {
      target.close();
    }
  } finally {
    source.close();
  }
}
