// In-client consent for 2026-07-28 clients: an input_required round whose form shows the exact plan hash, and a retry
// that approves exactly that proposal. A tampered or replayed answer, another call's answer, an expired proposal or a
// plan that moved since the question is refused on the record, with nothing done and the proposal left for wardenctl.
import { CreateSecurityGroupCommand, CreateTagsCommand, DescribeTagsCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { launchTagged } from '../src/demo/seed.js';
import { rawDb } from '../src/store/store.js';
import { admin, call, fresh, world } from './helpers/harness.js';
import { connectModern, type Elicit, type ModernHarness } from './helpers/modern.js';

const open: ModernHarness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function setup(opts: { onElicit?: Elicit; autoFulfill?: boolean; topYaml?: string } = {}) {
  const w = world({ projectYaml: '    in_client_consent: [critical_tag, spend]', topYaml: opts.topYaml });
  w.policy.projects[w.project].approver_role_arn = `arn:aws:iam::123456789012:role/${w.project}-approver`;
  const h = await connectModern(w.policy, w.agent, opts);
  open.push(h);
  const critical = await launchTagged(admin.ec2(), { ProjectId: w.project, Criticality: 'critical' });
  return { w, h, critical };
}

async function tags(arn: string) {
  const out = await admin
    .ec2()
    .send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [arn.split('/').pop() as string] }] }));
  return Object.fromEntries((out.Tags ?? []).map((t) => [t.Key, t.Value]));
}

type Round = { resultType?: string; inputRequests?: Record<string, { params?: { message?: string } }>; requestState?: string };

/** A first round by hand: the input_required result as the client receives it. */
async function firstRound(h: ModernHarness, args: Record<string, unknown>): Promise<Round> {
  return (await h.client.request(
    { method: 'tools/call', params: { name: 'tag_resource', arguments: args } },
    { allowInputRequired: true },
  )) as unknown as Round;
}

/** A retry by hand: the same call (or another) with an answer and a request state. */
async function retry(h: ModernHarness, args: Record<string, unknown>, requestState: string, approve = true) {
  const res = (await h.client.request(
    {
      method: 'tools/call',
      params: {
        name: 'tag_resource',
        arguments: args,
        inputResponses: { approve: { action: 'accept', content: { approve } } },
        requestState,
      },
    },
    { allowInputRequired: true },
  )) as unknown as { isError?: boolean; content: { text: string }[]; structuredContent?: Record<string, unknown> };
  return { isError: res.isError, text: res.content.map((c) => c.text).join('\n'), structured: res.structuredContent };
}

const consentRefusals = (h: ModernHarness) =>
  h.store.audit
    .tail({ limit: 50 })
    .filter((e) => e.kind === 'denied' && (JSON.parse(e.decision ?? '{}') as { rule?: string }).rule === 'consent');

describe('consent by input_required (2026-07-28 clients)', () => {
  it('the client asks the person with the plan hash, retries with the answer, and exactly that plan runs', async () => {
    const asked: string[] = [];
    const { h, critical } = await setup({ onElicit: (m) => (asked.push(m), { action: 'accept', content: { approve: true } }) });
    expect(h.client.getProtocolEra()).toBe('modern');
    const r = await call(h.client, 'tag_resource', { resource_arn: critical, set: { Owner: 'ops' } });
    expect(r.isError, r.text).toBeFalsy();
    expect(r.structured).toMatchObject({ status: 'executed', result: { tags: { Owner: 'ops' } } });
    const p = h.store.proposals.list()[0];
    expect(asked).toHaveLength(1);
    expect(asked[0]).toContain(`Plan hash: ${p.plan_hash}`);
    expect(p).toMatchObject({ state: 'executed', decided_by: 'in-client:test' });
    expect((await tags(critical)).Owner).toBe('ops');
    const kinds = h.store.audit.tail({ limit: 10 }).map((e) => `${e.kind}:${e.agent}`);
    expect(kinds.slice(-3)).toEqual([kinds.at(-3), 'approved:human:in-client:test', 'executed:human:in-client:test']);
    expect(kinds.at(-3)).toMatch(/^escalated:/);
  });

  it.each([
    ['a decline', { action: 'decline' as const }],
    ['a cancel', { action: 'cancel' as const }],
    ['an accept that does not approve', { action: 'accept' as const, content: { approve: false } }],
  ])('%s leaves the proposal pending for wardenctl and writes nothing', async (_what, answer) => {
    const { h, critical } = await setup({ onElicit: () => answer });
    const r = await call(h.client, 'tag_resource', { resource_arn: critical, set: { Owner: 'ops' } });
    expect(r.structured?.status, r.text).toBe('pending_approval');
    expect(h.store.proposals.list()[0].state).toBe('pending');
    expect(h.writes()).toEqual([]);
    expect((await tags(critical)).Owner).toBeUndefined();
  });

  it('a client that cannot elicit gets pending_approval, never an input_required round', async () => {
    const { h, critical } = await setup();
    const r = await call(h.client, 'tag_resource', { resource_arn: critical, set: { Owner: 'ops' } });
    expect(r.structured?.status).toBe('pending_approval');
    expect(h.writes()).toEqual([]);
  });

  it('never asks about a security group, whatever the client would answer', async () => {
    const asked: string[] = [];
    const { w, h } = await setup({ onElicit: (m) => (asked.push(m), { action: 'accept', content: { approve: true } }) });
    const sg = await admin.ec2().send(
      new CreateSecurityGroupCommand({
        GroupName: fresh('sg'),
        Description: 'x',
        TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'ProjectId', Value: w.project }] }],
      }),
    );
    const r = await call(h.client, 'propose_security_change', {
      security_group: sg.GroupId,
      add: [{ protocol: 'tcp', from_port: 443, to_port: 443, cidr: '0.0.0.0/0' }],
      reason: 'the shop must serve https',
    });
    expect(r.structured?.status).toBe('pending_approval');
    expect(asked).toEqual([]);
    expect(h.writes()).toEqual([]);
  });

  describe('a retry driven by hand', () => {
    const manual = () => setup({ onElicit: () => ({ action: 'accept', content: { approve: true } }), autoFulfill: false });

    it('the first round is input_required with the plan hash in its form and a signed state', async () => {
      const { h, critical } = await manual();
      const round = await firstRound(h, { resource_arn: critical, set: { Owner: 'ops' } });
      expect(round.resultType).toBe('input_required');
      const p = h.store.proposals.list()[0];
      expect(round.inputRequests?.approve.params?.message).toContain(`Plan hash: ${p.plan_hash}`);
      expect(round.requestState).toMatch(/\./);
      expect(p.state).toBe('pending');
      expect(h.writes()).toEqual([]);
    });

    it('a tampered state is refused on the record; nothing approved, the proposal still pending', async () => {
      const { h, critical } = await manual();
      const args = { resource_arn: critical, set: { Owner: 'ops' } };
      const round = await firstRound(h, args);
      const state = round.requestState as string;
      const tampered = state.slice(0, 10) + (state[10] === 'A' ? 'B' : 'A') + state.slice(11);
      const r = await retry(h, args, tampered);
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(/consent refused: the request state is not one this server issued/);
      expect(consentRefusals(h)).toHaveLength(1);
      expect(h.store.proposals.list()[0].state).toBe('pending');
      expect(h.writes()).toEqual([]);
    });

    it("another call's arguments with this state are refused", async () => {
      const { w, h, critical } = await manual();
      const round = await firstRound(h, { resource_arn: critical, set: { Owner: 'ops' } });
      const other = await launchTagged(admin.ec2(), { ProjectId: w.project, Criticality: 'critical' });
      const r = await retry(h, { resource_arn: other, set: { Owner: 'ops' } }, round.requestState as string);
      expect(r.text).toMatch(/consent refused: the answer was asked for .* with other arguments, not this call/);
      expect(consentRefusals(h)).toHaveLength(1);
      expect(h.writes()).toEqual([]);
      expect((await tags(other)).Owner).toBeUndefined();
    });

    it('the answer approves once; the same answer replayed is refused on the record', async () => {
      const { h, critical } = await manual();
      const args = { resource_arn: critical, set: { Owner: 'ops' } };
      const round = await firstRound(h, args);
      const ok = await retry(h, args, round.requestState as string);
      expect(ok.structured, ok.text).toMatchObject({ status: 'executed' });
      const writes = h.writes().length;
      const again = await retry(h, args, round.requestState as string);
      expect(again.isError).toBe(true);
      expect(again.text).toMatch(/already executed \(an answer counts once\)/);
      expect(consentRefusals(h)).toHaveLength(1);
      expect(h.writes()).toHaveLength(writes);
    });

    it('an answer after the proposal expired is refused on the record', async () => {
      const { h, critical } = await manual();
      const args = { resource_arn: critical, set: { Owner: 'ops' } };
      const round = await firstRound(h, args);
      const p = h.store.proposals.list()[0];
      rawDb(h.store)
        .prepare('UPDATE proposals SET expires_at = ? WHERE id = ?')
        .run(new Date(Date.now() - 1000).toISOString(), p.id);
      const r = await retry(h, args, round.requestState as string);
      expect(r.text).toMatch(new RegExp(`consent refused: proposal ${p.id} expired`));
      expect(consentRefusals(h)).toHaveLength(1);
      expect(h.writes()).toEqual([]);
    });

    it('retries take from the flood limits like any change: past calls_per_minute they are refused by the limit', async () => {
      const { h, critical } = await setup({
        onElicit: () => ({ action: 'accept', content: { approve: true } }),
        autoFulfill: false,
        topYaml: 'rate_limits: { calls_per_minute: 3, mutating_calls_per_hour: 100, concurrent_calls: 10 }',
      });
      const args = { resource_arn: critical, set: { Owner: 'ops' } };
      const round = await firstRound(h, args);
      const forged = `${round.requestState as string}x`;
      for (let i = 0; i < 2; i++) expect((await retry(h, args, forged)).text).toMatch(/consent refused: the request state/);
      const limited = await retry(h, args, round.requestState as string);
      expect(limited.isError).toBe(true);
      expect(limited.text).toMatch(/consent refused by the rate limit: 3 calls\/min/);
      expect(h.store.proposals.list()[0].state).toBe('pending');
      expect(h.writes()).toEqual([]);
    });

    it('a plan that moved since the question is not run: the approval is refused as stale', async () => {
      const { h, critical } = await manual();
      const args = { resource_arn: critical, set: { Owner: 'ops' } };
      const round = await firstRound(h, args);
      // Behind the agent's back, the instance's tags change: the plan the person approved is not the plan now.
      await admin
        .ec2()
        .send(new CreateTagsCommand({ Resources: [critical.split('/').pop() as string], Tags: [{ Key: 'Team', Value: 'x' }] }));
      const r = await retry(h, args, round.requestState as string);
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(/approved in the client, but .*(stale|changed|moved)/i);
      expect(h.writes()).toEqual([]);
      expect((await tags(critical)).Owner).toBeUndefined();
    });
  });
});
