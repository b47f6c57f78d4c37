// wardenctl schedule list | cancel ID: jobs held for a deploy window and the worker's periodic checks.
import { tableOf } from '../../src/cli/table.js';
import { actingHuman } from './human.js';
import { ExitError, parse, UsageError } from '../../src/cli/run-main.js';
import type { JobState } from '../../src/store/jobs.js';
import { HELP, printHelp } from './help.js';
import { withStore } from './store.js';

const STATES: JobState[] = ['queued', 'running', 'done', 'failed', 'cancelled', 'interrupted'];

export async function scheduleCommand(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'list') return list(rest);
  if (verb === 'cancel') return cancel(rest);
  if (verb === '--help' || verb === '-h') return printHelp(HELP.schedule);
  throw new UsageError(`wardenctl schedule: expected list or cancel${verb ? `, got "${verb}"` : ''}\n\n${HELP.schedule}`);
}

function list(argv: string[]): number {
  const { values } = parse(
    argv,
    {
      state: { type: 'string' },
      project: { type: 'string' },
      db: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    HELP.schedule,
  );
  if (values.help) return printHelp(HELP.schedule);
  if (values.state && !STATES.includes(values.state as JobState))
    throw new UsageError(`--state: expected one of ${STATES.join(', ')}, got "${values.state}"`);
  return withStore(values.db, ({ store }) => {
    const rows = store.jobs
      .list({ state: values.state as JobState | undefined, project: values.project })
      .map((j) => ({ ...j, args: JSON.parse(j.args) as unknown, result: j.result ? (JSON.parse(j.result) as unknown) : null }));
    if (values.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    const table = tableOf(['job', 'run at (UTC)', 'state', 'project', 'agent', 'tool', 'why'], { keep: ['job'] });
    for (const j of rows) table.push([j.id, j.run_at.slice(0, 16).replace('T', ' '), j.state, j.project, j.agent, j.tool, j.why]);
    process.stdout.write(rows.length ? `${table.toString()}\n` : 'no jobs\n');
    return 0;
  });
}

function cancel(argv: string[]): number {
  const { values, positionals } = parse(
    argv,
    { as: { type: 'string' }, policy: { type: 'string' }, db: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    HELP.schedule,
    1,
  );
  if (values.help) return printHelp(HELP.schedule);
  const id = positionals[0];
  if (!id) throw new UsageError('wardenctl schedule cancel: give the job id (wardenctl schedule list shows them)');
  const who = `human:${actingHuman(values.as, values.policy)}`;
  return withStore(values.db, ({ store }) => {
    const job = store.jobs.get(id);
    if (!job) throw new ExitError(2, `no job ${id} (wardenctl schedule list shows them)`);
    const done = store.transaction(() => {
      if (!store.jobs.cancel(id, who)) return false;
      store.audit.append({
        kind: 'denied',
        agent: who,
        project: job.project,
        tool: job.tool,
        follows: job.event_id,
        decision: { outcome: 'deny', rule: 'cancelled', job: id },
      });
      return true;
    });
    if (!done) throw new ExitError(1, `job ${id} is ${store.jobs.get(id)?.state}: only a queued job can be cancelled`);
    process.stdout.write(`cancelled ${id} (${job.tool} for ${job.agent}, was due ${job.run_at})\n`);
    return 0;
  });
}
