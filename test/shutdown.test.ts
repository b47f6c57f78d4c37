// Shutdown abandons nothing: on SIGTERM or a closed stdin, `aws-warden serve` admits no new call, lets the running
// one finish and record its outcome, releases its lock and reservation, and only then closes the store and exits 0.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../src/store/store.js';
import { rawDb } from '../src/store/store.js';
import { approvalOf, fresh } from './helpers/harness.js';
import { serve, until } from './helpers/served.js';

/** A site health URL that answers only when the test lets it: the deploy is then mid-execution, its approval open. */
let health: Server;
let healthUrl = '';
const waiting: ServerResponse[] = [];
let asked = 0;
beforeAll(async () => {
  health = createServer((_req, res) => {
    asked++;
    waiting.push(res);
  });
  await new Promise<void>((r) => health.listen(0, '127.0.0.1', r));
  healthUrl = `http://127.0.0.1:${(health.address() as { port: number }).port}/{site}`;
});
afterAll(() => {
  waiting.splice(0).forEach((r) => r.end('ok'));
  health.close();
});

/** A served agent mid-deploy: the JSON-RPC lines it answered, and how to speak to it. */
async function midDeploy() {
  const root = mkdtempSync(join(tmpdir(), 'warden-stop-'));
  const site = join(root, 'site');
  mkdirSync(site);
  writeFileSync(join(site, 'index.html'), '<h1>stop</h1>');
  const project = fresh('p');
  const agent = fresh('bot');
  const policy = join(root, 'policy.yaml');
  writeFileSync(
    policy,
    `version: 1
projects:
  ${project}:
    budget_usd_month: 50
    sites: { roots: ["${root}"], health_url: "${healthUrl}", health_timeout_seconds: 60, soak_minutes: 0 }
tiers: { operator: { tools: [get_status, deploy_static_site] } }
agents: { ${agent}: { project: ${project}, tier: operator, role_arn: "arn:aws:iam::123456789012:role/${agent}" } }
trust: { demote_on: [] }
shutdown_grace_seconds: 60
`,
  );
  const db = join(root, 'w.db');
  const served = await serve(policy, db, agent);
  const before = asked;
  served.callTool(2, 'deploy_static_site', { site: 'stop', source_dir: site, environment: 'staging' });
  await until('the deploy to reach its health check', () => asked > before);
  return { ...served, db };
}

/** What the store says after the process ended: the deploy's approval and what follows it, locks, reservations. */
function settledState(db: string) {
  const store = Store.open(db, { readOnly: true });
  try {
    const raw = rawDb(store);
    const approval = approvalOf(store, { tool: 'deploy_static_site' });
    return {
      outcome: store.audit.followers(approval).map((r) => r.kind),
      open: store.audit.openApprovals(raw.prepare('SELECT agent FROM audit_events LIMIT 1').pluck().get() as string).length,
      locks: raw.prepare('SELECT count(*) FROM locks').pluck().get(),
      reserved: raw.prepare("SELECT count(*) FROM budget_reservations WHERE state = 'reserved'").pluck().get(),
      slots: raw.prepare('SELECT count(*) FROM call_slots').pluck().get(),
      refusedForShutdown: raw
        .prepare("SELECT count(*) FROM audit_events WHERE json_extract(decision, '$.rule') = 'shutdown'")
        .pluck()
        .get(),
    };
  } finally {
    store.close();
  }
}

describe('graceful shutdown', () => {
  it(
    'SIGTERM mid-deploy: no new call is admitted, the running one finishes and is recorded, then exit 0',
    { timeout: 120_000 },
    async () => {
      const s = await midDeploy();
      s.child.kill('SIGTERM');
      await until('the server to notice', () => /SIGTERM: admitting no new calls/.test(s.stderr()));
      // A call that arrives now is refused on the record.
      s.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'get_status', arguments: {} } });
      await until('the refusal of a call during shutdown', () => s.answers.some((a) => a.id === 3));
      expect(s.answers.find((a) => a.id === 3)?.result?.content?.[0].text).toMatch(/shutting down and admits no new calls/);
      waiting.splice(0).forEach((r) => r.end('ok'));
      expect(await s.exited).toBe(0);
      expect(s.answers.find((a) => a.id === 2)?.result?.isError).toBeFalsy();
      expect(settledState(s.db)).toEqual({ outcome: ['executed'], open: 0, locks: 0, reserved: 0, slots: 0, refusedForShutdown: 1 });
    },
  );

  it('stdin closed mid-deploy: the store stays open until the call has recorded its outcome', { timeout: 120_000 }, async () => {
    const s = await midDeploy();
    s.child.stdin.end();
    await until('the server to notice', () => /stdin closed: admitting no new calls/.test(s.stderr()));
    waiting.splice(0).forEach((r) => r.end('ok'));
    expect(await s.exited, s.stderr()).toBe(0);
    expect(settledState(s.db)).toMatchObject({ outcome: ['executed'], open: 0, locks: 0, reserved: 0, slots: 0 });
  });
});
