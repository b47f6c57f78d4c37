// Every approval ends in an outcome: a server killed -9 between `approved` and its outcome leaves a change that the
// next start settles through the tool's recovery step — the outcome row, the reservation, the ledger, the lock, and
// AWS as the outcome says. Here scale_service, killed inside its health wait after RunInstances.
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anyImageId } from '../src/demo/seed.js';
import { rawDb, Store } from '../src/store/store.js';
import { admin, world } from './helpers/harness.js';
import { serve, until } from './helpers/served.js';

/** A health endpoint that never answers: the scale stays inside its health wait, its approval open. */
let hang: Server;
let port = 0;
beforeAll(async () => {
  hang = createServer(() => {});
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
  port = (hang.address() as { port: number }).port;
});
afterAll(() => {
  hang.closeAllConnections();
  hang.close();
});

const live = async (project: string) =>
  (
    await admin.ec2().send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: 'tag:ProjectId', Values: [project] },
          { Name: 'instance-state-name', Values: ['pending', 'running'] },
        ],
      }),
    )
  ).Reservations?.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId) ?? [];

describe('a server killed -9 mid-change', () => {
  it(
    'scale_service: the restart terminates what it launched, settles the approval, reservation, ledger and lock',
    { timeout: 120_000 },
    async () => {
      const w = world({
        projectYaml: `    services:
      web: { image_id: ${await anyImageId(admin.ec2())}, instance_types: [t3.micro], max: 2, health: { timeout_seconds: 120, poll_seconds: 1, http_url: "http://127.0.0.1:${port}/{instance_id}" } }`,
      });
      const dir = mkdtempSync(join(tmpdir(), 'warden-crash-'));
      const policy = join(dir, 'policy.yaml');
      const db = join(dir, 'w.db');
      writeFileSync(policy, w.yaml);
      const first = await serve(policy, db, w.agent);
      first.callTool(2, 'scale_service', { service: 'web', desired_count: 1 });
      await until('the instance to launch', async () => (await live(w.project)).length === 1);
      first.child.kill('SIGKILL');
      await first.exited;

      const store = Store.open(db);
      const raw = rawDb(store);
      const approval = raw
        .prepare("SELECT id FROM audit_events WHERE tool = 'scale_service' AND kind = 'approved'")
        .pluck()
        .get() as string;
      // The crash left it open, its reservation held.
      expect(store.audit.openApprovals(w.agent).map((r) => r.id)).toEqual([approval]);
      expect(raw.prepare("SELECT count(*) FROM budget_reservations WHERE state = 'reserved'").pluck().get()).toBe(1);

      const second = await serve(policy, db, w.agent);
      try {
        await until('recovery at start', () => /recovered scale_service approval/.test(second.stderr()));
        expect(second.stderr()).toMatch(
          new RegExp(`recovered scale_service approval ${approval}: undone \\(terminated the 1 instance\\(s\\) it had launched`),
        );
        expect(await live(w.project)).toEqual([]);
        expect(store.audit.followers(approval).map((r) => r.kind)).toEqual(['executed']);
        expect(store.audit.openApprovals(w.agent)).toEqual([]);
        expect(raw.prepare("SELECT count(*) FROM budget_reservations WHERE state = 'reserved'").pluck().get()).toBe(0);
        expect(raw.prepare("SELECT count(*) FROM budget_resources WHERE arn LIKE '%:instance/%'").pluck().get()).toBe(0);
        expect(raw.prepare('SELECT count(*) FROM locks WHERE key = ?').pluck().get(`service:${w.project}:web`)).toBe(0);
        expect(store.notifications.list().some((n) => n.kind === 'rolled_back' && n.body.includes(approval))).toBe(true);
        expect(store.audit.verify().ok).toBe(true);
      } finally {
        second.child.stdin.end();
        await second.exited;
        store.close();
      }
    },
  );
});
