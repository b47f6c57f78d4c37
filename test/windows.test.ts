// Deploy windows: open/next-opening in a time zone; a prod change outside its window becomes a job (not a refusal)
// that the worker runs at the opening with the full guard again — refused then if the budget no longer allows it.
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { anyImageId } from '../src/demo/seed.js';
import { listNotifications } from '../src/notify/notify.js';
import { parsePolicy } from '../src/policy/load.js';
import { bucketName } from '../src/sites/bucket.js';
import { Store } from '../src/store/store.js';
import { toolNames } from '../src/tools/index.js';
import { isOpen, nextOpening } from '../src/guard/windows.js';
import { Worker } from '../src/worker/worker.js';
import { ACCOUNT, admin, call, connect, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

const CTL = join(process.cwd(), 'dist', 'tools', 'wardenctl', 'main.js');
// Saturdays 02:00-04:00 in Berlin; "now" is Wednesday 2026-11-25 12:00 UTC.
const WINDOW = `    windows: { prod: [{ days: [sat], start: "02:00", end: "04:00", time_zone: Europe/Berlin }] }`;
const WEDNESDAY = Date.parse('2026-11-25T12:00:00Z');
const OPENS = '2026-11-28T01:00:00.000Z';

/** A project with a site root and a Saturday prod window, on a file store whose clock the test moves. */
async function siteWorld() {
  const root = mkdtempSync(join(tmpdir(), 'warden-window-'));
  writeFileSync(join(root, 'index.html'), '<h1>release</h1>');
  const w = world({ projectYaml: `    sites: { roots: ["${root}"], health_timeout_seconds: 2 }\n${WINDOW}` });
  const clock = { now: WEDNESDAY };
  const dbFile = join(mkdtempSync(join(tmpdir(), 'warden-window-db-')), 'warden.db');
  const store = Store.open(dbFile, { clock: () => new Date(clock.now) });
  const h = await connect(w.policy, w.agent, { store });
  open.push(h);
  return { root, w, clock, dbFile, store, h };
}

describe('deploy windows', () => {
  const ranges = (yaml: string) =>
    parsePolicy(`version: 1\nprojects: { pp: { budget_usd_month: 1,\n${yaml} } }\ntiers: {}\nagents: {}\n`, 'policy.yaml', toolNames)
      .projects.pp.windows.prod;

  it('opens in its own time zone, across daylight saving, and past midnight', () => {
    const sat = ranges(WINDOW);
    expect(isOpen(sat, new Date('2026-11-28T01:30:00Z'))).toBe(true); // 02:30 CET
    expect(isOpen(sat, new Date('2026-11-28T03:00:00Z'))).toBe(false); // 04:00 CET: closed
    expect(nextOpening(sat, new Date(WEDNESDAY))?.toISOString()).toBe(OPENS);
    // Summer time: the same local 02:00 is 00:00 UTC.
    expect(nextOpening(sat, new Date('2026-07-01T00:00:00Z'))?.toISOString()).toBe('2026-07-04T00:00:00.000Z');
    const nights = ranges(`    windows: { prod: [{ days: [fri], start: "22:00", end: "06:00" }] }`);
    expect(isOpen(nights, new Date('2026-11-27T23:00:00Z'))).toBe(true); // Friday 23:00
    expect(isOpen(nights, new Date('2026-11-28T05:59:00Z'))).toBe(true); // Saturday 05:59, still Friday's night
    expect(isOpen(nights, new Date('2026-11-28T22:30:00Z'))).toBe(false); // Saturday 22:30
    expect(() => ranges(`    windows: { prod: [{ start: "25:00", end: "06:00", time_zone: Mars/Olympus }] }`)).toThrow(
      /windows\.prod\.0\.start: must be HH:MM[\s\S]*time_zone: unknown IANA time zone/,
    );
  });

  it('nextOpening agrees with a minute-by-minute scan across zones, daylight saving and midnight', () => {
    const all = [
      ...ranges(WINDOW),
      ...ranges(
        `    windows: { prod: [{ days: [sun], start: "02:30", end: "03:30", time_zone: America/New_York }, { days: [mon, fri], start: "23:00", end: "01:00", time_zone: Asia/Kolkata }] }`,
      ),
    ];
    const scan = (rs: typeof all, from: Date) => {
      for (let t = Math.ceil(from.getTime() / 60_000) * 60_000, i = 0; i <= 8 * 24 * 60; i++, t += 60_000)
        if (isOpen(rs, new Date(t))) return new Date(t).toISOString();
      return null;
    };
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    // Instants spread over the year, and instants in the days before each daylight-saving change of these zones.
    const changes = ['2026-03-08', '2026-03-29', '2026-10-25', '2026-11-01'].map((d) => Date.parse(`${d}T00:00:00Z`));
    const instants = [
      ...Array.from({ length: 24 }, () => Date.parse('2026-01-01T00:00:00Z') + random() * 365 * 86_400_000),
      ...changes.flatMap((c) => Array.from({ length: 6 }, () => c - random() * 7 * 86_400_000)),
    ];
    for (const at of instants) {
      const from = new Date(Math.floor(at));
      for (const rs of [all.slice(0, 1), all.slice(1, 2), all.slice(2), all])
        expect(nextOpening(rs, from)?.toISOString() ?? null, from.toISOString()).toBe(scan(rs, from));
    }
  });

  it('a prod deploy outside its window is scheduled, visible and runs at the window (clock injected)', async () => {
    const { root, w, clock, dbFile, store, h } = await siteWorld();
    const staged = await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: root, environment: 'staging' });
    expect(staged.structured).toMatchObject({ status: 'executed' });
    const writes = h.writes().length;

    const r = await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: root, environment: 'prod' });
    expect(r.isError, r.text).toBeFalsy();
    expect(r.structured).toMatchObject({ status: 'scheduled', run_at: OPENS });
    expect(r.text).toMatch(
      /^scheduled: deploy_static_site is held — prod changes run in its deploy window \(sat 02:00-04:00 Europe\/Berlin\); next opening 2026-11-28T01:00:00.000Z\. Job job-[0-9a-f]{8} runs then/,
    );
    expect(h.writes().length).toBe(writes);
    const job = r.structured?.job_id as string;
    const scheduled = h.audit.tail({ limit: 1 })[0];
    expect(scheduled.kind).toBe('escalated');
    expect(JSON.parse(scheduled.decision as string)).toMatchObject({ outcome: 'schedule', rule: 'deploy_window', run_at: OPENS });
    const listed = spawnSync(process.execPath, [CTL, 'schedule', 'list', '--db', dbFile, '--json'], { encoding: 'utf8' });
    expect(JSON.parse(listed.stdout)).toMatchObject([
      { id: job, state: 'queued', tool: 'deploy_static_site', run_at: OPENS, args: { environment: 'prod' } },
    ]);

    const polled = await call(h.client, 'get_job', { job_id: job });
    expect(polled.structured).toMatchObject({
      job_id: job,
      state: 'queued',
      tool: 'deploy_static_site',
      requested_by: w.agent,
      run_at: OPENS,
    });
    const worker = new Worker(store, w.policy, 'test:1');
    expect((await worker.runOnce()).ran).toEqual([]);
    clock.now = Date.parse(OPENS) + 60_000;
    const pass = await worker.runOnce();
    expect(pass.ran).toMatchObject([{ job, tool: 'deploy_static_site', state: 'done' }]);
    expect(store.jobs.get(job)?.state).toBe('done');
    const buckets = ((await admin.s3().send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name);
    expect(buckets).toContain(bucketName(ACCOUNT, w.project, 'shop', 'prod'));
    expect(h.audit.tail({ limit: 3 }).map((e) => [e.agent, e.tool, e.kind])).toEqual([
      [w.agent, 'deploy_static_site', 'requested'],
      [w.agent, 'deploy_static_site', 'approved'],
      [w.agent, 'deploy_static_site', 'executed'],
    ]);
    const after = await call(h.client, 'get_job', { job_id: job });
    expect(after.structured).toMatchObject({ state: 'done', result: { structured: { status: 'executed' } } });
    // Run once only: another pass finds nothing due.
    expect((await worker.runOnce()).ran).toEqual([]);
  });

  it('a scheduled scale is refused at run time when the budget no longer allows it; humans are told', async () => {
    const w = world({
      budget: 20,
      projectYaml: `${WINDOW}
    services:
      web: { image_id: ${await anyImageId(admin.ec2())}, instance_types: [t3.micro], max: 2, environment: prod, health: { timeout_seconds: 3, poll_seconds: 0.2 } }`,
    });
    let now = WEDNESDAY;
    const store = Store.open(':memory:', { clock: () => new Date(now) });
    const h = await connect(w.policy, w.agent, { store });
    open.push(h);
    const r = await call(h.client, 'scale_service', { service: 'web', desired_count: 1 });
    expect(r.structured).toMatchObject({ status: 'scheduled' });
    // Meanwhile the project's budget is used up by something else.
    store.ledger.settle(null, w.project, 'someone', {
      add: [
        {
          arn: 'arn:aws:ec2:us-east-1:123456789012:instance/i-0000000000000000a',
          description: 'm5.large',
          hourlyUsd: 0.096,
          centsMonth: 1950,
        },
      ],
      remove: [],
    });
    now = Date.parse(OPENS) + 60_000;
    const pass = await new Worker(store, w.policy, 'test:2').runOnce();
    expect(pass.ran).toHaveLength(1);
    expect(pass.ran[0]).toMatchObject({ state: 'failed' });
    expect(pass.ran[0].text).toMatch(/denied by the budget rule/);
    expect(h.writes()).toEqual([]);
    expect(listNotifications(store).map((n) => n.kind)).toEqual(['scheduled', 'failed']);
  });

  it('a human cancels a queued job with wardenctl; the worker never runs it; dry runs and staging are not held', async () => {
    const { root, w, clock, dbFile, store, h } = await siteWorld();
    const staging = await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: root, environment: 'staging' });
    expect(staging.structured).toMatchObject({ status: 'executed' });
    const dry = await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: root, environment: 'prod', dry_run: true });
    expect(dry.structured).toMatchObject({ status: 'dry_run' });
    const r = await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: root, environment: 'prod' });
    const job = r.structured?.job_id as string;
    // Another project's agent cannot see it: reported exactly like a job that does not exist.
    const outsider = await connect(w.policy, `${w.other}-bot`, { store });
    open.push(outsider);
    expect((await call(outsider.client, 'get_job', { job_id: job })).text).toBe(
      `get_job refused: job_id ${job}: no such job in project ${w.other}`,
    );
    // --as names a human only where the policy allows that name: otherwise nothing is written in anyone's name.
    const policyFile = join(root, '..', `policy-${w.project}.yaml`);
    writeFileSync(policyFile, `${w.yaml}\napproval: { allow_as: [ann] }\n`);
    const before = store.audit.tail({ limit: 1 })[0].seq;
    const spoofed = spawnSync(
      process.execPath,
      [CTL, 'schedule', 'cancel', job, '--as', 'mallory', '--policy', policyFile, '--db', dbFile],
      { encoding: 'utf8' },
    );
    expect(spoofed.status).toBe(2);
    expect(spoofed.stderr).toMatch(/--as mallory: the policy's approval.allow_as does not name it \(names: ann\)/);
    expect(store.audit.tail({ limit: 1 })[0].seq).toBe(before);
    expect(store.jobs.get(job)?.state).toBe('queued');
    const cancel = spawnSync(process.execPath, [CTL, 'schedule', 'cancel', job, '--as', 'ann', '--policy', policyFile, '--db', dbFile], {
      encoding: 'utf8',
    });
    expect(cancel.status, cancel.stderr).toBe(0);
    expect(cancel.stdout).toMatch(new RegExp(`^cancelled ${job}`));
    const twice = spawnSync(process.execPath, [CTL, 'schedule', 'cancel', job, '--db', dbFile], { encoding: 'utf8' });
    expect(twice.status).toBe(1);
    expect(twice.stderr).toMatch(/is cancelled: only a queued job can be cancelled/);
    clock.now = Date.parse(OPENS) + 60_000;
    expect((await new Worker(store, w.policy, 'test:3').runOnce()).ran).toEqual([]);
    expect(store.audit.verify().ok).toBe(true);
  });

  it('a worker that was down through the whole window holds the job for the next opening instead of running it late', async () => {
    const { root, w, clock, store, h } = await siteWorld();
    const r = await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: root, environment: 'prod' });
    const job = r.structured?.job_id as string;
    clock.now = Date.parse('2026-11-28T05:00:00Z'); // Saturday, after 04:00 Berlin
    const pass = await new Worker(store, w.policy, 'test:4').runOnce();
    expect(pass.ran).toEqual([]);
    expect(pass.rescheduled).toEqual([{ job, run_at: '2026-12-05T01:00:00.000Z' }]);
    expect(store.jobs.get(job)).toMatchObject({ state: 'queued', run_at: '2026-12-05T01:00:00.000Z' });
  });
});
