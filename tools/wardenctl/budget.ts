// wardenctl budget [--project P] and wardenctl budget reconcile: the ledger per project, and making it agree with AWS.
import { EC2Client } from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { tableOf } from '../../src/cli/table.js';
import { applyReconcile, ownedInAws, type ReconcileReport } from '../../src/budget/reconcile.js';
import { parse, UsageError } from '../../src/cli/run-main.js';
import { toCents } from '../../src/guard/rules.js';
import { formatUsd } from '../../src/prices/prices.js';
import { HELP, printHelp } from './help.js';
import { loadPolicy, projectsOf } from './policy.js';
import { withStore } from './store.js';

const OPTIONS = {
  project: { type: 'string' },
  policy: { type: 'string' },
  db: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function budgetCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'reconcile') return reconcile(argv.slice(1));
  if (argv[0] !== undefined && !argv[0].startsWith('-'))
    throw new UsageError(`wardenctl budget: unknown verb "${argv[0]}"\n\n${HELP.budget}`);
  const { values } = parse(argv, OPTIONS, HELP.budget);
  if (values.help) return printHelp(HELP.budget);
  const policy = loadPolicy(values.policy);
  const projects = projectsOf(policy, values.project);
  return withStore(values.db, ({ store }) => {
    const rows = projects.map((p) => ({
      summary: store.ledger.summary(p, toCents(policy.projects[p].budget_usd_month)),
      pending: store.proposals.list({ state: 'pending', project: p, kind: 'request_budget' }),
    }));
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify(
          rows.map((r) => ({ ...r.summary, pendingRequests: r.pending.map((p) => ({ id: p.id, agent: p.agent, reason: p.reason })) })),
          null,
          2,
        )}\n`,
      );
      return 0;
    }
    const table = tableOf([
      'project',
      'month',
      'cap',
      'held',
      'reserved',
      'left',
      'month to date',
      'month-end projection',
      'unpriced',
      'requests',
    ]);
    for (const { summary: s, pending } of rows)
      table.push([
        s.project,
        s.month,
        formatUsd(s.capCents),
        formatUsd(s.committedCents),
        formatUsd(s.reservedCents),
        formatUsd(s.remainingCents),
        formatUsd(s.monthToDateCents),
        formatUsd(s.projectedMonthEndCents),
        s.unpriced.length,
        pending.length,
      ]);
    process.stdout.write(`${table.toString()}\n(amounts per month unless noted; UTC months; prices rounded up to the cent)\n`);
    return 0;
  });
}

async function reconcile(argv: string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS, HELP.reconcile);
  if (values.help) return printHelp(HELP.reconcile);
  const policy = loadPolicy(values.policy);
  const projects = projectsOf(policy, values.project);
  // A human's command: it reads AWS with the operator's own (standard) credentials, not an agent's role.
  const ec2 = new EC2Client({});
  const account = (await new STSClient({}).send(new GetCallerIdentityCommand({}))).Account ?? '';
  return withStore(values.db, async ({ store }) => {
    const reports: ReconcileReport[] = [];
    for (const p of projects) reports.push(applyReconcile(store, p, await ownedInAws(ec2, p, account)));
    if (values.json) process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
    else
      for (const r of reports) {
        process.stdout.write(
          `${r.project}: ${r.agreed} agreed, ${r.released.length} released (gone from AWS), ${r.adopted.length} adopted (missing from the ledger), ${r.staleReservations.length} stale reservations released\n`,
        );
        for (const a of r.released) process.stdout.write(`  released ${a}\n`);
        for (const a of r.adopted)
          process.stdout.write(
            `  adopted  ${a.arn} (${a.description}, ${a.usd_month === null ? 'NO KNOWN PRICE: new spending is refused until priced' : `$${a.usd_month.toFixed(2)}/month`})\n`,
          );
      }
    const differed = reports.some((r) => r.released.length + r.adopted.length + r.staleReservations.length > 0);
    return differed ? 1 : 0;
  });
}
