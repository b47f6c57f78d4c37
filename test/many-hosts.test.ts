// Many hosts, simulated: three warden processes on one PostgreSQL — two over HTTP (two agents of one project, each
// with its own token), one over stdio — racing one budget; one proposal approved from two wardenctl processes at once;
// two workers on the same queue. The budget never overspends, one chain verifies, each proposal and job runs once.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { anyImageId } from '../src/demo/seed.js';
import { Store } from '../src/store/store.js';
import { ACCOUNT, admin, call, fresh } from './helpers/harness.js';
import { freshPgDatabase, hasPostgres } from './helpers/pg.js';
import { runNode, WARDENCTL } from './helpers/spawned.js';
import { CLI, spawnHttpServe, spawnServe } from './helpers/serve-process.js';

const children: ChildProcess[] = [];
afterAll(() => children.forEach((c) => c.kill()));

describe.skipIf(!hasPostgres)('three wardens on one PostgreSQL', () => {
  it('race one budget, approve one proposal from two wardenctl at once, run each job once with two workers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-hosts-'));
    const project = fresh('team');
    const [a1, a2, a3] = ['http-one', 'http-two', 'stdio-three'].map((n) => fresh(n));
    const image = await anyImageId(admin.ec2());
    const services = Array.from({ length: 6 }, (_, i) => `svc${i}`);
    const policyFile = join(dir, 'policy.yaml');
    // $30 a month: three t3.micro ($7.60 each) fit, a fourth does not.
    writeFileSync(
      policyFile,
      `version: 1
projects:
  ${project}:
    budget_usd_month: 30
    services:
${services.map((s) => `      ${s}: { image_id: ${image}, instance_types: [t3.micro], min: 0, max: 1, health: { timeout_seconds: 3, poll_seconds: 0.2 } }`).join('\n')}
tiers:
  operator: { tools: [scale_service, get_budget, request_budget, get_status], limits: { instance_types: [t3.micro], max_instances_per_service: 1, max_change_per_call: 1 } }
agents:
${[a1, a2, a3].map((a) => `  ${a}: { project: ${project}, tier: operator, role_arn: "arn:aws:iam::${ACCOUNT}:role/${a}" }`).join('\n')}
approval: { allow_as: [ann, bob] }
rate_limits: { calls_per_minute: 10000, mutating_calls_per_hour: 10000, concurrent_calls: 100, pending_proposals: 100 }
trust: { demote_on: [] }
long_call_seconds: 600
`,
    );
    const db = await freshPgDatabase('hosts');
    const ctl = (...args: string[]) => runNode(WARDENCTL, [...args, '--policy', policyFile, '--db', db]);
    Store.open(db).close();
    const token = async (agent: string) => {
      const r = await ctl('agents', 'token', 'issue', agent, '--json');
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { token: string }).token;
    };
    const [t1, t2] = await Promise.all([token(a1), token(a2)]);

    const [h1, h2] = await Promise.all([spawnHttpServe(policyFile, db), spawnHttpServe(policyFile, db)]);
    children.push(h1.child, h2.child);
    const stdio = spawnServe({ agent: a3, policyFile, dbFile: db });
    children.push(stdio.child);
    const httpClient = async (url: string, bearer: string) => {
      const c = new Client({ name: 'host', version: '0' });
      await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${bearer}` } } }));
      return c;
    };
    const c1 = await httpClient(h1.url, t1);
    const c2 = await httpClient(h2.url, t2);
    const c3 = new Client({ name: 'host', version: '0' });
    await c3.connect(stdio.transport as never);

    // Six launches at once, two from each process: exactly three fit the cap.
    const calls = [c1, c1, c2, c2, c3, c3].map((c, i) =>
      call(c, 'scale_service', { service: services[i], desired_count: 1, instance_type: 't3.micro', reason: 'load' }),
    );
    const answers = await Promise.all(calls);
    const launched = answers.filter((r) => !r.isError && (r.structured as { status?: string })?.status === 'executed');
    const refused = answers.filter((r) => r.isError && /denied by the budget rule/.test(r.text));
    expect(launched.length, answers.map((a) => a.text).join('\n')).toBe(3);
    expect(refused.length).toBe(3);

    // One proposal, two humans approving it at the same moment from two wardenctl processes: it runs once.
    const asked = await call(c1, 'request_budget', { amount_usd_month: 10, reason: 'one more service', duration: 'this_month' });
    const proposal = (asked.structured as { proposal_id: string }).proposal_id;
    expect(proposal).toMatch(/^prop_/);
    const [ann, bob] = await Promise.all([
      ctl('proposals', 'approve', proposal, '--as', 'ann', '--yes'),
      ctl('proposals', 'approve', proposal, '--as', 'bob', '--yes'),
    ]);
    expect([ann.code, bob.code].sort(), `${ann.stderr}\n${bob.stderr}`).toEqual([0, 1]);
    const loser = ann.code === 0 ? bob : ann;
    expect(loser.stderr).toMatch(/only a pending proposal can be decided/);

    // Ten queued jobs and two workers passing at once: each job claimed and run by exactly one.
    const store = Store.open(db);
    const jobs = Array.from(
      { length: 10 },
      (_, i) =>
        store.jobs.create({
          project,
          agent: [a1, a2, a3][i % 3],
          tool: 'get_budget',
          args: {},
          runAt: new Date(),
          why: 'queued by the test',
        }).id,
    );
    const workers = await Promise.all([0, 1].map(() => runNode(CLI, ['worker', '--once', '--policy', policyFile, '--db', db])));
    for (const w of workers) expect(w.code, w.stderr).toBe(0);
    const byWorker = jobs.map((id) => store.jobs.get(id));
    expect(byWorker.map((j) => j?.state)).toEqual(jobs.map(() => 'done'));
    const reads = store.audit.tail({ limit: 1000 }).filter((e) => e.tool === 'get_budget');
    expect(reads.length).toBe(10);

    // The ledger: three launches committed, the cap raised once, never more held than the cap allowed.
    const facts = store.ledger.facts(project, 3000);
    expect(facts).toEqual({ capCents: 4000, committedCents: 3 * 760, reservedCents: 0 });
    expect(store.proposals.get(proposal)).toMatchObject({ state: 'executed' });
    const executions = store.audit.tail({ limit: 1000 }).filter((e) => e.kind === 'executed' && e.tool === 'scale_service');
    expect(executions.length).toBe(3);
    store.close();
    await Promise.all([c1.close(), c2.close(), c3.close()]);

    const verified = await ctl('audit', 'verify', '--full', '--json');
    expect(verified.code, verified.stdout).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true });
  }, 180_000);
});
