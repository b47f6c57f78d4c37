// The two stores side by side, 4 processes racing each: audit appends per second, and the budget's check+reserve
// (the guard's check and the approved row in one write transaction) against one cap. PostgreSQL is a throwaway
// cluster with its default durability (fsync on), on this machine's loopback.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { postgresBinaries, startPostgres } from '../src/emulator/postgres.js';
import { Store } from '../src/store/store.js';
import { ms, summarize } from './stats.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const tmp = () => mkdtempSync(join(tmpdir(), 'warden-bench-stores-'));
const here = dirname(fileURLToPath(import.meta.url));

function child<T>(script: string, args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [join(here, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    c.stdout.on('data', (d) => (text += d));
    c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text) as T) : reject(new Error(`${script} exited ${code}`))));
  });
}

async function appendRace(location: string): Promise<{ perSecond: number; p99: number }> {
  Store.open(location).close();
  const startAt = Date.now() + 1500;
  const each = 1000;
  const results = await Promise.all(
    [1, 2, 3, 4].map(() => child<{ ms: number[] }>('append-worker.js', [location, String(each), String(startAt)])),
  );
  const store = Store.open(location);
  const head = store.audit.verify({ full: true });
  const rows = store.audit.tail({ limit: 1 })[0];
  store.close();
  if (!head.ok || head.count !== 4 * each) throw new Error(`the append race left a broken or short chain (${JSON.stringify(head)})`);
  // Wall time from the shared start to the last commit: what the four together sustained.
  const wall = (Date.parse(rows.ts) - startAt) / 1000;
  return { perSecond: (4 * each) / wall, p99: summarize(results.flatMap((r) => r.ms)).p99 };
}

async function budgetRace(
  location: string,
  dir: string,
): Promise<{ median: number; p99: number; call: { median: number; p99: number }; approved: number; overspendCents: number }> {
  const policy = join(dir, 'policy.yaml');
  const agents = ['r1', 'r2', 'r3', 'r4'];
  writeFileSync(
    policy,
    `version: 1\nprojects: { shop: { budget_usd_month: 1000 } }\ntiers: { operator: { tools: [reserve] } }\nagents:\n${agents.map((a) => `  ${a}: { project: shop, tier: operator, role_arn: "arn:aws:iam::123456789012:role/${a}" }`).join('\n')}\n`,
  );
  Store.open(location).close();
  const startAt = Date.now() + 1500;
  // $1.00 each against $1,000: the first 1,000 of 2,000 pass, the rest are refused.
  const results = await Promise.all(
    agents.map((a) =>
      child<{ approved: number; ms: number[]; checkMs: number[] }>('reserve-worker.js', [
        location,
        policy,
        a,
        '500',
        String(startAt),
        '100',
        '0',
        '20',
      ]),
    ),
  );
  const store = Store.open(location);
  const facts = store.ledger.facts('shop', 100_000);
  store.close();
  const t = summarize(results.flatMap((r) => r.checkMs));
  const call = summarize(results.flatMap((r) => r.ms));
  return {
    median: t.median,
    p99: t.p99,
    call: { median: call.median, p99: call.p99 },
    approved: results.reduce((s, r) => s + r.approved, 0),
    overspendCents: Math.max(0, (facts?.reservedCents ?? 0) + (facts?.committedCents ?? 0) - 100_000),
  };
}

export async function storesBench(out: (s: string) => void): Promise<void> {
  const sqlite = () => join(tmp(), 'warden.db');
  const cluster = postgresBinaries() ? await startPostgres({ durable: true }) : null;
  if (!cluster) out('PostgreSQL server binaries not found (initdb; set WARDEN_PG_BIN): the PostgreSQL rows are skipped');
  const database = async (name: string) => {
    const admin = new pg.Client(cluster!.adminUrl);
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    return cluster!.adminUrl.replace(/\/postgres$/, `/${name}`);
  };
  try {
    const kinds: { name: string; location: () => Promise<string> }[] = [{ name: 'SQLite', location: async () => sqlite() }];
    if (cluster) {
      let n = 0;
      kinds.push({ name: 'PostgreSQL', location: () => database(`bench_${++n}`) });
    }
    const appends = [];
    for (const k of kinds) appends.push({ k, r: await appendRace(await k.location()) });
    for (const { k, r } of appends)
      out(
        `audit appends on ${k.name}, 4 processes × 1,000 racing, one committed transaction each: ${Math.round(r.perSecond).toLocaleString('en')}/s together; p99 ${ms(r.p99)} each${k.name === 'SQLite' ? '' : `; ${(appends[0].r.perSecond / r.perSecond).toFixed(1)}× slower than SQLite`}`,
      );
    for (const k of kinds) {
      const r = await budgetRace(await k.location(), tmp());
      out(
        `budget check+reserve on ${k.name}, 4 processes × 500 racing one $1,000 cap at $1.00 each, after 20 warm-up calls each: median ${ms(r.median)}  p99 ${ms(r.p99)}${k.name === 'PostgreSQL' ? ' (target p99 ≤ 10 ms)' : ''}; with the call's requested row before it (its own commit) median ${ms(r.call.median)}  p99 ${ms(r.call.p99)}; approved ${r.approved} (cap allows 1000); overspend $${(r.overspendCents / 100).toFixed(2)}`,
      );
    }
  } finally {
    await cluster?.stop();
  }
}
