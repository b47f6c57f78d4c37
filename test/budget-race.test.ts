// 4 processes × 100 concurrent reservations against one cap: never an overspend, every call answered.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveAgent } from '../src/core/agent.js';
import { parsePolicy } from '../src/policy/load.js';
import { decideAndRecord, guardRequest } from '../src/registry/decide.js';
import { Store } from '../src/store/store.js';
import { freshPgDatabase, hasPostgres } from './helpers/pg.js';
import { emptyPlan } from './helpers/spawned.js';

const WORKER = join(process.cwd(), 'dist', 'bench', 'reserve-worker.js');

function run(args: string[]): Promise<{ approved: number; denied: number; other: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker exit ${code}: ${err}`))));
  });
}

describe.each([
  { name: 'sqlite', skip: false, location: async (dir: string) => join(dir, 'warden.db') },
  { name: 'postgres', skip: !hasPostgres, location: () => freshPgDatabase('race') },
])('budget under contention on the $name store', ({ skip, location }) => {
  it.skipIf(skip)('4 processes × 100 reservations of $3.00 against a $100 cap approve exactly 33, across processes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-race-'));
    const db = await location(dir);
    const policy = join(dir, 'policy.yaml');
    writeFileSync(
      policy,
      `version: 1
projects: { shop: { budget_usd_month: 100 } }
tiers: { operator: { tools: [reserve] } }
agents:
${['a1', 'a2', 'a3', 'a4'].map((a) => `  ${a}: { project: shop, tier: operator, role_arn: "arn:aws:iam::123456789012:role/${a}" }`).join('\n')}
`,
    );
    Store.open(db).close();
    // Far enough ahead that all four processes have loaded before the start, even on a busy 2-core machine; each pauses
    // 2 ms between calls, so a process cannot finish its hundred before the others are scheduled.
    const startAt = Date.now() + 4000;
    const results = await Promise.all(['a1', 'a2', 'a3', 'a4'].map((a) => run([db, policy, a, '100', String(startAt), '300', '2'])));
    for (const r of results) expect(r.approved + r.denied + r.other).toBe(100);
    expect(results.reduce((s, r) => s + r.other, 0)).toBe(0);
    expect(results.reduce((s, r) => s + r.approved, 0)).toBe(33);

    const store = Store.open(db);
    try {
      expect(store.ledger.facts('shop', 10000)).toEqual({ capCents: 10000, committedCents: 0, reservedCents: 9900 });
      expect(store.audit.verify()).toMatchObject({ ok: true, count: 400 + 33 });
      // The processes really raced: their calls interleave in the one chain.
      const agents = store.audit
        .tail({ limit: 1000 })
        .filter((e) => e.kind === 'requested')
        .map((e) => e.agent);
      expect(agents.filter((a, i) => i > 0 && a !== agents[i - 1]).length).toBeGreaterThan(3);
    } finally {
      store.close();
    }
  });
});

describe.each([
  { name: 'sqlite', skip: false, location: async () => join(mkdtempSync(join(tmpdir(), 'warden-race-')), 'warden.db') },
  { name: 'postgres', skip: !hasPostgres, location: () => freshPgDatabase('race') },
])('a check racing another process on the $name store', ({ skip, location }) => {
  it.skipIf(skip)(
    'sees what the other process reserved between its read of the budget and its write: refused, never overspent',
    async () => {
      const db = await location();
      const policy = parsePolicy(
        `version: 1
projects: { shop: { budget_usd_month: 10 } }
tiers: { operator: { tools: [reserve] } }
agents: { a1: { project: shop, tier: operator, role_arn: "arn:aws:iam::123456789012:role/a1" } }
`,
        'policy.yaml',
        ['reserve'],
      );
      const agent = resolveAgent(policy, 'a1');
      const store = Store.open(db);
      const other = Store.open(db);
      try {
        // The other process spends $7.00 of the $10.00 just after this check has read the budget with all of it left.
        const read = store.ledger.facts.bind(store.ledger);
        let raced = false;
        store.ledger.facts = (project, baseCents) => {
          const facts = read(project, baseCents);
          if (!raced) other.ledger.reserve('elsewhere', 'shop', 'a2', 'reserve', 700);
          raced = true;
          return facts;
        };
        const reserve = (usd: number) =>
          decideAndRecord(store, {
            req: guardRequest(agent, 'reserve'),
            plan: { ...emptyPlan(usd), tool: 'reserve', summary: `reserve $${usd}` },
            agent,
            requestedId: null,
            roleArn: null,
            dryRun: false,
            mutating: true,
            args: {},
          });
        const gate = reserve(5);
        expect(gate).toMatchObject({
          kind: 'refused',
          decision: { outcome: 'deny', rule: 'budget', reason: expect.stringMatching(/\$3\.00\/month left/) },
        });
        expect(raced).toBe(true);
        expect(store.ledger.facts('shop', 1000)).toEqual({ capCents: 1000, committedCents: 0, reservedCents: 700 });
        expect(store.audit.verify()).toMatchObject({ ok: true, count: 0 });
        // With the budget as it is now, $3.00 still fits.
        const fits = reserve(3);
        expect(fits).toMatchObject({ kind: 'approved', row: { kind: 'approved' } });
        expect(store.ledger.facts('shop', 1000)?.reservedCents).toBe(1000);
      } finally {
        store.close();
        other.close();
      }
    },
  );
});
