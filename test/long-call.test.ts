// A change that outlives long_call_seconds answers `status: running` with a job id at the bound and goes on in the
// server: get_job reports its progress while it runs and its answer once it settles, and a client that leaves after the
// handoff does not stop it midway — the change completes and the audit says so.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Script } from '../src/demo/script.js';
import { Store } from '../src/store/store.js';
import { call, connect, world, type Harness } from './helpers/harness.js';
import { untilValue } from './helpers/served.js';

const open: Harness[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
  for (const s of servers.splice(0)) s.close();
});

/** A site whose health URL answers 503 until `healthyAfterMs` has passed, then 200: the deploy waits that long. */
async function slowSite(healthyAfterMs: number, boundSeconds = 1) {
  const started = Date.now();
  const server = createServer((_req, res) => {
    res.writeHead(Date.now() - started >= healthyAfterMs ? 200 : 503);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  const root = mkdtempSync(join(tmpdir(), 'warden-long-'));
  const dir = join(root, 'site');
  mkdirSync(dir);
  writeFileSync(join(dir, 'index.html'), '<h1>slow</h1>');
  const w = world({
    topYaml: `long_call_seconds: ${boundSeconds}`,
    projectYaml: `    sites: { roots: ["${root}"], max_files: 10, cache_control: "no-cache", health_timeout_seconds: 30, soak_minutes: 30, prod_requires_approval: false, health_url: "${url}" }`,
  });
  const store = Store.open(join(root, 'warden.db'));
  const h = await connect(w.policy, w.agent, { store });
  open.push(h);
  return { h, dir, store };
}

describe('long work as jobs', () => {
  it(
    'past the bound the client gets status running and a job id; get_job shows progress, then the answer',
    { timeout: 60_000 },
    async () => {
      const { h, dir } = await slowSite(4_000);
      const t = Date.now();
      const r = await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: dir, environment: 'staging' });
      expect(Date.now() - t).toBeLessThan(3_500);
      expect(r.isError, r.text).toBeFalsy();
      expect(r.structured).toMatchObject({ status: 'running', job_id: expect.stringMatching(/^job-[0-9a-f]{8}$/) });
      expect(r.text).toMatch(/still running after 1 s \(long_call_seconds\).*get_job/);
      const jobId = r.structured?.job_id as string;
      // The answer names the call's newest row at the bound: its request, or its approval once planning is done.
      expect(['requested', 'approved']).toContain(h.audit.get(r.structured?.event_id as string)?.kind);

      const running = (await call(h.client, 'get_job', { job_id: jobId })).structured as Record<string, unknown>;
      expect(running).toMatchObject({ state: 'running', tool: 'deploy_static_site', finished_at: null });
      await untilValue('progress on the job', () => h.store.jobs.get(jobId)?.progress ?? undefined);

      const done = await untilValue('the job to settle', () => {
        const j = h.store.jobs.get(jobId);
        return j && j.state !== 'running' ? j : undefined;
      });
      expect(done.state).toBe('done');
      const answer = (await call(h.client, 'get_job', { job_id: jobId })).structured as { state: string; result: Record<string, unknown> };
      expect(answer.state).toBe('done');
      expect(answer.result).toMatchObject({ status: 'executed', result: { put: 1 } });
      expect(h.audit.tail({ limit: 10 }).map((e) => e.kind)).toContain('executed');
    },
  );

  it(
    'a client that leaves after the handoff does not stop the change: it completes, and the audit says so',
    { timeout: 60_000 },
    async () => {
      const { h, dir, store } = await slowSite(3_000);
      const r = await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: dir, environment: 'staging' });
      const jobId = r.structured?.job_id as string;
      expect(jobId).toMatch(/^job-/);
      // The client goes away (its transport closes, which aborts every request still in flight).
      await h.close();
      open.splice(open.indexOf(h), 1);
      const done = await untilValue('the job to settle', () => {
        const j = store.jobs.get(jobId);
        return j && j.state !== 'running' ? j : undefined;
      });
      expect(done.state).toBe('done');
      const kinds = store.audit.tail({ limit: 10 }).map((e) => e.kind);
      expect(kinds.at(-1)).toBe('executed');
      expect(kinds).not.toContain('cancelled');
    },
  );

  it(
    'the demo script, as a patient client, follows a running answer through get_job to the change’s own answer',
    { timeout: 60_000 },
    async () => {
      const { h, dir } = await slowSite(2_500);
      const lines: string[] = [];
      const script = new Script((s) => lines.push(s));
      const answer = await script.call(
        h.client,
        'bot',
        'deploy_static_site',
        { site: 'shop', source_dir: dir, environment: 'staging' },
        'ok',
      );
      expect(answer.got).toBe('ok');
      expect(answer.structured).toMatchObject({ status: 'executed', result: { put: 1 } });
      expect(script.verdict()).toBe(0);
    },
  );

  it('a change that settles within the bound answers as before, with no job', async () => {
    // A bound a loaded machine cannot reach for one small file.
    const { h, dir } = await slowSite(0, 60);
    const before = h.store.jobs.list().length;
    const r = await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: dir, environment: 'staging' });
    expect(r.structured).toMatchObject({ status: 'executed' });
    expect(h.store.jobs.list()).toHaveLength(before);
  });
});
