// Budget guardrails: exact cents, UTC months, the guard's budget step against moto, the ledger's life cycle,
// reconcile, and request_budget → a human's approval.
import { RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { applyReconcile, ownedInAws } from '../src/budget/reconcile.js';
import { hoursInMonth, monthKey } from '../src/budget/month.js';
import { anyImageId, launchTagged } from '../src/demo/seed.js';
import { ec2Hourly, monthlyCentsFromGbMonth, monthlyCentsFromHourly } from '../src/prices/prices.js';
import { approveProposal, rejectProposal } from '../src/proposals/approve.js';
import { rawDb, Store } from '../src/store/store.js';
import { allTools } from '../src/tools/index.js';
import { launchTool } from './fixtures/launch-tool.js';
import { ACCOUNT, admin, call, connect, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

/** A project with a $`budget` cap whose operator may also call test_launch (a priced launch). */
async function pricedWorld(budget: number, clock?: () => Date) {
  const w = world({ budget, operatorTools: ['test_launch'], limits: '{ instance_types: [t3.micro, t3.small, t3.medium] }' });
  const store = Store.open(':memory:', { clock });
  const h = await connect(w.policy, w.agent, { store, tools: [...allTools, launchTool] });
  open.push(h);
  return { w, h, store };
}

describe('prices, in exact cents', () => {
  it.each([
    ['t3.micro', 760], // 0.0104 × 730 = 7.592 → up to 7.60
    ['t3.small', 1519], // 15.184 → 15.19
    ['m5.xlarge', 14016], // exactly 140.16
    ['m5.large', 7008],
  ])('%s costs %i cents a month (hourly × 730, rounded up)', (type, cents) => {
    expect(monthlyCentsFromHourly(ec2Hourly('us-east-1', type) as number)).toBe(cents);
  });

  it('prices EBS per GB-month and knows no unknown type', () => {
    expect(monthlyCentsFromGbMonth(20, 0.08)).toBe(160);
    expect(monthlyCentsFromGbMonth(1, 0.0952)).toBe(10);
    expect(ec2Hourly('us-east-1', 'x9.galactic')).toBeNull();
    expect(ec2Hourly('mars-north-1', 't3.micro')).toBeNull();
  });
});

describe('UTC months', () => {
  it('keys and clips by UTC, whatever the local zone', () => {
    expect(monthKey(new Date('2026-11-30T23:30:00-05:00'))).toBe('2026-12');
    const now = new Date('2026-12-01T05:00:00Z');
    expect(hoursInMonth(new Date('2026-11-30T20:00:00Z'), now, now)).toBe(5);
    expect(hoursInMonth(new Date('2026-10-01T00:00:00Z'), new Date('2026-10-31T00:00:00Z'), now)).toBe(0);
  });

  it('a this_month increase ends at the rollover; a permanent one stays', () => {
    let now = new Date('2026-11-30T23:59:00Z');
    const store = Store.open(':memory:', { clock: () => now });
    store.ledger.raiseCap('shop', 2500, '2026-11', 'prop_a', 'ann');
    store.ledger.raiseCap('shop', 1000, null, 'prop_b', 'ann');
    expect(store.ledger.capCents('shop', 10000)).toBe(13500);
    now = new Date('2026-12-01T00:00:00Z');
    expect(store.ledger.capCents('shop', 10000)).toBe(11000);
  });

  it('month to date counts only the hours held this month; the projection runs to month end', () => {
    let now = new Date('2026-11-01T00:00:00Z');
    const store = Store.open(':memory:', { clock: () => now });
    store.ledger.settle(null, 'shop', 'bot', {
      add: [{ arn: 'arn:aws:ec2:us-east-1:1:instance/i-1', description: 'x', hourlyUsd: 0.1, centsMonth: 7300 }],
      remove: [],
    });
    now = new Date('2026-11-11T00:00:00Z'); // 240 h held
    const s = store.ledger.summary('shop', 10000);
    expect(s.monthToDateCents).toBe(2400);
    expect(s.projectedMonthEndCents).toBe(7200); // 30 days × 24 h × $0.10
    expect(s.committedCents).toBe(7300);
  });
});

describe('the budget step, against moto', () => {
  it('denies an over-budget launch before any AWS command, naming what fits', async () => {
    const { w, h } = await pricedWorld(12.4);
    const r = await call(h.client, 'test_launch', { instance_type: 'm5.xlarge' });
    expect(r.isError).toBe(true);
    expect(r.text).toBe(
      `test_launch denied by the budget rule: ${w.project} has $12.40/month left; launch 1 × m5.xlarge costs $140.16/month — t3.micro ($7.60) fits — make a smaller change, or call request_budget`,
    );
    expect(h.sent).toEqual([]);
    expect(h.audit.tail({ limit: 3 }).map((e) => e.kind)).toEqual(['requested', 'denied']);
  });

  it('denies an unknown price rather than guessing', async () => {
    const { h } = await pricedWorld(1000);
    const r = await call(h.client, 'test_launch', { instance_type: 'x9.galactic' });
    expect(r.text).toMatch(/denied by the budget rule: .*unknown price/);
    expect(h.sent).toEqual([]);
  });

  it('escalates a change over the threshold even when the cap allows it', async () => {
    const { h } = await pricedWorld(1000);
    const r = await call(h.client, 'test_launch', { instance_type: 't3.medium' }); // $30.37 > $20 threshold
    expect(r.text).toMatch(/^pending approval: proposal prop_[0-9a-f]{12} — needs a human: adds \$30\.37\/month, over the \$20\.00/);
    expect(r.structured).toMatchObject({ status: 'pending_approval', decision: { outcome: 'escalate', rule: 'escalation' } });
    expect(h.writes()).toEqual([]);
  });

  it('commits a success to the ledger: held, by resource and by agent', async () => {
    const { w, h } = await pricedWorld(100);
    const r = await call(h.client, 'test_launch', { instance_type: 't3.micro' });
    expect(r.isError, r.text).toBeFalsy();
    const arn = (r.structured?.result as { instance_arn: string }).instance_arn;
    const b = (await call(h.client, 'get_budget', {})).structured as Record<string, unknown>;
    expect(b).toMatchObject({
      cap_usd_month: 100,
      committed_usd_month: 7.6,
      reserved_usd_month: 0,
      remaining_usd_month: 92.4,
      unpriced_resources: [],
    });
    expect(b.by_resource).toEqual([expect.objectContaining({ arn, agent: w.agent, usd_month: 7.6 })]);
    expect(b.by_agent).toEqual([{ agent: w.agent, committed_usd_month: 7.6, reserved_usd_month: 0 }]);
  });

  it('releases the reservation when execution fails', async () => {
    const { h, store, w } = await pricedWorld(100);
    // A fault moto cannot produce on demand: AWS throttling the launch.
    h.aws.ec2.middlewareStack.add(
      (next, ctx) => async (args) => {
        if (ctx.commandName === 'RunInstancesCommand')
          throw Object.assign(new Error('Rate exceeded'), { name: 'RequestLimitExceeded', $metadata: { httpStatusCode: 503 } });
        return next(args);
      },
      { step: 'initialize', name: 'throttle' },
    );
    const r = await call(h.client, 'test_launch', { instance_type: 't3.small' });
    expect(r.text).toMatch(/AWS is throttling ec2:RunInstances \(RequestLimitExceeded\); wait a few seconds and retry/);
    expect(store.ledger.facts(w.project, 10000)).toEqual({ capCents: 10000, committedCents: 0, reservedCents: 0 });
    expect(h.audit.tail({ limit: 5 }).map((e) => e.kind)).toEqual(['requested', 'approved', 'failed']);
  });

  it('dry_run shows the cost and the decision, reserves nothing', async () => {
    const { h, store, w } = await pricedWorld(100);
    const r = await call(h.client, 'test_launch', { instance_type: 'm5.xlarge', dry_run: true });
    expect(r.isError).toBeFalsy();
    expect(r.structured).toMatchObject({
      status: 'dry_run',
      decision: { outcome: 'deny', rule: 'budget' },
      plan: { costDeltaUsdMonth: 140.16 },
    });
    expect(store.ledger.facts(w.project, 10000)?.reservedCents).toBe(0);
    expect(h.sent).toEqual([]);
  });
});

describe('reconcile', () => {
  it('releases what is gone, adopts what is missing, and an unpriced resource blocks new spending', async () => {
    const { w, h, store } = await pricedWorld(100);
    const launched = await call(h.client, 'test_launch', { instance_type: 't3.micro' });
    const gone = (launched.structured?.result as { instance_arn: string }).instance_arn;
    const ec2 = admin.ec2();
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone.split('/').pop() as string] }));
    const stray = await launchTagged(ec2, { ProjectId: w.project, AgentId: 'someone' }); // t3.micro, made outside aws-warden
    await launchTagged(ec2, { ProjectId: w.other }); // another project's: never counted here

    const report = applyReconcile(store, w.project, await ownedInAws(ec2, w.project, ACCOUNT));
    expect(report).toMatchObject({ released: [gone], adopted: [{ arn: stray, usd_month: 7.6 }], agreed: 0 });
    expect(store.ledger.facts(w.project, 10000)).toMatchObject({ committedCents: 760 });
    // Again: nothing to change.
    expect(applyReconcile(store, w.project, await ownedInAws(ec2, w.project, ACCOUNT))).toMatchObject({
      released: [],
      adopted: [],
      agreed: 1,
    });

    await ec2.send(
      new RunInstancesCommand({
        ImageId: await anyImageId(ec2),
        InstanceType: 'x1e.32xlarge',
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'ProjectId', Value: w.project }] }],
      }),
    );
    const third = applyReconcile(store, w.project, await ownedInAws(ec2, w.project, ACCOUNT));
    expect(third.adopted).toEqual([expect.objectContaining({ usd_month: null })]);
    const r = await call(h.client, 'test_launch', { instance_type: 't3.micro' });
    expect(r.text).toMatch(/budget rule: .*cannot confirm .*a held resource has no known price/);
  });
});

describe('request_budget', () => {
  it('creates a pending proposal and changes nothing by itself; a human approval raises the cap once', async () => {
    const { w, h, store } = await pricedWorld(10);
    const r = await call(h.client, 'request_budget', {
      amount_usd_month: 25.5,
      reason: 'a second node for the sale',
      duration: 'this_month',
    });
    expect(r.isError, r.text).toBeFalsy();
    expect(r.structured).toMatchObject({ status: 'pending_approval', decision: { outcome: 'escalate' } });
    const id = r.structured?.proposal_id as string;
    expect(r.text).toMatch(new RegExp(`wardenctl proposals approve ${id}`));
    expect(store.ledger.capCents(w.project, 1000)).toBe(1000);
    const budget = (await call(h.client, 'get_budget', {})).structured as { pending_requests: unknown[]; cap_usd_month: number };
    expect(budget.cap_usd_month).toBe(10);
    expect(budget.pending_requests).toEqual([expect.objectContaining({ proposal_id: id, reason: 'a second node for the sale' })]);

    approveProposal(store, id, 'ann', 'ok for November');
    expect(store.ledger.capCents(w.project, 1000)).toBe(3550);
    expect(() => approveProposal(store, id, 'bob', null)).toThrow(/is executed \(by ann/);
    expect(store.ledger.capCents(w.project, 1000)).toBe(3550);
    const kinds = store.audit.tail({ limit: 10 }).map((e) => `${e.kind}:${e.agent}`);
    expect(kinds).toEqual([
      `requested:${w.agent}`,
      `escalated:${w.agent}`,
      // get_budget, a read: one row.
      'read:' + w.agent,
      'approved:human:ann',
      'executed:human:ann',
    ]);
    expect(store.audit.verify().ok).toBe(true);
  });

  it('a rejected, expired or altered proposal cannot be approved', async () => {
    let now = new Date('2026-11-10T00:00:00Z');
    const { h, store, w } = await pricedWorld(10, () => now);
    const ask = async () =>
      (await call(h.client, 'request_budget', { amount_usd_month: 5, reason: 'need more for tests', duration: 'permanent' })).structured
        ?.proposal_id as string;
    const rejected = await ask();
    rejectProposal(store, rejected, 'ann', 'not now');
    expect(() => approveProposal(store, rejected, 'ann', null)).toThrow(/is rejected/);

    const expired = await ask();
    now = new Date('2026-11-13T00:00:01Z'); // past the 72 h TTL
    expect(() => approveProposal(store, expired, 'ann', null)).toThrow(/is expired/);

    const altered = await ask();
    rawDb(store)
      .prepare('UPDATE proposals SET plan = replace(plan, \'"cents_month":500\', \'"cents_month":500000\') WHERE id = ?')
      .run(altered);
    expect(() => approveProposal(store, altered, 'ann', null)).toThrow(/no longer matches its hash/);
    expect(store.ledger.capCents(w.project, 1000)).toBe(1000);
  });

  it.each([
    [{ amount_usd_month: -5, reason: 'need more please', duration: 'permanent' }, /amount_usd_month: Too small/],
    [{ amount_usd_month: 5.001, reason: 'need more please', duration: 'permanent' }, /amount_usd_month: whole cents only/],
    [{ amount_usd_month: 5, reason: 'pls', duration: 'permanent' }, /reason: say why in at least 10 characters/],
    [{ amount_usd_month: 5, reason: 'need more please', duration: 'forever' }, /duration: Invalid option/],
  ])('refuses %j naming the field', async (args, msg) => {
    const { h, store } = await pricedWorld(10);
    const r = await call(h.client, 'request_budget', args);
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(msg);
    expect(store.proposals.list()).toEqual([]);
  });
});
