// Human escalation: every escalation class becomes a proposal and writes nothing; a human's approval runs exactly
// the stored plan once under the approver role; stale, expired, rejected or altered proposals never run.
import { AuthorizeSecurityGroupIngressCommand, CreateTagsCommand, DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { z } from 'zod';
import { defineTool, noParams } from '../src/tools/tool.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { SentCommand } from '../src/aws/clients.js';
import { launchTagged } from '../src/demo/seed.js';
import { ProposalRefused, rejectProposal } from '../src/proposals/approve.js';
import { approveAndRun } from '../src/registry/approve.js';
import { rulesOf } from '../src/security/rules.js';
import { planHash } from '../src/store/proposals.js';
import { rawDb, Store } from '../src/store/store.js';
import { canonicalJson } from '../src/util/canonical.js';
import type { Plan } from '../src/guard/types.js';
import { allTools } from '../src/tools/index.js';
import { launchTool } from './fixtures/launch-tool.js';
import { admin, call, connect, world, type Harness } from './helpers/harness.js';
import { ownedGroup } from './helpers/samples.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function setup(opts: { clock?: () => Date } = {}) {
  const w = world({ operatorTools: ['test_launch'], limits: '{ instance_types: [t3.micro, t3.medium] }' });
  // Approved plans run under the project's approver role, which the harness policy names here.
  w.policy.projects[w.project].approver_role_arn = `arn:aws:iam::123456789012:role/${w.project}-approver`;
  const store = Store.open(':memory:', { clock: opts.clock });
  const h = await connect(w.policy, w.agent, { store, tools: [...allTools, launchTool] });
  open.push(h);
  return { w, h, store };
}

async function ingress(group: string) {
  const out = await admin.ec2().send(new DescribeSecurityGroupsCommand({ GroupIds: [group] }));
  return rulesOf(out.SecurityGroups![0]).filter((r) => r.direction === 'ingress');
}

const https = { protocol: 'tcp', from_port: 443, to_port: 443, cidr: '0.0.0.0/0', description: 'public https' };
const ssh = { protocol: 'tcp', from_port: 22, to_port: 22, cidr: '0.0.0.0/0' };

async function propose(h: Harness, group: string, add: Record<string, unknown>[] = [https]) {
  const r = await call(h.client, 'propose_security_change', { security_group: group, add, reason: 'the shop must serve https' });
  expect(r.isError, r.text).toBeFalsy();
  expect(r.structured?.status).toBe('pending_approval');
  return r;
}

describe('escalation classes', () => {
  it.each([
    [
      'a security-group change',
      async (h: Harness, w: ReturnType<typeof world>) => [
        'propose_security_change',
        { security_group: await ownedGroup(w.project), add: [https], reason: 'the shop must serve https' },
      ],
      /risk: security group/,
    ],
    [
      'a resource tagged critical',
      async (h: Harness, w: ReturnType<typeof world>) => [
        'tag_resource',
        { resource_arn: await launchTagged(admin.ec2(), { ProjectId: w.project, Criticality: 'critical' }), set: { Owner: 'x' } },
      ],
      /is tagged critical/,
    ],
    ['spend over the threshold', async () => ['test_launch', { instance_type: 't3.medium' }], /over the \$20\.00 a human must approve/],
    [
      'a budget increase',
      async () => ['request_budget', { amount_usd_month: 10, reason: 'more room for tests', duration: 'permanent' }],
      /risk: budget increase/,
    ],
  ] as const)('%s → a pending proposal, a notification, no AWS write', async (_what, make, reason) => {
    const { w, h, store } = await setup();
    const [tool, args] = await make(h, w);
    h.sent.length = 0;
    const r = await call(h.client, tool as string, args as Record<string, unknown>);
    expect(r.structured?.status, r.text).toBe('pending_approval');
    expect(r.text).toMatch(reason);
    expect(h.writes()).toEqual([]);
    const [p] = store.proposals.list({ state: 'pending' });
    expect(p).toMatchObject({ tool, agent: w.agent, project: w.project, id: r.structured?.proposal_id });
    const polled = await call(h.client, 'get_proposal', { proposal_id: p.id });
    expect(polled.structured).toMatchObject({ state: 'pending', proposed_by: w.agent });
    expect(rawDb(store).prepare('SELECT kind FROM notifications').all()).toEqual([{ kind: 'proposal' }]);
  });
});

describe('every risk class', () => {
  // A tool whose plan declares one risk flag and would write if run: the guard must stop each at a proposal.
  const risky = defineTool({
    name: 'test_risky',
    title: 'risky (test fixture)',
    description: 'test only',
    input: z
      .object({
        flag: z.enum([
          'security_group',
          'nacl',
          'iam',
          'production_database',
          'critical_tag',
          'spend',
          'public_exposure',
          'budget_increase',
        ]),
      })
      .strict(),
    output: z.object({ ran: z.boolean() }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    iam: {},
    params: noParams,
    async plan(args) {
      return {
        tool: 'test_risky',
        summary: `a ${args.flag} change`,
        mutating: true,
        operations: [{ action: 'ec2:CreateTags' }],
        resources: [],
        tagsToSet: {},
        costDeltaUsdMonth: 0,
        riskFlags: [args.flag],
        rollback: [],
        params: {},
      };
    },
    async execute(_plan, _args, { aws }) {
      await aws.ec2.send(new CreateTagsCommand({ Resources: ['i-00000000'], Tags: [{ Key: 'x', Value: 'y' }] }));
      return { ran: true };
    },
    summarize: () => 'ran',
  });

  it.each(['security_group', 'nacl', 'iam', 'production_database', 'critical_tag', 'spend', 'public_exposure', 'budget_increase'])(
    '%s → proposal, no AWS write',
    async (flag) => {
      const w = world({ operatorTools: ['test_risky'] });
      const h = await connect(w.policy, w.agent, { tools: [...allTools, risky] });
      open.push(h);
      const r = await call(h.client, 'test_risky', { flag });
      expect(r.structured).toMatchObject({ status: 'pending_approval', decision: { outcome: 'escalate', classes: [flag] } });
      expect(h.sent).toEqual([]);
      expect(h.store.proposals.list({ state: 'pending' })).toHaveLength(1);
    },
  );
});

describe('propose_security_change', () => {
  it('shows the current rules, the exact diff and a loud analysis', async () => {
    const { w, h } = await setup();
    const group = await ownedGroup(w.project);
    await admin.ec2().send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: group,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
      }),
    );
    const r = await propose(h, group, [
      ssh,
      { protocol: 'tcp', from_port: 80, to_port: 80, cidr: '0.0.0.0/0' },
      { protocol: 'udp', from_port: 1000, to_port: 5000, cidr: '10.0.0.0/8' },
    ]);
    const plan = r.structured?.plan as {
      summary: string;
      operations: { params: { rules: unknown[] } }[];
      preconditions: { analysis: string[]; already_present: string[]; current_rules: unknown[] };
    };
    expect(plan.summary).toMatch(/add 2, remove 0 rule\(s\) — DANGER flagged/);
    expect(plan.operations[0].params.rules).toHaveLength(2);
    expect(plan.preconditions.already_present).toEqual(['ingress tcp 80-80 0.0.0.0/0']);
    expect(plan.preconditions.analysis).toEqual(
      expect.arrayContaining([
        'ingress tcp 22-22 0.0.0.0/0: DANGER: opens 22 (SSH) to the whole internet',
        'ingress udp 1000-5000 10.0.0.0/8: wide port range 1000-5000 (4001 ports)',
      ]),
    );
    expect(plan.preconditions.current_rules).toEqual(
      expect.arrayContaining([expect.objectContaining({ from_port: 80, cidr: '0.0.0.0/0' })]),
    );
  });

  it('refuses a group of another project', async () => {
    const { w, h } = await setup();
    const theirs = await ownedGroup(w.other);
    const r = await call(h.client, 'propose_security_change', {
      security_group: theirs,
      add: [https],
      reason: 'the shop must serve https',
    });
    expect(r.text).toMatch(/denied by the ownership rule: .*security-group\/sg-[0-9a-f]+: ProjectId is "q-/);
    expect(r.structured).toBeUndefined();
  });

  it.each([
    [{ ...https, cidr: '300.1.1.1/8' }, /add\.0\.cidr: an IPv4 CIDR/],
    [{ ...https, cidr: '10.0.0.0/33' }, /add\.0\.cidr: an IPv4 CIDR/],
    [{ ...https, cidr: 'anywhere' }, /add\.0\.cidr: an IPv4 CIDR/],
    [{ ...https, cidr: undefined, ipv6_cidr: '2001:db8::/129' }, /add\.0\.ipv6_cidr: an IPv6 CIDR/],
    [{ ...https, to_port: 70000 }, /add\.0\.to_port: Too big/],
    [{ ...https, from_port: 500, to_port: 400 }, /add\.0\.to_port: to_port 400 is below from_port 500/],
    [{ ...https, protocol: 'ssh' }, /add\.0\.protocol: Invalid option/],
    [{ ...https, protocol: 'TCP' }, /add\.0\.protocol: Invalid option/],
    [{ ...https, source_group: 'sg-0123456789abcdef0' }, /add\.0\.cidr: give exactly one source/],
    [{ ...https, description: '<script>alert(1)</script>' }, /add\.0\.description: AWS allows/],
    [{ ...https, description: "'; DROP TABLE proposals; --" }, /add\.0\.description: AWS allows/],
  ])('refuses bad rule %j naming the field', async (rule, msg) => {
    const { h, store } = await setup();
    const r = await call(h.client, 'propose_security_change', {
      security_group: 'sg-0123456789abcdef0',
      add: [rule],
      reason: 'testing bad input',
    });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(msg);
    expect(h.sent).toEqual([]);
    expect(store.proposals.list()).toEqual([]);
  });
});

describe('wardenctl approve: the approved plan is the plan that runs', () => {
  it('runs exactly the stored diff once, under the approver role, audited in the same chain', async () => {
    const { w, h, store } = await setup();
    const group = await ownedGroup(w.project);
    const r = await propose(h, group);
    const id = r.structured?.proposal_id as string;
    const sent: SentCommand[] = [];
    const done = await approveAndRun(store, w.policy, id, 'ann', 'fine', { observe: (c) => sent.push(c) });
    expect(done.proposal).toMatchObject({ state: 'executed', decided_by: 'ann' });
    expect((await ingress(group)).map((x) => `${x.from_port} ${x.cidr}`)).toEqual(['443 0.0.0.0/0']);
    expect(sent.filter((c) => c.mutating).map((c) => c.command)).toEqual(['AuthorizeSecurityGroupIngress']);
    const trail = store.audit.tail({ limit: 10 });
    expect(trail.map((e) => `${e.kind}:${e.agent}`).slice(-2)).toEqual(['approved:human:ann', 'executed:human:ann']);
    expect(trail.at(-1)?.role_arn).toMatch(new RegExp(`assumed-role/${w.project}-approver/warden-approver-ann$`));
    expect(store.audit.verify().ok).toBe(true);
    const polled = await call(h.client, 'get_proposal', { proposal_id: id });
    expect(polled.structured).toMatchObject({ state: 'executed', decided_by: 'ann', result: { added: 1 } });
    await expect(approveAndRun(store, w.policy, id, 'bob', null)).rejects.toThrow(/is executed \(by ann/);
  });

  it('revokes exactly the rules the approved plan removes', async () => {
    const { w, h, store } = await setup();
    const group = await ownedGroup(w.project);
    await admin.ec2().send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: group,
        IpPermissions: [
          { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
          { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
        ],
      }),
    );
    const r = await call(h.client, 'propose_security_change', { security_group: group, remove: [ssh], reason: 'close ssh to the world' });
    const done = await approveAndRun(store, w.policy, r.structured?.proposal_id as string, 'ann', null);
    expect(done.result).toMatchObject({ added: 0, removed: 1 });
    expect((await ingress(group)).map((x) => x.from_port)).toEqual([443]);
  });

  it('two approvers racing run it once', async () => {
    const { w, h, store } = await setup();
    const group = await ownedGroup(w.project);
    const id = (await propose(h, group)).structured?.proposal_id as string;
    const sent: SentCommand[] = [];
    const results = await Promise.allSettled([
      approveAndRun(store, w.policy, id, 'ann', null, { observe: (c) => sent.push(c) }),
      approveAndRun(store, w.policy, id, 'bob', null, { observe: (c) => sent.push(c) }),
    ]);
    expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    expect((results.find((x) => x.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(ProposalRefused);
    expect(sent.filter((c) => c.mutating)).toHaveLength(1);
    expect(await ingress(group)).toHaveLength(1);
  });

  it('refuses a stale plan: the group changed since the agent proposed', async () => {
    const { w, h, store } = await setup();
    const group = await ownedGroup(w.project);
    const id = (await propose(h, group)).structured?.proposal_id as string;
    await admin.ec2().send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: group,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, IpRanges: [{ CidrIp: '192.0.2.0/24' }] }],
      }),
    );
    const sent: SentCommand[] = [];
    await expect(approveAndRun(store, w.policy, id, 'ann', null, { observe: (c) => sent.push(c) })).rejects.toThrow(
      /is stale and was not run: preconditions\.current_rules: now also \{"cidr":"192\.0\.2\.0\/24","direction":"ingress","from_port":8080/,
    );
    expect(sent.filter((c) => c.mutating)).toEqual([]);
    expect(store.proposals.get(id)).toMatchObject({ state: 'stale', decision_note: expect.stringMatching(/8080/) });
    expect((await ingress(group)).map((x) => x.from_port)).toEqual([8080]);
  });

  it('never runs a rejected, expired or altered proposal', async () => {
    let now = new Date('2026-11-10T00:00:00Z');
    const { w, h, store } = await setup({ clock: () => now });
    const group = await ownedGroup(w.project);
    const rejected = (await propose(h, group)).structured?.proposal_id as string;
    rejectProposal(store, rejected, 'ann', 'not on a Friday');
    await expect(approveAndRun(store, w.policy, rejected, 'ann', null)).rejects.toThrow(/is rejected/);

    const altered = (await propose(h, group)).structured?.proposal_id as string;
    rawDb(store).prepare('UPDATE proposals SET plan = replace(plan, \'"from_port":443\', \'"from_port":22\') WHERE id = ?').run(altered);
    await expect(approveAndRun(store, w.policy, altered, 'ann', null)).rejects.toThrow(/no longer matches its hash/);

    rawDb(store).prepare("UPDATE proposals SET state = 'rejected' WHERE id = ?").run(altered);
    const expired = (await propose(h, group)).structured?.proposal_id as string;
    now = new Date('2026-11-13T00:00:01Z');
    await expect(approveAndRun(store, w.policy, expired, 'ann', null)).rejects.toThrow(/is expired/);
    expect(await ingress(group)).toEqual([]);
  });

  it('a proposal row rewritten consistently (plan, hash and arguments together) is refused against the chain, and reported', async () => {
    const { w, h, store } = await setup();
    const group = await ownedGroup(w.project);
    const id = (await propose(h, group)).structured?.proposal_id as string;
    // Someone with write access to the database swaps in a plan that opens SSH, with a matching hash and arguments.
    const row = store.proposals.get(id)!;
    const plan = JSON.parse(row.plan) as Plan;
    const forged = JSON.parse(
      JSON.stringify(plan).replaceAll('"from_port":443', '"from_port":22').replaceAll('"to_port":443', '"to_port":22'),
    ) as Plan;
    const text = canonicalJson(forged);
    rawDb(store)
      .prepare("UPDATE proposals SET plan = ?, plan_hash = ?, args = replace(args, '443', '22') WHERE id = ?")
      .run(text, planHash(forged), id);
    await expect(approveAndRun(store, w.policy, id, 'ann', null)).rejects.toThrow(
      /is not the one the audit chain recorded when the agent proposed it .*rewritten — refused/,
    );
    expect(await ingress(group)).toEqual([]);
    const [refusal] = h.audit.tail({ limit: 1 });
    expect(refusal).toMatchObject({ kind: 'denied', agent: 'human:ann', follows: null });
    expect(JSON.parse(refusal.decision ?? '{}')).toMatchObject({ rule: 'approval_refused', verb: 'approve', proposal: id });
  });

  it('a rejected proposal flipped back to pending in the database is refused: the chain records the rejection', async () => {
    const { w, h, store } = await setup();
    const group = await ownedGroup(w.project);
    const id = (await propose(h, group)).structured?.proposal_id as string;
    rejectProposal(store, id, 'ann', 'not today, thanks');
    rawDb(store).prepare("UPDATE proposals SET state = 'pending', decided_by = NULL, decided_at = NULL WHERE id = ?").run(id);
    await expect(approveAndRun(store, w.policy, id, 'bob', null)).rejects.toThrow(
      /the audit chain records it decided already \(human:ann at .*\); the proposal row says pending/,
    );
    expect(await ingress(group)).toEqual([]);
  });

  it('every refused approval is an audit row: a second approve, a rejected one, an expired one (its expiry recorded too)', async () => {
    let now = new Date('2026-11-10T00:00:00Z');
    const { w, h, store } = await setup({ clock: () => now });
    const group = await ownedGroup(w.project);
    const done = (await propose(h, group)).structured?.proposal_id as string;
    await approveAndRun(store, w.policy, done, 'ann', null);
    await expect(approveAndRun(store, w.policy, done, 'bob', null)).rejects.toThrow(/is executed/);
    expect(() => rejectProposal(store, done, 'bob', 'too late to say no')).toThrow(/is executed/);
    const late = (await propose(h, await ownedGroup(w.project))).structured?.proposal_id as string;
    now = new Date('2026-11-13T00:00:01Z');
    await expect(approveAndRun(store, w.policy, late, 'ann', null)).rejects.toThrow(/is expired/);
    const rows = h.audit.tail({ limit: 6 }).map((r) => ({ kind: r.kind, agent: r.agent, ...(JSON.parse(r.decision ?? '{}') as object) }));
    const refusals = rows.filter((r) => (r as { rule?: string }).rule === 'approval_refused');
    expect(refusals.map((r) => [r.agent, (r as { verb?: string }).verb])).toEqual([
      ['human:bob', 'approve'],
      ['human:bob', 'reject'],
      ['human:ann', 'approve'],
    ]);
    expect(
      rows.some((r) => (r as { rule?: string; proposal?: string }).rule === 'expired' && (r as { proposal?: string }).proposal === late),
    ).toBe(true);
    expect(store.audit.verify().ok).toBe(true);
  });

  it('a project without an approver role cannot run approved AWS plans', async () => {
    const { w, h, store } = await setup();
    delete w.policy.projects[w.project].approver_role_arn;
    const id = (await propose(h, await ownedGroup(w.project))).structured?.proposal_id as string;
    await expect(approveAndRun(store, w.policy, id, 'ann', null)).rejects.toThrow(/has no approver_role_arn/);
    expect(store.proposals.get(id)?.state).toBe('pending');
  });

  it('an approved capacity escalation launches what was proposed, and the budget counts it', async () => {
    const { w, h, store } = await setup();
    const r = await call(h.client, 'test_launch', { instance_type: 't3.medium' });
    const id = r.structured?.proposal_id as string;
    const done = await approveAndRun(store, w.policy, id, 'ann', null, { tools: [...allTools, launchTool] });
    expect(done.result).toMatchObject({ instance_type: 't3.medium' });
    expect(store.ledger.facts(w.project, 10000)).toMatchObject({ committedCents: 3037, reservedCents: 0 });
  });
});

describe('no agent path approves', () => {
  it('no tool, and no argument of any tool, approves, rejects or decides', () => {
    for (const t of allTools) {
      expect(t.name).not.toMatch(/approve|reject|decide|confirm/);
      const keys = JSON.stringify(Object.keys(t.input.shape));
      expect(keys, t.name).not.toMatch(/approv|reject|decid|confirm|state|as_human|approver/);
    }
  });
});
