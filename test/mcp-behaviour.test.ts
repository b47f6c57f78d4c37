// MCP behaviour clients rely on: progress that only rises and keeps coming during long waits, a cancelled call that
// stops, is undone and audited `cancelled` (never a health failure, never toward demotion), and list_changed when
// the agent's tier changes.
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { createServer, type Server } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { anyImageId } from '../src/demo/seed.js';
import { ProgressStream } from '../src/server/progress.js';
import { rawDb } from '../src/store/store.js';
import { recordTierChange } from '../src/trust/tiers.js';
import { admin, connect, fresh, liveInstances, world, type Harness } from './helpers/harness.js';
import { ROOT, serviceWorld } from './helpers/samples.js';
import { until } from './helpers/served.js';

const open: Harness[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
  for (const s of servers.splice(0)) s.close();
});

/** A health URL that answers 503 until `healthy()` is called. */
async function healthEndpoint(): Promise<{ url: string; healthy(): void }> {
  let ok = false;
  const srv = createServer((_req, res) => {
    res.statusCode = ok ? 200 : 503;
    res.end();
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(srv.address() as { port: number }).port}/{instance_id}`, healthy: () => (ok = true) };
}

async function slowService(timeoutSeconds: number, pollSeconds: number) {
  const health = await healthEndpoint();
  const w = world({
    projectYaml: `    services:\n      web: { image_id: ${await anyImageId(admin.ec2())}, instance_types: [t3.micro], max: 2, health: { timeout_seconds: ${timeoutSeconds}, poll_seconds: ${pollSeconds}, http_url: "${health.url}" } }`,
    // The default: a failed health check demotes. A cancellation must not.
    topYaml: 'trust: { demote_on: [prod_rollback, health_failure, boundary_escape] }',
  });
  const h = await connect(w.policy, w.agent);
  open.push(h);
  return { w, h, health };
}

describe('progress', () => {
  it('rises monotonically across phases and never repeats a number', async () => {
    const sent: [number, number | undefined][] = [];
    const s = new ProgressStream(async (p, t) => void sent.push([p, t]));
    for (const [d, t] of [
      [0, 2],
      [1, 2],
      [1, 2],
      [2, 2],
      [0, 5],
      [3, 5],
      [2, 5],
      [1, 1],
    ] as const)
      await s.report(d, t, '');
    // A new phase starts where the last ended (2 → the phase of 5 adds to 2); a report that does not advance is not sent.
    expect(sent).toEqual([
      [0, 2],
      [1, 2],
      [2, 2],
      [5, 7],
      [9, 12],
      [13, 13],
    ]);
    for (let i = 1; i < sent.length; i++) expect(sent[i][0]).toBeGreaterThan(sent[i - 1][0]);
  });

  it('keeps coming during a long health wait, between polls too (a slice of at most 2 s)', async () => {
    const { h, health } = await slowService(60, 6);
    const at: number[] = [];
    const done = h.client.callTool(
      { name: 'scale_service', arguments: { service: 'web', desired_count: 1, instance_type: 't3.micro' } },
      undefined,
      { onprogress: () => void at.push(Date.now()), timeout: 120_000 },
    );
    await until('three progress notifications during the wait', () => at.length >= 4, 60_000);
    health.healthy();
    expect((await done).isError).toBeFalsy();
    // Between two status polls (6 s apart) the wait reports on its own: more notifications than polls.
    const polls = h.sent.filter((c) => c.command === 'DescribeInstanceStatus').length;
    expect(polls).toBeGreaterThan(0);
    expect(at.length).toBeGreaterThan(polls + 1);
  }, 90_000);
});

describe('progress of a deploy', () => {
  it('counts files and bytes uploaded, rising to the total', async () => {
    const w = await serviceWorld();
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const dir = join(ROOT, fresh('many'));
    mkdirSync(dir);
    for (let i = 0; i < 20; i++) writeFileSync(join(dir, i ? `page-${i}.html` : 'index.html'), `<p>${'x'.repeat(50_000)}</p>`);
    const sent: { progress: number; total?: number; message?: string }[] = [];
    const r = await h.client.callTool(
      { name: 'deploy_static_site', arguments: { site: 'shop', source_dir: dir, environment: 'staging' } },
      undefined,
      { onprogress: (p) => void sent.push(p) },
    );
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    for (let i = 1; i < sent.length; i++) expect(sent[i].progress).toBeGreaterThan(sent[i - 1].progress);
    expect(sent.map((p) => p.message)).toContain('uploaded 20/20 files, 1.0 of 1.0 MB');
    expect(sent.find((p) => p.message?.startsWith('uploaded 20/20'))).toMatchObject({ progress: 20, total: 20 });
  });
});

describe('cancellation', () => {
  it('a cancelled scale-up stops, is undone, is audited cancelled with who asked, and does not demote', async () => {
    const { w, h } = await slowService(60, 0.5);
    const abort = new AbortController();
    let progressed = false;
    const call = h.client
      .callTool({ name: 'scale_service', arguments: { service: 'web', desired_count: 1, instance_type: 't3.micro' } }, undefined, {
        signal: abort.signal,
        onprogress: () => void (progressed = true),
      })
      .catch((e: Error) => e);
    await until('the call to be waiting for health', () => progressed, 30_000);
    abort.abort('the person changed their mind');
    expect(await call).toBeInstanceOf(Error);
    await until('the cancelled row', () => h.audit.tail({ limit: 20 }).some((e) => e.kind === 'cancelled'), 30_000);
    const rows = h.audit.tail({ limit: 20 });
    const cancelled = rows.find((e) => e.kind === 'cancelled');
    const approved = rows.find((e) => e.kind === 'approved' && e.tool === 'scale_service');
    expect(cancelled?.follows).toBe(approved?.id);
    expect(JSON.parse(cancelled?.decision ?? '{}')).toMatchObject({ cancelled_by: 'client:test', reason: 'the person changed their mind' });
    expect(JSON.parse(cancelled?.result ?? '{}')).toMatchObject({ undone: true });
    expect(rows.map((e) => e.kind)).not.toContain('rolled_back');
    expect(await liveInstances(w.project)).toEqual([]);
    expect(h.store.notifications.list().map((n) => n.kind)).toContain('cancelled');
    // Not a health failure: the agent keeps its tier, and its record shows no rollback.
    expect(rawDb(h.store).prepare('SELECT count(*) FROM tier_changes WHERE agent = ?').pluck().get(w.agent)).toBe(0);
    expect(h.store.tiers.counts(w.agent, '1970-01-01T00:00:00Z').rollbacks).toBe(0);
    expect(h.audit.verify().ok).toBe(true);
  }, 90_000);
});

describe('tools/list_changed', () => {
  it('is declared, and sent when the agent is moved to another tier', async () => {
    const w = world();
    const h = await connect(w.policy, w.agent);
    open.push(h);
    expect(h.client.getServerCapabilities()?.tools?.listChanged).toBe(true);
    let changed = 0;
    h.client.setNotificationHandler(ToolListChangedNotificationSchema, async () => void changed++);
    // What `wardenctl trust set` records, from another process as far as this server knows.
    recordTierChange(h.store, w.agent, 'nothing', 'human:test', 'a test');
    await h.client.callTool({ name: 'get_status', arguments: {} }).catch(() => undefined);
    await until('list_changed', () => changed === 1, 10_000);
    expect((await h.client.listTools()).tools).toEqual([]);
  });
});
