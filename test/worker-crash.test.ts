// The worker survives kill -9 mid-job and never runs a job twice: a claimed job whose worker died is marked
// interrupted (a human is told), and two workers racing one due job run it once.
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { anyImageId } from '../src/demo/seed.js';
import { rawDb, Store } from '../src/store/store.js';
import { Worker } from '../src/worker/worker.js';
import { admin, approvalOf, world } from './helpers/harness.js';

const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'aws-warden.js');
const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

async function launched(project: string) {
  const out = await admin.ec2().send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: 'tag:ProjectId', Values: [project] },
        { Name: 'instance-state-name', Values: ['pending', 'running'] },
      ],
    }),
  );
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).length;
}

const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 20_000) => {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('aws-warden worker', () => {
  it('killed -9 mid-job: the next pass marks the job interrupted and does not run it again', async () => {
    // A health endpoint that never answers keeps the job inside its health wait.
    const hang = createServer(() => {});
    servers.push(hang);
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const port = (hang.address() as { port: number }).port;
    const w = world({
      projectYaml: `    services:
      web: { image_id: ${await anyImageId(admin.ec2())}, instance_types: [t3.micro], max: 2, health: { timeout_seconds: 60, poll_seconds: 1, http_url: "http://127.0.0.1:${port}/{instance_id}" } }`,
    });
    const dir = mkdtempSync(join(tmpdir(), 'warden-worker-'));
    const policyFile = join(dir, 'policy.yaml');
    const dbFile = join(dir, 'warden.db');
    writeFileSync(policyFile, w.yaml);
    const store = Store.open(dbFile);
    const job = store.jobs.create({
      project: w.project,
      agent: w.agent,
      tool: 'scale_service',
      args: { service: 'web', desired_count: 1 },
      runAt: new Date(),
      why: 'test',
    });

    const worker = spawn(process.execPath, [CLI, 'worker', '--once', '--policy', policyFile, '--db', dbFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    worker.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const approved = () =>
      rawDb(store).prepare("SELECT COUNT(*) FROM audit_events WHERE tool = 'scale_service' AND kind = 'approved'").pluck().get() as number;
    await until('the job to launch its instance', async () => approved() === 1 && (await launched(w.project)) === 1);
    expect(store.jobs.get(job.id)).toMatchObject({ state: 'running', claimed_by: expect.stringMatching(/:\d+$/) });
    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('exit', r));

    const again = spawnSync(process.execPath, [CLI, 'worker', '--once', '--policy', policyFile, '--db', dbFile], { encoding: 'utf8' });
    expect(again.status, `${stderr}\n${again.stderr}`).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`job ${job.id}: interrupted \\(its worker died\\); not run again`));
    expect(store.jobs.get(job.id)?.state).toBe('interrupted');
    expect(approved()).toBe(1);
    expect(rawDb(store).prepare("SELECT kind FROM notifications WHERE kind = 'interrupted'").pluck().all()).toEqual(['interrupted']);
    const interrupted = rawDb(store).prepare("SELECT decision FROM audit_events WHERE kind = 'failed' AND agent = 'warden'").pluck().get();
    expect(JSON.parse(interrupted as string)).toMatchObject({ rule: 'interrupted', job: job.id });
    // The job's approval is settled by the same pass: what it launched is terminated, its reservation released, the
    // service lock free, and the outcome follows the approval.
    expect(again.stderr).toMatch(/recovered scale_service approval \S+: undone \(terminated the 1 instance\(s\) it had launched/);
    expect(await launched(w.project)).toBe(0);
    const approval = approvalOf(store, { tool: 'scale_service' });
    expect(store.audit.followers(approval).map((r) => r.kind)).toEqual(['executed']);
    expect(store.audit.openApprovals(w.agent)).toEqual([]);
    expect(rawDb(store).prepare("SELECT count(*) FROM budget_reservations WHERE state = 'reserved'").pluck().get()).toBe(0);
    expect(rawDb(store).prepare('SELECT count(*) FROM locks WHERE key LIKE ?').pluck().get(`service:${w.project}:%`)).toBe(0);
    expect(store.audit.verify().ok).toBe(true);
    store.close();
  });

  it('two workers racing one due job: it runs exactly once', async () => {
    const w = world({ topYaml: '' });
    const store = Store.open(join(mkdtempSync(join(tmpdir(), 'warden-worker-')), 'warden.db'));
    const job = store.jobs.create({ project: w.project, agent: w.agent, tool: 'check_drift', args: {}, runAt: new Date(), why: 'test' });
    const [a, b] = await Promise.all([new Worker(store, w.policy, 'host:1').runOnce(), new Worker(store, w.policy, 'host:2').runOnce()]);
    expect([...a.ran, ...b.ran].map((r) => [r.job, r.state])).toEqual([[job.id, 'done']]);
    expect(rawDb(store).prepare("SELECT COUNT(*) FROM audit_events WHERE tool = 'check_drift' AND kind = 'read'").pluck().get()).toBe(1);
    store.close();
  });

  it('queues periodic drift and backup checks per the policy, once per interval', async () => {
    const w = world();
    w.policy.projects[w.project].operations = { agent: w.agent, drift_check_hours: 24, backup_check_hours: 12 };
    let now = Date.now();
    const store = Store.open(':memory:', { clock: () => new Date(now) });
    const worker = new Worker(store, w.policy, 'host:3');
    const first = await worker.runOnce();
    expect(first.ran.map((r) => [r.tool, r.state]).sort()).toEqual([
      ['check_drift', 'done'],
      ['verify_backups', 'done'],
    ]);
    expect((await worker.runOnce()).enqueued).toEqual([]);
    now += 13 * 3_600_000;
    expect((await worker.runOnce()).ran.map((r) => r.tool)).toEqual(['verify_backups']);
  });

  it('a job whose agent moved to another project since it was scheduled is not run; worker --once exits 1', async () => {
    const w = world();
    const dir = mkdtempSync(join(tmpdir(), 'warden-worker-'));
    writeFileSync(join(dir, 'policy.yaml'), w.yaml);
    const store = Store.open(join(dir, 'warden.db'));
    const job = store.jobs.create({ project: w.other, agent: w.agent, tool: 'check_drift', args: {}, runAt: new Date(), why: 'test' });
    const run = spawnSync(
      process.execPath,
      [CLI, 'worker', '--once', '--policy', join(dir, 'policy.yaml'), '--db', join(dir, 'warden.db')],
      { encoding: 'utf8' },
    );
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toContain(
      `job ${job.id} check_drift: failed — ${w.agent} now belongs to project ${w.project}, not ${w.other}: the job is not run for another project`,
    );
    expect(store.jobs.get(job.id)?.state).toBe('failed');
    expect(store.audit.tail({ limit: 5 })).toEqual([]);
    store.close();
  });
});
