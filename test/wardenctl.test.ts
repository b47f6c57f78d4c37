// wardenctl as a human runs it: tables by default, --json, --help everywhere, exit 0 ok / 1 finding / 2 usage.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../src/store/audit.js';
import { closeDb, openDb } from '../src/store/db.js';
import { planHash } from '../src/store/proposals.js';
import { Store } from '../src/store/store.js';
import { launchTagged } from '../src/demo/seed.js';
import { admin } from './helpers/harness.js';

const CTL = join(process.cwd(), 'dist', 'tools', 'wardenctl', 'main.js');
const ctl = (...args: string[]) =>
  spawnSync(process.execPath, [CTL, ...args], { encoding: 'utf8', env: { ...process.env, WARDEN_DB: '', WARDEN_POLICY: '' }, input: '' });

/** A store with 6 events of two agents, the first three a day earlier. */
function store(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'warden-ctl-')), 'warden.db');
  let now = new Date('2026-11-01T10:00:00Z');
  const db = openDb(file);
  const audit = new AuditLog(db, () => now);
  for (const [i, agent] of ['web-bot', 'web-bot', 'auditor', 'web-bot', 'auditor', 'web-bot'].entries()) {
    if (i === 3) now = new Date('2026-11-02T10:00:00Z');
    audit.append({
      kind: i % 3 === 0 ? 'requested' : i % 3 === 1 ? 'approved' : 'executed',
      agent,
      project: 'shop',
      tool: 'get_status',
      request: { i },
    });
  }
  closeDb(db);
  return file;
}

describe('wardenctl', () => {
  it('an id that names nothing exits 2 on every command, saying where the ids are', () => {
    const db = store();
    const proposal = ctl('proposals', 'show', 'prop_000000000000', '--db', db);
    expect([proposal.status, proposal.stderr]).toEqual([2, 'no proposal prop_000000000000 (wardenctl proposals list shows them)\n']);
    const job = ctl('schedule', 'cancel', 'job-00000000', '--db', db);
    expect([job.status, job.stderr]).toEqual([2, 'no job job-00000000 (wardenctl schedule list shows them)\n']);
  });

  it('an extra argument is a usage error naming it (exit 2), never silently ignored', () => {
    const db = store();
    const r = ctl('audit', 'tail', '--db', db, 'other.db');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^unexpected argument "other\.db"/);
    expect(r.stdout).toBe('');
    const two = ctl('proposals', 'show', 'prop_000000000000', 'prop_111111111111', '--db', db);
    expect([two.status, two.stderr]).toEqual([2, expect.stringMatching(/^unexpected argument "prop_111111111111"/)]);
  });

  it("--version prints both commands' version from package.json and exits 0", () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    for (const [bin, name] of [
      [CTL, 'wardenctl'],
      [join(process.cwd(), 'dist', 'src', 'cli', 'aws-warden.js'), 'aws-warden'],
    ])
      for (const flag of ['--version', '-V']) {
        const r = spawnSync(process.execPath, [bin, flag], { encoding: 'utf8' });
        expect(r.status, `${name} ${flag}`).toBe(0);
        expect(r.stdout).toBe(`${name} ${version}\n`);
      }
  });

  it('audit tail shows a table, filters by agent, and gives JSON', () => {
    const db = store();
    const table = ctl('audit', 'tail', '--db', db);
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(/│ 6 +│ 2026-11-02 10:00:00 │ web-bot/);
    const json = ctl('audit', 'tail', '--db', db, '--agent', 'auditor', '--json');
    const rows = JSON.parse(json.stdout) as { seq: number; request: { i: number } }[];
    expect(rows.map((r) => r.seq)).toEqual([3, 5]);
    expect(rows[0].request).toEqual({ i: 2 });
    expect(JSON.parse(ctl('audit', 'tail', '--db', db, '--limit', '2', '--json').stdout).map((r: { seq: number }) => r.seq)).toEqual([
      5, 6,
    ]);
  });

  it('audit verify: 0 on a sound chain, 1 naming the first bad row, 1 when a recorded head vanished', () => {
    const db = store();
    const ok = ctl('audit', 'verify', '--db', db);
    expect(ok.status).toBe(0);
    const head = /head ([0-9a-f]{64})/.exec(ok.stdout)?.[1] as string;
    expect(head).toBeDefined();
    expect(ctl('audit', 'verify', '--db', db, '--head', head).status).toBe(0);
    const full = ctl('audit', 'verify', '--db', db, '--full');
    expect(full.status).toBe(0);
    expect(full.stdout).toMatch(/every row re-hashed/);

    const conn = openDb(db);
    conn.exec('DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE seq = 6;');
    closeDb(conn);
    const truncated = ctl('audit', 'verify', '--db', db, '--head', head);
    expect(truncated.status).toBe(1);
    expect(truncated.stdout).toMatch(/no longer in the chain/);

    const conn2 = openDb(db);
    conn2.exec("DROP TRIGGER audit_events_no_update; UPDATE audit_events SET agent = 'mallory' WHERE seq = 3;");
    closeDb(conn2);
    const broken = ctl('audit', 'verify', '--db', db, '--json');
    expect(broken.status).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({ ok: false, seq: 3, count: 2, reason: expect.stringMatching(/row edited/) });
    expect(ctl('status', '--db', db).status).toBe(1);
  });

  it('audit export writes JSON lines, all or since a time', () => {
    const db = store();
    const all = ctl('audit', 'export', '--db', db)
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(all).toHaveLength(6);
    expect(all[0]).toMatchObject({ seq: 1, kind: 'requested', request: { i: 0 }, prev_hash: '0'.repeat(64) });
    const since = ctl('audit', 'export', '--db', db, '--since', '2026-11-02T00:00:00Z').stdout.trim().split('\n');
    expect(since.map((l) => JSON.parse(l).seq)).toEqual([4, 5, 6]);
  });

  it('status summarises per agent', () => {
    const db = store();
    const s = ctl('status', '--db', db, '--json');
    expect(s.status).toBe(0);
    const out = JSON.parse(s.stdout);
    expect(out.chain).toMatchObject({ ok: true, count: 6 });
    expect(out.agents.find((a: { agent: string }) => a.agent === 'web-bot').events).toEqual({ requested: 2, approved: 1, executed: 1 });
    expect(ctl('status', '--db', db).stdout).toMatch(/chain\s+ok, 6 events/);
  });

  it.each([
    [['audit', 'tail', '--limit', '0'], /--limit: expected a whole number from 1 to 10000, got "0"/],
    [['audit', 'export', '--since', 'yesterday'], /--since: expected an ISO 8601 time/],
    [['audit', 'verify', '--head', 'abc'], /--head: expected a 64-character hex SHA-256/],
    [['audit', 'frobnicate'], /expected tail, verify or export, got "frobnicate"/],
    [['audit', 'tail', '--bogus'], /Unknown option '--bogus'/],
    [['launch', 'missiles'], /unknown command "launch"/],
    [[], /Usage: wardenctl/],
  ])('exits 2 on %j with a clear message', (args, msg) => {
    const db = store();
    const r = ctl(...args, ...(args.length > 1 ? ['--db', db] : []));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(msg);
  });

  it('exits 2 when the store does not exist, and does not create it', () => {
    const r = ctl('audit', 'verify', '--db', '/tmp/definitely-not-here/warden.db');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/cannot open audit store \/tmp\/definitely-not-here\/warden\.db/);
  });

  it.each([
    ['--help'],
    ['audit', 'tail', '--help'],
    ['audit', 'verify', '--help'],
    ['audit', 'export', '--help'],
    ['status', '--help'],
    ['budget', '--help'],
    ['budget', 'reconcile', '--help'],
    ['proposals', '--help'],
    ['proposals', 'list', '--help'],
    ['prices', '--help'],
  ])('%s prints usage and exits 0', (...args) => {
    const r = ctl(...args);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: wardenctl/);
  });
});

describe('wardenctl budget, proposals, prices', () => {
  function withPolicy(opts: { clock?: () => Date } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'warden-ctl-b-'));
    const policy = join(dir, 'policy.yaml');
    const project = `p-${Math.random().toString(16).slice(2, 10)}`;
    writeFileSync(
      policy,
      `version: 1\nprojects: { ${project}: { budget_usd_month: 50 } }\ntiers: { asker: { tools: [request_budget] } }\nagents: { bot: { project: ${project}, tier: asker, role_arn: "arn:aws:iam::123456789012:role/bot" } }\napproval: { allow_as: [ops-team] }\n`,
    );
    const db = join(dir, 'warden.db');
    const store = Store.open(db, { clock: opts.clock });
    const requested = store.audit.append({ kind: 'requested', agent: 'bot', project, tool: 'request_budget' });
    const plan = {
      tool: 'request_budget',
      summary: `raise ${project}'s cap by $20.00/month (permanent)`,
      mutating: true,
      operations: [{ action: 'warden:RaiseBudget', target: project, params: { cents_month: 2000, month: null } }],
      resources: [],
      tagsToSet: {},
      costDeltaUsdMonth: 0,
      riskFlags: ['budget_increase' as const],
      rollback: [],
      params: {},
    };
    const escalated = store.audit.append({
      kind: 'escalated',
      agent: 'bot',
      project,
      tool: 'request_budget',
      follows: requested.id,
      decision: { plan_hash: planHash(plan) },
    });
    const p = store.proposals.create({
      kind: 'request_budget',
      project,
      agent: 'bot',
      tool: 'request_budget',
      reason: 'more nodes',
      plan,
      args: {},
      eventId: escalated.id,
      ttlHours: 72,
    });
    store.close();
    return { policy, db, project, id: p.id };
  }

  it('lists, shows, and approves a budget request once; the cap rises', () => {
    const { policy, db, project, id } = withPolicy();
    expect(ctl('proposals', 'list', '--db', db, '--state', 'pending').stdout).toMatch(new RegExp(id));
    const show = ctl('proposals', 'show', id, '--db', db);
    expect(show.stdout).toMatch(/plan hash [0-9a-f]{64}/);
    expect(show.stdout).toMatch(/warden:RaiseBudget/);
    const noTty = ctl('proposals', 'approve', id, '--db', db);
    expect(noTty.status).toBe(2);
    expect(noTty.stderr).toMatch(/confirm with --yes/);
    expect(JSON.parse(ctl('budget', '--db', db, '--policy', policy, '--json').stdout)[0]).toMatchObject({ project, capCents: 5000 });
    const ok = ctl('proposals', 'approve', id, '--yes', '--comment', 'fine', '--db', db);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`${id}: executed by `));
    const again = ctl('proposals', 'approve', id, '--yes', '--db', db);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/is executed/);
    expect(JSON.parse(ctl('budget', '--db', db, '--policy', policy, '--json').stdout)[0]).toMatchObject({ capCents: 7000 });
    expect(ctl('budget', '--db', db, '--policy', policy).stdout).toMatch(/\$70\.00/);
    expect(ctl('audit', 'verify', '--db', db).status).toBe(0);
  });

  it('--as only for a name the policy allows; the name is recorded', () => {
    const { policy, db, id } = withPolicy();
    const no = ctl('proposals', 'approve', id, '--yes', '--as', 'mallory', '--db', db, '--policy', policy);
    expect(no.status).toBe(2);
    expect(no.stderr).toMatch(/--as mallory: the policy's approval\.allow_as does not name it \(names: ops-team\)/);
    const ok = ctl('proposals', 'approve', id, '--yes', '--as', 'ops-team', '--db', db, '--policy', policy);
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ctl('proposals', 'show', id, '--db', db, '--json').stdout)).toMatchObject({
      decided_by: 'ops-team',
      decision_note: expect.stringMatching(/as ops-team, OS user /),
    });
  });

  it('list records proposals past their TTL as expired, with an audit row', () => {
    const { db, id } = withPolicy({ clock: () => new Date('2020-01-01T00:00:00Z') });
    const listed = JSON.parse(ctl('proposals', 'list', '--db', db, '--json').stdout);
    expect(listed[0]).toMatchObject({ id, state: 'expired' });
    const trail = JSON.parse(ctl('audit', 'tail', '--db', db, '--json').stdout) as { kind: string; decision: { rule?: string } }[];
    expect(trail.at(-1)).toMatchObject({ kind: 'denied', decision: { rule: 'expired' } });
    expect(ctl('proposals', 'approve', id, '--yes', '--db', db).status).toBe(1);
  });

  it('rejects with a reason, and refuses a reject without one', () => {
    const { db, id } = withPolicy();
    expect(ctl('proposals', 'reject', id, '--db', db).status).toBe(2);
    const r = ctl('proposals', 'reject', id, '--reason', 'not this month', '--db', db);
    expect(r.status).toBe(0);
    expect(JSON.parse(ctl('proposals', 'list', '--db', db, '--json').stdout)[0]).toMatchObject({
      state: 'rejected',
      decision_note: 'not this month',
    });
  });

  it('budget reconcile adopts what the project holds in AWS: exit 1 when it changed the ledger, 0 when it agreed', async () => {
    const { policy, db, project } = withPolicy();
    await launchTagged(admin.ec2(), { ProjectId: project });
    const first = ctl('budget', 'reconcile', '--db', db, '--policy', policy);
    expect(first.status, first.stderr).toBe(1);
    expect(first.stdout).toMatch(/1 adopted \(missing from the ledger\)/);
    expect(first.stdout).toMatch(/t3\.micro instance, \$7\.60\/month/);
    const second = ctl('budget', 'reconcile', '--db', db, '--policy', policy);
    expect(second.status).toBe(0);
    expect(second.stdout).toMatch(/1 agreed, 0 released/);
    expect(ctl('budget', '--project', 'nope', '--db', db, '--policy', policy).status).toBe(2);
  });

  it('prices prints the table and exits 1 for an unknown type', () => {
    const ok = ctl('prices', '--type', 'm5.xlarge', '--region', 'us-east-1');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/m5\.xlarge.*0\.192.*140\.16/);
    expect(ctl('prices', '--type', 'x9.galactic').status).toBe(1);
  });
});

describe('wardenctl that only reads', () => {
  it(
    'audit tail, verify and export and status open the store read-only: the file is not written, and they exit 0',
    { timeout: 120_000 },
    () => {
      const db = store();
      const digest = () =>
        ['', '-wal']
          .map((s) =>
            existsSync(db + s) && readFileSync(db + s).length > 0
              ? createHash('sha256')
                  .update(readFileSync(db + s))
                  .digest('hex')
              : 'none',
          )
          .join(' ');
      const before = digest();
      for (const args of [['audit', 'tail'], ['audit', 'verify'], ['audit', 'export'], ['status']]) {
        const r = ctl(...args, '--db', db);
        expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
      expect(digest()).toBe(before);
    },
  );

  it('a store at another schema version is refused by a reader rather than migrated', () => {
    const db = store();
    const conn = openDb(db);
    conn.pragma('user_version = 1');
    closeDb(conn);
    const r = ctl('audit', 'tail', '--db', db);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /the store is at schema version 1 and this aws-warden reads \d+; open it once with the server or a writing command to migrate/,
    );
  });
});
