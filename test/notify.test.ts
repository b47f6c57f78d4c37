// Notifications: a row always, a JSON POST to each webhook with bounded retries, results recorded, never thrown.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listNotifications, notify } from '../src/notify/notify.js';
import type { ProjectPolicy } from '../src/policy/schema.js';
import { Store } from '../src/store/store.js';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function hook(status: number): Promise<{ url: string; bodies: unknown[] }> {
  const bodies: unknown[] = [];
  const srv = createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      bodies.push(JSON.parse(text));
      res.statusCode = status;
      res.end();
    });
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(srv.address() as { port: number }).port}/warden`, bodies };
}

const project = (webhooks: string[]): ProjectPolicy =>
  ({
    budget_usd_month: 1,
    environments: ['prod'],
    notify: webhooks.map((webhook) => ({ webhook })),
    proposal_ttl_hours: 72,
    services: {},
  }) as ProjectPolicy;

describe('notify', () => {
  it('records the notice, posts JSON to every webhook, retries a failing one and records both outcomes', async () => {
    const good = await hook(200);
    const bad = await hook(502);
    const file = join(mkdtempSync(join(tmpdir(), 'warden-notify-')), 'warden.db');
    const store = Store.open(file);
    const { delivered } = notify(store, project([good.url, bad.url]), {
      project: 'shop',
      kind: 'rolled_back',
      subject: 'web rolled back',
      body: { terminated: ['i-1'] },
      eventId: 'evt-1',
    });
    await delivered;
    expect(good.bodies).toEqual([
      expect.objectContaining({ project: 'shop', kind: 'rolled_back', subject: 'web rolled back', terminated: ['i-1'], event_id: 'evt-1' }),
    ]);
    expect(bad.bodies).toHaveLength(3);
    const [row] = listNotifications(store);
    expect(JSON.parse(row.deliveries)).toEqual([
      { webhook: good.url, ok: true, status: 200, attempts: 1 },
      { webhook: bad.url, ok: false, status: 502, attempts: 3 },
    ]);
    store.close();
    const ctl = spawnSync(process.execPath, [join(process.cwd(), 'dist', 'tools', 'wardenctl', 'main.js'), 'notifications', '--db', file], {
      encoding: 'utf8',
    });
    expect(ctl.status).toBe(0);
    expect(ctl.stdout).toMatch(/rolled_back.*web rolled back.*1\/2 delivered/s);
  });

  it('an unreachable webhook is recorded as failed and never throws', async () => {
    const store = Store.open(':memory:');
    const { delivered } = notify(store, project(['http://127.0.0.1:9/nothing-listens']), {
      project: 'shop',
      kind: 'escalated',
      subject: 's',
      body: {},
    });
    await expect(delivered).resolves.toBeUndefined();
    expect(JSON.parse(listNotifications(store)[0].deliveries)[0]).toMatchObject({ ok: false, attempts: 3, error: expect.any(String) });
  });
});
