// wardenctl proposals list | show | approve | reject: a human decides what agents could only suggest.
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { tableOf } from '../../src/cli/table.js';
import { ExitError, parse, UsageError } from '../../src/cli/run-main.js';
import { ProposalRefused, rejectProposal } from '../../src/proposals/approve.js';
import { recordExpiries } from '../../src/proposals/expire.js';
import { oneLine } from '../../src/util/terminal.js';
import { actingHuman } from './human.js';
import { loadPolicy, policyFile } from './policy.js';
import { TOOL_NAMES } from '../../src/tools/names.js';
import type { ProposalRow } from '../../src/store/proposals.js';
import type { Store } from '../../src/store/store.js';
import { changeView } from './diff.js';
import { HELP, printHelp } from './help.js';
import { withStore } from './store.js';

const STATES = ['pending', 'approved', 'rejected', 'expired', 'executed', 'failed', 'stale'];

function view(p: ProposalRow) {
  return { ...p, plan: JSON.parse(p.plan) as Record<string, unknown>, risk_flags: JSON.parse(p.risk_flags) as string[] };
}

export async function proposalsCommand(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  switch (verb) {
    case 'list':
      return list(rest);
    case 'show':
      return show(rest);
    case 'approve':
      return decide(rest, 'approve');
    case 'reject':
      return decide(rest, 'reject');
    case '--help':
    case '-h':
      return printHelp(HELP.proposals);
    default:
      throw new UsageError(
        `wardenctl proposals: expected list, show, approve or reject${verb ? `, got "${verb}"` : ''}\n\n${HELP.proposals}`,
      );
  }
}

function list(argv: string[]): number {
  const { values } = parse(
    argv,
    {
      state: { type: 'string' },
      policy: { type: 'string' },
      db: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    HELP.proposals,
  );
  if (values.help) return printHelp(HELP.proposals);
  if (values.state && !STATES.includes(values.state))
    throw new UsageError(`--state: expected one of ${STATES.join(', ')}, got "${values.state}"`);
  return withStore(values.db, ({ store }) => {
    recordExpiries(store, policyForNotices(values.policy));
    const rows = store.proposals.list({ state: values.state });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(rows.map(view), null, 2)}\n`);
      return 0;
    }
    const table = tableOf(['id', 'state', 'project', 'agent', 'what', 'reason', 'expires (UTC)'], { keep: ['id'] });
    for (const p of rows)
      table.push([
        p.id,
        p.state,
        p.project,
        p.agent,
        view(p).plan.summary as string,
        p.reason,
        p.expires_at.slice(0, 16).replace('T', ' '),
      ]);
    process.stdout.write(rows.length ? `${table.toString()}\n` : 'no proposals\n');
    return 0;
  });
}

function describe(p: ProposalRow, change: string[] = []): string {
  const v = view(p);
  const plan = v.plan as {
    summary: string;
    operations: { action: string; target?: string; params?: unknown }[];
    costDeltaUsdMonth: number | null;
    preconditions?: { analysis?: string[]; current_rules?: unknown[]; already_present?: string[] };
  };
  const pre = plan.preconditions;
  return [
    `proposal ${p.id} (${p.state})`,
    `  from      agent ${p.agent}, project ${p.project}, via ${p.tool}, at ${p.created_at}`,
    `  reason    ${oneLine(p.reason)}`,
    `  plan      ${oneLine(plan.summary)}`,
    ...plan.operations.map(
      (o) => `            - ${o.action}${o.target ? ` on ${o.target}` : ''} ${o.params ? JSON.stringify(o.params) : ''}`,
    ),
    ...change,
    `  cost      ${plan.costDeltaUsdMonth === null ? 'unknown' : `$${plan.costDeltaUsdMonth.toFixed(2)}/month`}`,
    `  risk      ${v.risk_flags.join(', ') || '-'}`,
    ...(pre?.analysis?.length ? pre.analysis.map((a) => `  ANALYSIS  ${a}`) : []),
    ...(pre?.current_rules ? [`  assumes   ${pre.current_rules.length} current rule(s); approval refuses if they changed`] : []),
    ...(pre?.already_present?.length ? [`  skipped   already present: ${pre.already_present.join('; ')}`] : []),
    `  expires   ${p.expires_at}`,
    `  plan hash ${p.plan_hash}`,
    ...(p.decided_by
      ? [`  decided   ${p.state} by ${p.decided_by} at ${p.decided_at}${p.decision_note ? `: ${p.decision_note}` : ''}`]
      : []),
  ].join('\n');
}

function show(argv: string[]): number {
  const { values, positionals } = parse(
    argv,
    { db: { type: 'string' }, json: { type: 'boolean' }, policy: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    HELP.proposals,
    1,
  );
  if (values.help) return printHelp(HELP.proposals);
  const id = positionals[0];
  if (!id) throw new UsageError(`wardenctl proposals show: which proposal? (an id from wardenctl proposals list)`);
  const policy = policyForNotices(values.policy);
  return withStore(values.db, ({ store }) => {
    const p = store.proposals.get(id);
    if (!p) throw new ExitError(2, `no proposal ${id} (wardenctl proposals list shows them)`);
    process.stdout.write(
      values.json
        ? `${JSON.stringify(view(p), null, 2)}\n`
        : `${describe(p, changeView(p, store, policy))}\n\nplan as data:\n${JSON.stringify(view(p).plan, null, 2)}\n`,
    );
    return 0;
  });
}

/** A rejection needs no policy; with one, the project's webhooks hear of it. */
function policyForNotices(flag: string | undefined) {
  try {
    return loadPolicy(flag);
  } catch (e) {
    if (flag) throw e;
    return undefined;
  }
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/**
 * Runs an approved proposal: a grant writes the policy file and the role with this operator's own credentials; any
 * other plan runs under the approver role. Loaded here, so the commands that only read never load the AWS SDK.
 */
async function approveWith(store: Store, p: ProposalRow, values: { policy?: string }, who: string, comment: string | null) {
  if (p.tool === 'request_permission') {
    const [{ approveGrant }, { IAMClient }] = await Promise.all([import('../../src/proposals/grant.js'), import('@aws-sdk/client-iam')]);
    return approveGrant(store, policyFile(values.policy), TOOL_NAMES, p.id, who, comment, new IAMClient({}));
  }
  const { approveAndRun } = await import('../../src/registry/approve.js');
  return approveAndRun(store, loadPolicy(values.policy), p.id, who, comment);
}

async function decide(argv: string[], verb: 'approve' | 'reject'): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      comment: { type: 'string' },
      reason: { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
      as: { type: 'string' },
      policy: { type: 'string' },
      db: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    HELP.proposals,
    1,
  );
  if (values.help) return printHelp(HELP.proposals);
  const id = positionals[0];
  if (!id) throw new UsageError(`wardenctl proposals ${verb}: which proposal? (an id from wardenctl proposals list)`);
  if (verb === 'reject' && !values.reason?.trim())
    throw new UsageError('wardenctl proposals reject: --reason is required (the agent reads it)');
  const osUser = userInfo().username;
  const who = actingHuman(values.as, values.policy);
  return withStore(values.db, async ({ store }) => {
    const p = store.proposals.get(id);
    if (!p) throw new ExitError(2, `no proposal ${id} (wardenctl proposals list shows them)`);
    if (verb === 'approve' && !values.yes) {
      if (!process.stdin.isTTY)
        throw new UsageError(`wardenctl proposals approve: confirm with --yes when not at a terminal (plan hash ${p.plan_hash})`);
      process.stderr.write(`${describe(p, changeView(p, store, policyForNotices(values.policy)))}\n`);
      if (!(await confirm(`Approve exactly this plan (hash ${p.plan_hash.slice(0, 16)}…) as ${who}? [y/N] `))) {
        process.stderr.write('not approved\n');
        return 1;
      }
    }
    const comment = who === osUser ? (values.comment ?? null) : `${values.comment ?? ''} (as ${who}, OS user ${osUser})`.trim();
    try {
      const done =
        verb === 'reject'
          ? rejectProposal(store, id, who, values.reason as string, policyForNotices(values.policy))
          : await approveWith(store, p, values, who, comment);
      process.stdout.write(
        values.json
          ? `${JSON.stringify({ proposal: view(done.proposal), result: done.result }, null, 2)}\n`
          : `${id}: ${done.proposal.state} by ${who}\n`,
      );
      return 0;
    } catch (e) {
      if (e instanceof ProposalRefused) throw new ExitError(1, e.message);
      throw e;
    }
  });
}
