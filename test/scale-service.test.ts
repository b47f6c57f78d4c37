// scale_service and get_service against moto: launches and terminations, bounds before any AWS call,
// replay safety, health-gated rollback, other projects untouched, two processes serialized per service.
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { permitFor } from '../src/aws/permit.js';
import { inCallScope, withPermit } from '../src/aws/write-gate.js';
import { portsFor } from '../src/registry/agent-aws.js';
import { anyImageId, launchTagged } from '../src/demo/seed.js';
import { listNotifications } from '../src/notify/notify.js';
import { resolveAgent } from '../src/core/agent.js';
import { pickForScaleIn } from '../src/services/instances.js';
import { scaleService } from '../src/tools/scale-service.js';
import { admin, call, connect, fresh, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
  for (const s of servers.splice(0)) s.close();
});

let image: string | undefined;
async function imageId() {
  return (image ??= await anyImageId(admin.ec2()));
}

async function serviceWorld(opts: { healthUrl?: string; escalate?: boolean; limits?: string; ssm?: string; budget?: number } = {}) {
  const img = opts.ssm ? undefined : await imageId();
  const w = world({
    budget: opts.budget,
    limits: opts.limits ?? '{ instance_types: [t3.micro, t3.small], max_instances_per_service: 4, max_change_per_call: 3 }',
    projectYaml: `    services:
      web:
        ${opts.ssm ? `image_ssm_parameter: ${opts.ssm}` : `image_id: ${img}`}
        instance_types: [t3.micro, t3.small, m5.large]
        min: 0
        max: 6
        escalate_over_limits: ${opts.escalate ?? false}
        health: { timeout_seconds: 3, poll_seconds: 0.2${opts.healthUrl ? `, http_url: "${opts.healthUrl}"` : ''} }`,
  });
  const h = await connect(w.policy, w.agent);
  open.push(h);
  return { w, h };
}

async function instancesOf(project: string, service = 'web') {
  const out = await admin.ec2().send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: 'tag:ProjectId', Values: [project] },
        { Name: 'tag:Service', Values: [service] },
        { Name: 'instance-state-name', Values: ['pending', 'running'] },
      ],
    }),
  );
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}
const tagsOf = (i: { Tags?: { Key?: string; Value?: string }[] }) => Object.fromEntries((i.Tags ?? []).map((t) => [t.Key, t.Value]));

describe('scale_service', () => {
  it('0 → 2 launches two tagged instances; the audit, get_service and the ledger agree; 2 → 1 terminates the newest', async () => {
    const { w, h } = await serviceWorld();
    const up = await call(h.client, 'scale_service', { service: 'web', desired_count: 2, instance_type: 't3.micro', reason: 'traffic' });
    expect(up.isError, up.text).toBeFalsy();
    const result = up.structured?.result as { launched: string[]; count: number };
    expect(result.count).toBe(2);
    const live = await instancesOf(w.project);
    expect(live.map((i) => i.InstanceId).sort()).toEqual([...result.launched].sort());
    const approved = h.audit.tail({ limit: 10 }).find((e) => e.kind === 'approved');
    for (const i of live)
      expect(tagsOf(i)).toMatchObject({
        ProjectId: w.project,
        AgentId: w.agent,
        ManagedBy: 'aws-warden',
        Service: 'web',
        WardenEvent: approved?.id,
      });
    expect(h.writes().map((c) => c.command)).toEqual(['RunInstances']);

    const svc = (await call(h.client, 'get_service', { service: 'web' })).structured as {
      count: number;
      monthly_cost_usd: number;
      instances: { id: string }[];
      bounds: unknown;
    };
    expect(svc).toMatchObject({
      count: 2,
      monthly_cost_usd: 15.2,
      bounds: { min: 0, max: 4, instance_types: ['t3.micro', 't3.small'], max_change_per_call: 3 },
    });
    expect(h.store.ledger.facts(w.project, 10000)).toMatchObject({ committedCents: 1520, reservedCents: 0 });

    const down = await call(h.client, 'scale_service', { service: 'web', desired_count: 1 });
    expect(down.isError, down.text).toBeFalsy();
    expect((down.structured?.result as { terminated: string[] }).terminated).toHaveLength(1);
    expect(await instancesOf(w.project)).toHaveLength(1);
    expect(h.store.ledger.facts(w.project, 10000)).toMatchObject({ committedCents: 760 });
    expect(
      h.audit
        .tail({ limit: 20 })
        .filter((e) => e.tool === 'scale_service')
        .map((e) => e.kind),
    ).toEqual(['requested', 'approved', 'executed', 'requested', 'approved', 'executed']);
  });

  it.each([
    [{ desired_count: 1000 }, /denied by the limits rule: desired_count 1000 is outside service web's bounds 0\.\.6/],
    [{ desired_count: 5 }, /denied by the limits rule: web would have 5 instances; tier "operator" allows at most 4 per service/],
    [
      { desired_count: 1, instance_type: 'm5.large' },
      /denied by the limits rule: instance type m5\.large is not allowed for tier "operator" \(allowed: t3\.micro, t3\.small\)/,
    ],
    [{ desired_count: 1, instance_type: 'x1e.32xlarge' }, /instance_type x1e\.32xlarge is not allowed for service web/],
    [{ desired_count: -1 }, /desired_count: Too small/],
    [{ desired_count: 1.5 }, /desired_count: .*expected int/],
    [{ service: 'payments', desired_count: 1 }, /service "payments" is not declared for project/],
    [{ service: 'web; rm -rf /', desired_count: 1 }, /service: a service name from the policy/],
  ])('%j is refused before any AWS command', async (args, msg) => {
    const { h } = await serviceWorld();
    const r = await call(h.client, 'scale_service', { service: 'web', ...args });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(msg);
    expect(h.sent).toEqual([]);
    expect(h.audit.tail({ limit: 3 }).map((e) => e.kind)).toEqual(['requested', 'denied']);
  });

  it('over the budget: denied with what is left and what fits, and nothing launched', async () => {
    const { w, h } = await serviceWorld({ budget: 10 });
    const r = await call(h.client, 'scale_service', { service: 'web', desired_count: 2, instance_type: 't3.small' });
    expect(r.text).toBe(
      `scale_service denied by the budget rule: ${w.project} has $10.00/month left; web: 0 → 2: launch 2 × t3.small costs $30.38/month — make a smaller change, or call request_budget`,
    );
    expect(h.writes()).toEqual([]);
    expect(await instancesOf(w.project)).toHaveLength(0);
  });

  it('names a cheaper type that fits the budget', async () => {
    const { h } = await serviceWorld({ budget: 20 });
    const r = await call(h.client, 'scale_service', { service: 'web', desired_count: 2, instance_type: 't3.small' });
    expect(r.text).toMatch(
      /has \$20\.00\/month left; web: 0 → 2: launch 2 × t3\.small costs \$30\.38\/month — 2 × t3\.micro \(\$15\.20\) fits — make a smaller change, or call request_budget$/,
    );
  });

  it('past a tier limit escalates instead when the service says so', async () => {
    const { h } = await serviceWorld({ escalate: true });
    const r = await call(h.client, 'scale_service', { service: 'web', desired_count: 5, instance_type: 't3.micro' });
    expect(r.text).toMatch(/^pending approval: proposal prop_[0-9a-f]{12} — web would have 5 instances; tier "operator" allows at most 4/);
    expect(r.structured).toMatchObject({ decision: { rule: 'limits', outcome: 'escalate' } });
    expect(h.writes()).toEqual([]);
    expect(listNotifications(h.store).map((n) => n.kind)).toEqual(['proposal']);
  });

  it('a replay of the same approved event (a crash after RunInstances returned) launches nothing new', async () => {
    const { w, h } = await serviceWorld();
    const agent = resolveAgent(w.policy, w.agent);
    const args = { service: 'web', desired_count: 2, instance_type: 't3.micro' };
    const ctx = {
      agent,
      aws: h.aws,
      ports: portsFor(h.store, agent.projectId, agent.project),
      signal: new AbortController().signal,
      progress: async () => {},
    };
    const scope = { agent: w.agent, tool: 'scale_service', requestIds: [] as string[] };
    await h.aws.session.credentials();
    const plan = await inCallScope(scope, () => scaleService.plan(args, ctx));
    const approved = h.audit.append({ kind: 'approved', agent: w.agent, project: w.project, tool: 'scale_service', request: plan });
    const first = await inCallScope(scope, () =>
      withPermit(permitFor(approved.id, w.project, plan), () => scaleService.execute(plan, args, ctx)),
    );
    // The process "crashed" before recording the outcome; the same approved event runs again.
    const again = await inCallScope(scope, () =>
      withPermit(permitFor(approved.id, w.project, plan), () => scaleService.execute(plan, args, ctx)),
    );
    expect(again).toMatchObject({ count: 2 });
    expect((again as { launched: string[] }).launched.sort()).toEqual((first as { launched: string[] }).launched.sort());
    expect(await instancesOf(w.project)).toHaveLength(2);
    expect(h.writes().map((c) => c.command)).toEqual(['RunInstances']);
  });

  it('a failing HTTP health check rolls back: exactly the new instances terminated, the old untouched, humans told', async () => {
    const hits: string[] = [];
    const http = createServer((req, res) => {
      hits.push(req.url ?? '');
      res.statusCode = 503;
      res.end('not ready');
    });
    servers.push(http);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const port = (http.address() as { port: number }).port;
    const { w, h } = await serviceWorld({ healthUrl: `http://127.0.0.1:${port}/health/{instance_id}` });
    const old = await launchTagged(admin.ec2(), { ProjectId: w.project, Service: 'web', AgentId: w.agent });
    const r = await call(h.client, 'scale_service', { service: 'web', desired_count: 3, instance_type: 't3.micro' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/scale_service failed its health check \(i-[0-9a-f]+: GET http:\/\/127\.0\.0\.1:\d+\/health\/i-[0-9a-f]+ → 503/);
    expect(r.text).toMatch(/rolled back: terminated i-[0-9a-f]+, i-[0-9a-f]+ — web is as it was/);
    const live = await instancesOf(w.project);
    expect(live.map((i) => `arn:aws:ec2:us-east-1:123456789012:instance/${i.InstanceId}`)).toEqual([old]);
    expect(hits.length).toBeGreaterThan(0);
    expect(h.audit.tail({ limit: 5 }).map((e) => e.kind)).toEqual(['requested', 'approved', 'executed', 'rolled_back']);
    expect(h.store.ledger.facts(w.project, 10000)).toMatchObject({ reservedCents: 0, committedCents: 0 });
    const notes = listNotifications(h.store);
    expect(notes.map((n) => n.kind)).toEqual(['rolled_back']);
    expect(JSON.parse(notes[0].body)).toMatchObject({ project: w.project, terminated: expect.any(Array) });
  });

  it("never counts, changes or terminates another project's instances of the same service name", async () => {
    const { w, h } = await serviceWorld();
    const theirs = await Promise.all([1, 2].map(() => launchTagged(admin.ec2(), { ProjectId: w.other, Service: 'web' })));
    const up = await call(h.client, 'scale_service', { service: 'web', desired_count: 1, instance_type: 't3.micro' });
    expect((up.structured?.result as { count: number }).count).toBe(1);
    const down = await call(h.client, 'scale_service', { service: 'web', desired_count: 0 });
    expect(down.isError, down.text).toBeFalsy();
    expect(await instancesOf(w.project)).toHaveLength(0);
    expect((await instancesOf(w.other)).map((i) => i.InstanceId).sort()).toEqual(theirs.map((a) => a.split('/').pop()).sort());
  });

  it('changes the instance type as a rolling replacement: new ones healthy first, then the old ones go', async () => {
    const { w, h } = await serviceWorld();
    await call(h.client, 'scale_service', { service: 'web', desired_count: 2, instance_type: 't3.micro' });
    const before = (await instancesOf(w.project)).map((i) => i.InstanceId);
    const r = await call(h.client, 'scale_service', { service: 'web', desired_count: 2, instance_type: 't3.small' });
    expect(r.isError, r.text).toBeFalsy();
    expect(r.structured?.plan).toMatchObject({
      operations: [{ action: 'ec2:RunInstances' }, { action: 'ec2:TerminateInstances', params: { ids: expect.arrayContaining(before) } }],
    });
    const after = await instancesOf(w.project);
    expect(after.map((i) => i.InstanceType)).toEqual(['t3.small', 't3.small']);
    expect(after.some((i) => before.includes(i.InstanceId))).toBe(false);
    expect(h.writes().map((c) => c.command)).toEqual(['RunInstances', 'RunInstances', 'TerminateInstances']);
    expect(h.store.ledger.facts(w.project, 10000)).toMatchObject({ committedCents: 2 * 1519 });
  });

  it('resolves the image from an SSM parameter when the plan is made, and launches exactly that AMI', async () => {
    const { w, h } = await serviceWorld({ ssm: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64' });
    const r = await call(h.client, 'scale_service', { service: 'web', desired_count: 1, instance_type: 't3.micro' });
    expect(r.isError, r.text).toBeFalsy();
    const ami = (r.structured?.plan as { operations: { params: { imageId: string } }[] }).operations[0].params.imageId;
    expect(ami).toMatch(/^ami-/);
    expect((await instancesOf(w.project))[0].ImageId).toBe(ami);
  });

  it('escalates scaling a service whose instances are tagged critical', async () => {
    const { w, h } = await serviceWorld();
    await launchTagged(admin.ec2(), { ProjectId: w.project, Service: 'web', Criticality: 'critical' });
    const r = await call(h.client, 'scale_service', { service: 'web', desired_count: 2, instance_type: 't3.micro' });
    expect(r.text).toMatch(
      /^pending approval: proposal prop_[0-9a-f]{12} — needs a human: arn:aws:ec2:.*instance\/i-[0-9a-f]+ is tagged critical/,
    );
    expect(h.writes()).toEqual([]);
  });

  it('sends progress notifications while it waits for health, when the client asked', async () => {
    const { h } = await serviceWorld();
    const sent: { progress: number; total?: number; message?: string }[] = [];
    const res = await h.client.callTool(
      { name: 'scale_service', arguments: { service: 'web', desired_count: 1, instance_type: 't3.micro' } },
      undefined,
      { onprogress: (p) => void sent.push(p) },
    );
    expect(res.isError).toBeFalsy();
    const seen = sent.map((p) => p.message ?? '');
    expect(seen).toContain('launched 1 × t3.micro; waiting for health');
    expect(
      seen.some((m) => /^1\/1 instances healthy after \d+ s \(at most \d+ s\)$/.test(m)),
      seen.join(' | '),
    ).toBe(true);
    // As the spec requires: every notification's progress is higher than the one before, and within its total.
    for (let i = 1; i < sent.length; i++) expect(sent[i].progress).toBeGreaterThan(sent[i - 1].progress);
    for (const p of sent) if (p.total !== undefined) expect(p.progress).toBeLessThanOrEqual(p.total);
  });

  it('keeps a reason with injection strings verbatim and harmless', async () => {
    const { h } = await serviceWorld();
    const reason = "'; DROP TABLE locks; -- <script>alert(1)</script> {{7*7}}";
    await call(h.client, 'scale_service', { service: 'web', desired_count: 0, reason });
    expect(JSON.parse(h.audit.tail({ limit: 5 })[0].request ?? '{}').reason).toBe(reason);
    expect(h.audit.verify().ok).toBe(true);
  });
});

describe('pickForScaleIn', () => {
  it('removes instances that are not running first, then the newest', () => {
    const i = (id: string, state: string, launchedAt: string) => ({
      id,
      state,
      launchedAt,
      arn: id,
      type: 't3.micro',
      privateIp: null,
      publicIp: null,
      tags: {},
    });
    const set = [
      i('old', 'running', '2026-01-01'),
      i('new', 'running', '2026-03-01'),
      i('mid', 'running', '2026-02-01'),
      i('sick', 'pending', '2025-12-01'),
    ];
    expect(pickForScaleIn(set, 1).map((x) => x.id)).toEqual(['sick']);
    expect(pickForScaleIn(set, 3).map((x) => x.id)).toEqual(['sick', 'new', 'mid']);
  });
});

describe('two server processes scaling one service', () => {
  it('serialize on the service: the count ends as one of the requests asked, never their sum', async () => {
    const img = await imageId();
    const project = fresh('p');
    const dir = mkdtempSync(join(tmpdir(), 'warden-scale-'));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(
      policy,
      `version: 1
projects:
  ${project}:
    budget_usd_month: 500
    services:
      web: { image_id: ${img}, instance_types: [t3.micro], max: 8, health: { timeout_seconds: 5, poll_seconds: 0.2 } }
tiers: { operator: { tools: [scale_service, get_service] } }
agents:
  one: { project: ${project}, tier: operator, role_arn: "arn:aws:iam::123456789012:role/one" }
  two: { project: ${project}, tier: operator, role_arn: "arn:aws:iam::123456789012:role/two" }
`,
    );
    const db = join(dir, 'warden.db');
    const clients = await Promise.all(
      ['one', 'two'].map(async (agent) => {
        const client = new Client({ name: agent, version: '0' });
        await client.connect(
          new StdioClientTransport({
            command: process.execPath,
            args: [join(process.cwd(), 'dist', 'src', 'cli', 'aws-warden.js'), 'serve', '--agent', agent, '--policy', policy, '--db', db],
            env: { ...(process.env as Record<string, string>) },
            stderr: 'ignore',
          }),
        );
        return client;
      }),
    );
    try {
      const [a, b] = await Promise.all([
        clients[0].callTool({ name: 'scale_service', arguments: { service: 'web', desired_count: 2 } }),
        clients[1].callTool({ name: 'scale_service', arguments: { service: 'web', desired_count: 3 } }),
      ]);
      expect(a.isError, JSON.stringify(a.content)).toBeFalsy();
      expect(b.isError, JSON.stringify(b.content)).toBeFalsy();
      const counts = [a, b].map((r) => (r.structuredContent as { result: { count: number } }).result.count);
      const final = (await instancesOf(project)).length;
      expect([2, 3]).toContain(final);
      expect(counts).toContain(final);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  }, 90_000);
});

describe('orphans', () => {
  it('an instance whose ownership tag a human removed is neither counted nor touched, and get_service and scale_service name it', async () => {
    const { w, h } = await serviceWorld();
    await call(h.client, 'scale_service', { service: 'web', desired_count: 2, instance_type: 't3.micro' });
    const [gone] = (await instancesOf(w.project)).map((i) => i.InstanceId as string);
    const { DeleteTagsCommand } = await import('@aws-sdk/client-ec2');
    await admin.ec2().send(new DeleteTagsCommand({ Resources: [gone], Tags: [{ Key: 'ProjectId' }] }));
    const seen = await call(h.client, 'get_service', { service: 'web' });
    expect(seen.structured).toMatchObject({
      count: 1,
      orphans: [{ instance: gone, why: expect.stringMatching(/ProjectId is gone: not counted, not touched — a human should look/) }],
    });
    expect(seen.text).toMatch(new RegExp(`1 orphaned instance\\(s\\) a human should look at: ${gone}`));
    h.sent.length = 0;
    const scaled = await call(h.client, 'scale_service', { service: 'web', desired_count: 0 });
    expect(scaled.isError, scaled.text).toBeFalsy();
    expect((scaled.structured?.result as { orphans: { instance: string }[] }).orphans.map((o) => o.instance)).toEqual([gone]);
    expect(scaled.text).toMatch(new RegExp(`orphaned instance\\(s\\) a human should look at: ${gone}`));
    const { DescribeInstancesCommand: Describe } = await import('@aws-sdk/client-ec2');
    const state = (await admin.ec2().send(new Describe({ InstanceIds: [gone] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name;
    expect(state).toBe('running');
  });
});
