// One agent cannot flood the warden: calls per minute and mutating calls per hour (shared by all its server processes),
// calls in flight, pending proposals, the size of an argument, and how much of a large call the audit keeps.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { launchTagged } from '../src/demo/seed.js';
import { Store } from '../src/store/store.js';
import { readPlan } from '../src/tools/read-plan.js';
import { allTools } from '../src/tools/index.js';
import { defineTool, noParams, type ToolSpec } from '../src/tools/tool.js';
import { admin, call, connect, fresh, world, type Harness } from './helpers/harness.js';

const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'aws-warden.js');

let open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.map((h) => h.close()));
  open = [];
});

/** A clock the test moves: token buckets refill by it. */
function movableClock() {
  let now = Date.parse('2026-12-01T10:00:00Z');
  return { clock: () => new Date(now), advance: (ms: number) => (now += ms) };
}

async function harness(limits: string, opts: { clock?: () => Date; tools?: readonly ToolSpec[]; operatorTools?: string[] } = {}) {
  const w = world({ topYaml: `rate_limits: { ${limits} }`, operatorTools: opts.operatorTools });
  const store = Store.open(':memory:', { clock: opts.clock });
  const h = await connect(w.policy, w.agent, { store, tools: opts.tools });
  open.push(h);
  return { w, h, store };
}

const lastRow = (store: Store) => store.audit.tail({ limit: 1 })[0];

describe('flood limits', () => {
  it('calls per minute: the call past the limit is denied with when to retry, recorded; the bucket refills with time', async () => {
    const t = movableClock();
    const { w, h, store } = await harness('calls_per_minute: 3', { clock: t.clock });
    for (let i = 0; i < 3; i++) expect((await call(h.client, 'get_status', {})).isError).toBeFalsy();
    const denied = await call(h.client, 'list_resources', {});
    expect(denied.isError).toBe(true);
    expect(denied.text).toMatch(new RegExp(`rate limit: 3 calls/min for ${w.agent}; retry after 20 s`));
    expect(JSON.parse(lastRow(store).decision as string)).toMatchObject({
      rule: 'rate_limit',
      limit: 'calls_per_minute',
      retry_after_seconds: 20,
    });
    expect(lastRow(store).kind).toBe('denied');
    // An invalid call takes from the same bucket: a flood of bad arguments is a flood too.
    t.advance(20_000);
    expect((await call(h.client, 'tag_resource', { nonsense: 1 })).text).toMatch(/invalid arguments/);
    expect((await call(h.client, 'get_status', {})).text).toMatch(/rate limit/);
    t.advance(20_000);
    const again = await call(h.client, 'get_status', {});
    expect(again.isError).toBeFalsy();
    expect((again.structured as { rate_limits: unknown }).rate_limits).toMatchObject({
      calls_per_minute: { limit: 3, remaining: 0 },
      concurrent_calls: { in_flight: 1 },
    });
  });

  it('mutating calls per hour: changes past the limit are denied; dry runs and reads still pass', async () => {
    const t = movableClock();
    const { w, h } = await harness('mutating_calls_per_hour: 2', { clock: t.clock });
    const arn = await launchTagged(admin.ec2(), { ProjectId: w.project, Name: 'flood' });
    for (const v of ['a', 'b'])
      expect((await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: v } })).isError).toBeFalsy();
    const third = await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'c' } });
    expect(third.text).toMatch(new RegExp(`rate limit: 2 mutating calls/hour for ${w.agent}; retry after 30 min 0 s`));
    expect(h.writes().filter((c) => c.command === 'CreateTags')).toHaveLength(2);
    expect((await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'c' }, dry_run: true })).isError).toBeFalsy();
    expect((await call(h.client, 'list_resources', {})).isError).toBeFalsy();
    t.advance(30 * 60_000);
    expect((await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'c' } })).isError).toBeFalsy();
  });

  it('concurrent calls: a call past the number in flight is denied until one finishes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const hold = defineTool({
      name: 'hold_here',
      title: 'waits for the test (fixture)',
      description: 'test only',
      input: z.object({}).strict(),
      output: z.object({ ok: z.boolean() }),
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      iam: {},
      params: noParams,
      plan: async () => readPlan('hold_here', 'wait', []),
      execute: async () => {
        await gate;
        return { ok: true };
      },
      summarize: () => 'held',
    });
    const { w, h, store } = await harness('concurrent_calls: 1', { tools: [...allTools, hold], operatorTools: ['hold_here'] });
    const first = call(h.client, 'hold_here', {});
    for (let i = 0; store.rates.usage(w.agent, []).inFlight === 0; i++) {
      if (i > 200) throw new Error('the first call never started');
      await new Promise((r) => setTimeout(r, 10));
    }
    const second = await call(h.client, 'get_status', {});
    expect(second.text).toMatch(
      new RegExp(`concurrency limit: 1 calls of ${w.agent} are already running \\(limit 1\\); retry when one of them finishes`),
    );
    release();
    expect((await first).isError).toBeFalsy();
    expect(store.rates.usage(w.agent, []).inFlight).toBe(0);
    expect((await call(h.client, 'get_status', {})).isError).toBeFalsy();
  });

  it('pending proposals: past the cap an escalation is denied, no proposal is made, and a human is not asked', async () => {
    const { w, h, store } = await harness('pending_proposals: 2');
    const ask = () =>
      call(h.client, 'request_budget', { amount_usd_month: 25, reason: 'a second web node for the sale', duration: 'this_month' });
    for (let i = 0; i < 2; i++) expect((await ask()).structured).toMatchObject({ status: 'pending_approval' });
    const third = await ask();
    expect(third.isError).toBe(true);
    expect(third.text).toMatch(new RegExp(`${w.agent} has 2 proposals waiting for a human \\(limit 2, rate_limits.pending_proposals\\)`));
    expect(store.proposals.pendingCount(w.agent)).toBe(2);
    expect(JSON.parse(lastRow(store).decision as string)).toMatchObject({ outcome: 'deny', rule: 'pending_proposals' });
    expect(store.notifications.list().filter((n) => n.kind === 'proposal')).toHaveLength(2);
  });

  it('an argument over the size cap is refused naming it; the audit keeps only its digest and an excerpt', async () => {
    const { h, store } = await harness('max_argument_kb: 64');
    const huge = 'x'.repeat(1024 * 1024);
    const r = await call(h.client, 'request_budget', { amount_usd_month: 25, reason: huge, duration: 'this_month' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(
      /argument "reason" is 1048578 bytes as JSON; the limit is 65536 bytes per argument \(rate_limits.max_argument_kb\)/,
    );
    const [requested, denied] = store.audit.tail({ limit: 2 });
    expect(requested.kind).toBe('requested');
    expect((requested.request as string).length).toBeLessThan(2000);
    expect(JSON.parse(requested.request as string)).toMatchObject({
      amount_usd_month: 25,
      reason: { $digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), bytes: 1048578, excerpt: expect.stringMatching(/^"x{511}$/) },
    });
    expect(denied.kind).toBe('denied');
    expect(store.audit.verify().ok).toBe(true);
    // Many arguments, each under the cap, are refused together.
    const many = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, 'y'.repeat(60 * 1024)]));
    expect((await call(h.client, 'get_status', many)).text).toMatch(
      /\(arguments\) are \d+ bytes as JSON together; the limit is 262144 bytes/,
    );
  });

  it('a deploy names at most 50 skipped files and counts the rest', async () => {
    const root = mkdtempSync(join(tmpdir(), 'warden-flood-site-'));
    const w = world({ projectYaml: `    sites: { roots: ["${root}"] }` });
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const site = join(root, 'site');
    mkdirSync(site);
    writeFileSync(join(site, 'index.html'), '<h1>hi</h1>');
    for (let i = 0; i < 120; i++) writeFileSync(join(site, `.dot${String(i).padStart(3, '0')}`), 'secret');
    const r = await call(h.client, 'deploy_static_site', { site: fresh('s').slice(0, 20), source_dir: site, environment: 'staging' });
    expect(r.isError, r.text).toBeFalsy();
    const result = (r.structured as { result: { skipped: { path: string }[]; skipped_count: number } }).result;
    expect(result.skipped).toHaveLength(50);
    expect(result.skipped[0].path).toBe('.dot000');
    expect(result.skipped_count).toBe(120);
  });
});

describe('one rate limit for all of an agent’s server processes', () => {
  it('two stdio servers of one agent on one store admit exactly the limit between them', { timeout: 90_000 }, async () => {
    const project = fresh('p');
    const agent = fresh('bot');
    const dir = mkdtempSync(join(tmpdir(), 'warden-flood-'));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(
      policy,
      `version: 1
projects: { ${project}: { budget_usd_month: 50 } }
tiers: { observer: { tools: [get_status, list_resources] } }
agents: { ${agent}: { project: ${project}, tier: observer, role_arn: "arn:aws:iam::123456789012:role/${agent}" } }
rate_limits: { calls_per_minute: 7 }
`,
    );
    const db = join(dir, 'w.db');
    const clients = await Promise.all(
      [0, 1].map(async () => {
        const client = new Client({ name: 'flood', version: '0' });
        await client.connect(
          new StdioClientTransport({
            command: process.execPath,
            args: [CLI, 'serve', '--policy', policy, '--db', db],
            env: { ...(process.env as Record<string, string>), WARDEN_AGENT: agent },
            stderr: 'pipe',
          }),
        );
        return client;
      }),
    );
    try {
      const answers = (
        await Promise.all(clients.map((c) => Promise.all(Array.from({ length: 6 }, () => call(c, 'get_status', {})))))
      ).flat();
      expect(answers.filter((a) => !a.isError)).toHaveLength(7);
      const denied = answers.filter((a) => a.isError);
      expect(denied).toHaveLength(5);
      for (const d of denied) expect(d.text).toMatch(new RegExp(`rate limit: 7 calls/min for ${agent}; retry after \\d+ s`));
      // One bucket per process would have admitted 12; and now neither process has a token left.
      const perProcess = await Promise.all(clients.map((c) => call(c, 'get_status', {})));
      expect(perProcess.every((a) => a.isError)).toBe(true);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});
