// 4 processes × 100 concurrent reservations against one cap: never an overspend, every call answered.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from '../src/store/store.js';
import { freshPgDatabase, hasPostgres } from './helpers/pg.js';

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
