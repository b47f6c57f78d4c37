// One choke point: no registered tool reaches an AWS write without a guard decision and a committed approval.
import { PutBucketTaggingCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { permitFor } from '../src/aws/permit.js';
import { inCallScope, withPermit } from '../src/aws/write-gate.js';
import { launchTagged } from '../src/demo/seed.js';
import { parsePolicy } from '../src/policy/load.js';
import { approveProposal } from '../src/proposals/approve.js';
import { allTools, toolNames } from '../src/tools/index.js';
import { isMutating } from '../src/tools/tool.js';
import { FaultProxy } from './helpers/fault-proxy.js';
import { admin, call, connect, world, type Harness } from './helpers/harness.js';
import { SAMPLES, serviceWorld, SITE } from './helpers/samples.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

const mutating = (name: string) => isMutating(allTools.find((t) => t.name === name)!);

describe('the choke point', () => {
  it('has a sample call for every registered tool', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...toolNames].sort());
  });

  it.each(allTools.map((t) => t.name))('%s: a tier that does not grant it → denied, audited, zero AWS commands', async (tool) => {
    const w = world();
    const arn = await launchTagged(admin.ec2(), { ProjectId: w.project });
    const yaml = `
version: 1
projects: { ${w.project}: { budget_usd_month: 10 } }
tiers: { nothing: { tools: [] } }
agents: { ${w.agent}: { project: ${w.project}, tier: nothing, role_arn: "arn:aws:iam::123456789012:role/${w.agent}" } }
`;
    const h = await connect(parsePolicy(yaml, 'policy.yaml', toolNames), w.agent);
    open.push(h);
    expect((await h.client.listTools()).tools).toEqual([]);
    const r = await call(h.client, tool, await SAMPLES[tool](w, arn));
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(new RegExp(`denied by the tier rule: tool "${tool}" is not granted to tier "nothing"`));
    expect(h.sent).toEqual([]);
    const trail = h.audit.tail({ limit: 5 });
    // A change leaves its request, then the denial; a read one row, the denial carrying what it asked.
    expect(trail.map((e) => e.kind)).toEqual(mutating(tool) ? ['requested', 'denied'] : ['denied']);
    expect(JSON.parse(trail.at(-1)?.decision ?? '{}')).toMatchObject({ outcome: 'deny', rule: 'tier' });
    if (!mutating(tool)) expect(trail[0].request).not.toBeNull();
  });

  it.each(allTools.map((t) => t.name))('%s: every AWS write it sends carries an open approval of this agent', async (tool) => {
    const w = await serviceWorld();
    const arn = await launchTagged(admin.ec2(), { ProjectId: w.project });
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const args = await SAMPLES[tool](w, arn, h); // its own setup (e.g. a proposal to poll) is not under test
    h.sent.length = 0;
    const before = h.audit.tail({ limit: 1 })[0]?.seq ?? 0;
    const r = await call(h.client, tool, args);
    expect(r.isError, r.text).toBeFalsy();
    const trail = h.audit.tail({ limit: 10 }).filter((e) => e.seq > before);
    if (r.structured?.status === 'pending_approval') {
      // Escalated to a human: nothing ran, so nothing may have been written.
      expect(trail.map((e) => e.kind)).toEqual(['requested', 'escalated']);
      expect(h.writes()).toEqual([]);
      return;
    }
    if (!mutating(tool)) {
      // A read: one row, no approval, no write, and its answer kept as a digest only.
      expect(trail.map((e) => e.kind)).toEqual(['read']);
      expect(h.writes()).toEqual([]);
      expect(JSON.parse(trail[0].result ?? '{}')).toMatchObject({ $digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
      return;
    }
    const approved = trail.find((e) => e.kind === 'approved');
    expect(approved).toBeDefined();
    expect(trail.at(-1)?.kind).toBe('executed');
    // The write (if any) happened after the approval was committed, and the approval is now closed.
    if (h.writes().length > 0) expect(h.audit.isOpenApproval(approved!.id, w.agent)).toBe(false);
  });
});

describe('the AWS layer refuses writes on its own', () => {
  async function setup() {
    const w = world();
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const bucket = `arn:aws:s3:::b-${w.project}`;
    const put = () => h.aws.s3.send(new PutBucketTaggingCommand({ Bucket: bucket.slice(13), Tagging: { TagSet: [] } }));
    return { w, h, put };
  }
  const scope = (agent: string) => ({ agent, tool: 'test', requestIds: [] as string[] });

  it('outside any tool call', async () => {
    const { h, put } = await setup();
    await expect(put()).rejects.toThrow(/PutBucketTagging refused by the AWS layer: no approved audit event/);
    expect(h.sent).toEqual([]);
  });

  it('inside a call that has no approval (a planner trying to write)', async () => {
    const { w, h, put } = await setup();
    await expect(inCallScope(scope(w.agent), put)).rejects.toThrow(/no approved audit event/);
    expect(h.sent).toEqual([]);
  });

  it.each([
    ['a forged event id', () => 'not-an-event'],
    ['a "requested" event id', (h: Harness, a: string) => h.audit.append({ kind: 'requested', agent: a, project: 'p', tool: 't' }).id],
    ["another agent's approval", (h: Harness) => h.audit.append({ kind: 'approved', agent: 'someone-else', project: 'p', tool: 't' }).id],
    [
      'an approval already executed (a replay)',
      (h: Harness, a: string) => {
        const ok = h.audit.append({ kind: 'approved', agent: a, project: 'p', tool: 't' });
        h.audit.append({ kind: 'executed', agent: a, project: 'p', tool: 't', follows: ok.id });
        return ok.id;
      },
    ],
  ])('with %s', async (_what, id) => {
    const { w, h, put } = await setup();
    const approval = id(h, w.agent);
    await expect(
      inCallScope(scope(w.agent), () =>
        withPermit(
          permitFor(approval, w.project, { operations: [{ action: 's3:PutBucketTagging', target: `b-${w.project}` }], rollback: [] }),
          put,
        ),
      ),
    ).rejects.toThrow(/is not an open approval/);
    expect(h.sent).toEqual([]);
  });

  it('lets reads through without an approval, and lets a write through with an open one', async () => {
    const { w, h, put } = await setup();
    await admin.s3().send(new (await import('@aws-sdk/client-s3')).CreateBucketCommand({ Bucket: `b-${w.project}` }));
    await admin
      .s3()
      .send(new PutBucketTaggingCommand({ Bucket: `b-${w.project}`, Tagging: { TagSet: [{ Key: 'ProjectId', Value: w.project }] } }));
    const ok = h.audit.append({ kind: 'approved', agent: w.agent, project: 'p', tool: 't' });
    await inCallScope(scope(w.agent), () =>
      withPermit(
        permitFor(ok.id, w.project, { operations: [{ action: 's3:PutBucketTagging', target: `b-${w.project}` }], rollback: [] }),
        put,
      ),
    );
    expect(h.writes().map((c) => c.command)).toEqual(['PutBucketTagging']);
  });
});

describe('no log, no action', () => {
  it('an unwritable store denies the call before any AWS command', async () => {
    const w = await serviceWorld();
    const h = await connect(w.policy, w.agent);
    open.push(h);
    h.db.pragma('query_only = ON');
    for (const tool of toolNames) {
      const r = await call(h.client, tool, await SAMPLES[tool](w, 'arn:aws:s3:::whatever-bucket'));
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(/the audit store cannot be written .*No log, no action: nothing was done/);
    }
    expect(h.sent).toEqual([]);
  });

  it('a store that fails at the approval write: planned reads happen, the write never does', async () => {
    const w = world();
    const arn = await launchTagged(admin.ec2(), { ProjectId: w.project });
    const h = await connect(w.policy, w.agent);
    open.push(h);
    h.db.exec(`CREATE TRIGGER fail_approval BEFORE INSERT ON audit_events WHEN NEW.kind = 'approved'
               BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
    const r = await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'x' } });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/decision could not be written to the audit store .*disk I\/O error.*nothing was done/);
    expect(h.sent.length).toBeGreaterThan(0);
    expect(h.writes()).toEqual([]);
  });

  it('STS unreachable is reported as an outage, not as a role a human must fix', async () => {
    const proxy = await new FaultProxy(process.env.AWS_ENDPOINT_URL as string).start();
    proxy.rule = () => 'reset';
    const unroute = proxy.route('STS');
    try {
      const w = world();
      const h = await connect(w.policy, w.agent);
      open.push(h);
      const r = await call(h.client, 'get_status', {});
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(
        /get_status refused: cannot reach AWS STS to assume .* an AWS outage or a network problem, not a problem with the role — nothing was done; retry when AWS answers again/,
      );
      expect(r.text).not.toMatch(/fix the agent's role/);
      expect(JSON.parse(h.audit.tail({ limit: 1 })[0].decision as string)).toMatchObject({ rule: 'identity', outage: true });
    } finally {
      unroute();
      await proxy.close();
    }
  });

  it('a role that cannot be assumed is a denial, with the reason', async () => {
    const w = world();
    const h = await connect(w.policy, w.agent);
    open.push(h);
    // Fault the emulator cannot produce for one role: STS refusing AssumeRole.
    (h.aws.session as unknown as { sts: { send: () => Promise<never> } }).sts.send = async () => {
      throw Object.assign(new Error('User is not authorized to perform: sts:AssumeRole'), { name: 'AccessDenied' });
    };
    const r = await call(h.client, 'get_status', {});
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/get_status denied: cannot assume arn:aws:iam::123456789012:role\/bot-[0-9a-f]+: AccessDenied/);
    expect(h.audit.tail({ limit: 3 }).map((e) => e.kind)).toEqual(['denied']);
  });
});

describe('a store that fails after the approval', () => {
  it('the agent gets a clear tool error saying what ran, the lock is released, and the approval stays open for recovery', async () => {
    const w = await serviceWorld();
    const h = await connect(w.policy, w.agent);
    open.push(h);
    // The disk fills between the write and its record: only outcome rows fail.
    h.db.exec(`CREATE TRIGGER full_disk BEFORE INSERT ON audit_events WHEN NEW.kind IN ('executed', 'failed', 'rolled_back')
               BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    const r = await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: SITE, environment: 'staging' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(
      /deploy_static_site ran \(deployed to .*\) but its outcome could not be recorded in the audit store \(database or disk is full\); approval .* stays open for recovery/,
    );
    const approved = h.audit.tail({ limit: 1 })[0];
    expect(approved.kind).toBe('approved');
    expect(h.audit.isOpenApproval(approved.id, w.agent)).toBe(true);
    expect(h.writes().map((c) => c.command)).toContain('PutObject');
    // The site lock the deploy held is released: the next call is not told "still running".
    expect(h.db.prepare('SELECT key FROM locks').all()).toEqual([]);
  });
});

describe('every change can be settled after a crash', () => {
  const mutating = allTools.filter((t) => !t.annotations.readOnlyHint);

  it('each mutating tool declares a recovery step and a lock, or is settled in one store transaction', () => {
    expect(mutating.filter((t) => !t.recover && !t.settledInStore).map((t) => t.name)).toEqual([]);
    for (const t of mutating.filter((x) => x.recover))
      expect(t.lockKey, `${t.name} recovers, so it must take a lock`).toBeTypeOf('function');
    for (const t of mutating.filter((x) => x.settledInStore)) expect(t.recover, `${t.name} needs no recovery step`).toBeUndefined();
  });

  it.each(mutating.filter((t) => t.settledInStore).map((t) => t.name))(
    '%s: its plan is warden: actions only, and an approval whose outcome cannot be written leaves nothing approved',
    async (tool) => {
      const w = world();
      const h = await connect(w.policy, w.agent);
      open.push(h);
      const r = await call(h.client, tool, await SAMPLES[tool](w, ''));
      const id = r.structured?.proposal_id as string;
      expect(id, r.text).toMatch(/^prop_/);
      const plan = JSON.parse(h.store.proposals.get(id)?.plan ?? '{}') as { operations: { action: string }[] };
      expect(plan.operations.length).toBeGreaterThan(0);
      expect(plan.operations.every((o) => o.action.startsWith('warden:'))).toBe(true);
      h.db.exec(`CREATE TRIGGER full_disk BEFORE INSERT ON audit_events WHEN NEW.kind = 'executed' AND NEW.agent LIKE 'human:%'
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
      const before = h.db.prepare('SELECT count(*) FROM budget_adjustments').pluck().get();
      // What a grant did outside the store (its policy and role writes) comes first; the record is still one transaction.
      expect(() => approveProposal(h.store, id, 'ann', null, { 'warden:GrantPermission': { simulated: true } })).toThrow(
        /database or disk is full/,
      );
      // The approval, its effect and its outcome are one transaction: none of it happened.
      expect(h.store.proposals.get(id)?.state).toBe('pending');
      expect(h.audit.tail({ limit: 20 }).filter((e) => e.agent === 'human:ann')).toEqual([]);
      expect(h.db.prepare('SELECT count(*) FROM budget_adjustments').pluck().get()).toBe(before);
      expect(h.store.audit.openHumanApprovals()).toEqual([]);
    },
  );
});
