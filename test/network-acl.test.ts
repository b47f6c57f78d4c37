// propose_network_acl_change: always a proposal, showing the current entries, the exact diff and an analysis; a
// human's approval re-reads the ACL (a stale plan is refused) and sends exactly the diff under the approver role;
// an approval killed half-way is finished by recovery without a duplicate entry.
import { CreateNetworkAclEntryCommand, DescribeNetworkAclsCommand } from '@aws-sdk/client-ec2';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SentCommand } from '../src/aws/clients.js';
import { loadPolicyFile } from '../src/policy/load.js';
import { approveAndRun } from '../src/registry/approve.js';
import { recoverApprovedProposals } from '../src/registry/recover.js';
import { describeEntry, entriesOf } from '../src/security/acl.js';
import { Store } from '../src/store/store.js';
import { toolNames } from '../src/tools/index.js';
import { useFaultProxy } from './helpers/fault-proxy.js';
import { ACCOUNT, admin, call, connect, world, type Harness } from './helpers/harness.js';
import { ownedAcl } from './helpers/samples.js';
import { approveKilledWhen } from './helpers/served.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function setup() {
  const w = world();
  w.policy.projects[w.project].approver_role_arn = `arn:aws:iam::${ACCOUNT}:role/${w.project}-approver`;
  const store = Store.open(':memory:');
  const h = await connect(w.policy, w.agent, { store });
  open.push(h);
  return { w, h, store };
}

const entries = async (acl: string) =>
  entriesOf((await admin.ec2().send(new DescribeNetworkAclsCommand({ NetworkAclIds: [acl] }))).NetworkAcls?.[0] ?? {})
    .filter((e) => e.rule_number !== 32767)
    .map(describeEntry);

const allow = (rule_number: number, port: number, cidr = '10.0.0.0/8', egress = false) => ({
  rule_number,
  egress,
  protocol: 'tcp',
  from_port: port,
  to_port: port,
  cidr,
  action: 'allow',
});
const deny = (rule_number: number, port: number, cidr: string) => ({ ...allow(rule_number, port, cidr), action: 'deny' });

async function seed(acl: string, entry: ReturnType<typeof allow>) {
  await admin.ec2().send(
    new CreateNetworkAclEntryCommand({
      NetworkAclId: acl,
      RuleNumber: entry.rule_number,
      Egress: entry.egress,
      Protocol: '6',
      RuleAction: entry.action as 'allow' | 'deny',
      CidrBlock: entry.cidr,
      PortRange: { From: entry.from_port, To: entry.to_port },
    }),
  );
}

const ask = (h: Harness, acl: string, change: { add?: object[]; remove?: object[] }) =>
  call(h.client, 'propose_network_acl_change', { network_acl: acl, ...change, reason: 'the shop must serve https' });

describe('propose_network_acl_change', () => {
  it('is always a proposal that writes nothing; the approval sends exactly the diff under the approver role', async () => {
    const { w, h, store } = await setup();
    const acl = await ownedAcl(w.project);
    await seed(acl, allow(90, 22));
    const r = await ask(h, acl, { add: [allow(100, 443, '0.0.0.0/0'), allow(110, 22, '0.0.0.0/0')], remove: [{ rule_number: 90 }] });
    expect(r.isError, r.text).toBeFalsy();
    expect(r.structured).toMatchObject({ status: 'pending_approval', decision: { outcome: 'escalate', classes: ['nacl'] } });
    expect(h.writes()).toEqual([]);
    const id = r.structured?.proposal_id as string;
    const plan = JSON.parse(store.proposals.get(id)?.plan ?? '{}') as {
      summary: string;
      operations: { action: string; params: { entry: string } }[];
      preconditions: { current_entries: string[]; analysis: string[] };
    };
    expect(plan.summary).toMatch(/add 2, remove 1 entries — DANGER flagged/);
    expect(plan.preconditions.current_entries).toContain('ingress #90 allow tcp 22-22 from 10.0.0.0/8');
    expect(plan.operations.map((o) => `${o.action} ${o.params.entry}`)).toEqual([
      'ec2:DeleteNetworkAclEntry ingress #90 allow tcp 22-22 from 10.0.0.0/8',
      'ec2:CreateNetworkAclEntry ingress #100 allow tcp 443-443 from 0.0.0.0/0',
      'ec2:CreateNetworkAclEntry ingress #110 allow tcp 22-22 from 0.0.0.0/0',
    ]);
    expect(plan.preconditions.analysis).toEqual([
      'ingress #100 allow tcp 443-443 from 0.0.0.0/0: open to the whole internet (0.0.0.0/0)',
      'ingress #110 allow tcp 22-22 from 0.0.0.0/0: DANGER: opens 22 (SSH) to the whole internet',
    ]);

    const sent: SentCommand[] = [];
    const done = await approveAndRun(store, w.policy, id, 'ann', null, { observe: (c) => sent.push(c) });
    expect(done.proposal.state).toBe('executed');
    expect(sent.filter((c) => c.mutating).map((c) => c.command)).toEqual([
      'DeleteNetworkAclEntry',
      'CreateNetworkAclEntry',
      'CreateNetworkAclEntry',
    ]);
    expect(await entries(acl)).toContain('ingress #100 allow tcp 443-443 from 0.0.0.0/0');
    expect(await entries(acl)).not.toContain('ingress #90 allow tcp 22-22 from 10.0.0.0/8');
  });

  it.each([
    ['another project', (w: ReturnType<typeof world>) => ({ ProjectId: w.other })],
    ['nobody (untagged)', () => ({ Name: 'shared' })],
    ['a look-alike tag', (w: ReturnType<typeof world>) => ({ ProjectId: `${w.project} ` })],
  ])('an ACL owned by %s is denied by the ownership rule, with no proposal', async (_what, tags) => {
    const { w, h, store } = await setup();
    const acl = await ownedAcl(w.project, tags(w));
    const r = await ask(h, acl, { add: [allow(100, 443)] });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/denied by the ownership rule/);
    expect(store.proposals.list({})).toEqual([]);
    expect(h.writes()).toEqual([]);
  });

  it('flags a deny that a lower allow shadows, and an allow that a lower deny shadows', async () => {
    const { w, h, store } = await setup();
    const acl = await ownedAcl(w.project);
    await seed(acl, allow(100, 5432, '10.0.0.0/8'));
    const r = await ask(h, acl, { add: [deny(200, 5432, '10.1.0.0/16'), allow(300, 22, '192.0.2.0/24'), deny(250, 22, '192.0.0.0/16')] });
    expect(r.isError, r.text).toBeFalsy();
    const analysis = (
      JSON.parse(store.proposals.get(r.structured?.proposal_id as string)?.plan ?? '{}') as { preconditions: { analysis: string[] } }
    ).preconditions.analysis;
    expect(analysis).toEqual([
      'DANGER: ingress #200 deny tcp 5432-5432 from 10.1.0.0/16 never applies: the lower ingress #100 allow tcp 5432-5432 from 10.0.0.0/8 matches all of its traffic first',
      'ingress #300 allow tcp 22-22 from 192.0.2.0/24 never applies: the lower ingress #250 deny tcp 22-22 from 192.0.0.0/16 matches all of its traffic first',
    ]);
  });

  it.each([
    [
      { add: [allow(100, 443)] },
      /add\.0\.rule_number: ingress #100 of acl-\w+ is taken \(ingress #100 allow tcp 80-80 .*\); remove it in the same change or pick a free number/,
    ],
    [{ remove: [{ rule_number: 120 }] }, /remove\.0: acl-\w+ has no ingress #120/],
    [{ remove: [{ rule_number: 32767 }] }, /remove\.0\.rule_number: 1-32766: #32767 is AWS's default deny and cannot be changed/],
    [{ add: [allow(100, 80)] }, /nothing to change on acl-\w+: already present: ingress #100 allow tcp 80-80/],
    [{ add: [allow(130, 443), allow(130, 80)] }, /add\.1\.rule_number: ingress #130 is given twice/],
    [{ add: [{ ...allow(130, 443), cidr: '10.0.0.0/33' }] }, /add\.0\.cidr: an IPv4 CIDR/],
    [{ add: [{ ...allow(130, 443), to_port: 80 }] }, /add\.0\.to_port: to_port 80 is below from_port 443/],
  ])('refuses %j naming the field, proposing nothing', async (change, msg) => {
    const { w, h, store } = await setup();
    const acl = await ownedAcl(w.project);
    await seed(acl, allow(100, 80));
    const r = await ask(h, acl, change);
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(msg);
    expect(store.proposals.list({})).toEqual([]);
  });

  it('a replace is a remove and an add of one rule number', async () => {
    const { w, h, store } = await setup();
    const acl = await ownedAcl(w.project);
    await seed(acl, allow(100, 80));
    const r = await ask(h, acl, { add: [allow(100, 443)], remove: [{ rule_number: 100 }] });
    expect(r.isError, r.text).toBeFalsy();
    await approveAndRun(store, w.policy, r.structured?.proposal_id as string, 'ann', null);
    expect(await entries(acl)).toContain('ingress #100 allow tcp 443-443 from 10.0.0.0/8');
  });

  it('an approval of a stale plan is refused and sends nothing: the ACL changed since the agent proposed', async () => {
    const { w, h, store } = await setup();
    const acl = await ownedAcl(w.project);
    const r = await ask(h, acl, { add: [allow(100, 443)] });
    const id = r.structured?.proposal_id as string;
    await seed(acl, deny(50, 443, '0.0.0.0/0'));
    const sent: SentCommand[] = [];
    await expect(approveAndRun(store, w.policy, id, 'ann', null, { observe: (c) => sent.push(c) })).rejects.toThrow(
      /is stale and was not run: .*preconditions\.current_entries: now also "ingress #50 deny tcp 443-443 from 0\.0\.0\.0\/0"/,
    );
    expect(sent.filter((c) => c.mutating)).toEqual([]);
    expect(store.proposals.get(id)?.state).toBe('stale');
    expect(await entries(acl)).toEqual(['ingress #50 deny tcp 443-443 from 0.0.0.0/0']);
  });
});

describe('wardenctl killed -9 in the middle of an approved ACL change', () => {
  const proxyOf = useFaultProxy('EC2');
  it('recovery finishes it: the entry AWS already created is not created twice', { timeout: 120_000 }, async () => {
    const proxy = proxyOf();
    const w = world({
      projectYaml: `    approver_role_arn: "arn:aws:iam::${ACCOUNT}:role/approver"`,
      topYaml: 'approval: { allow_as: [ops-team] }',
    });
    const dir = mkdtempSync(join(tmpdir(), 'warden-acl-crash-'));
    const policy = join(dir, 'policy.yaml');
    const db = join(dir, 'w.db');
    writeFileSync(policy, w.yaml);
    const store = Store.open(db);
    const resolved = loadPolicyFile(policy, toolNames);
    const h = await connect(resolved, w.agent, { store });
    open.push(h);
    const acl = await ownedAcl(w.project);
    const r = await ask(h, acl, { add: [allow(100, 443), allow(110, 80)] });
    const id = r.structured?.proposal_id as string;
    let created = 0;
    proxy.rule = (req) => (/(^|&)Action=CreateNetworkAclEntry(&|$)/.test(req.body.toString()) && ++created === 1 ? 'hang_after' : 'pass');
    await approveKilledWhen(id, db, policy, 'AWS to create the first entry', async () => (await entries(acl)).length === 1);
    proxy.rule = () => 'pass';

    const reports = await recoverApprovedProposals(store, resolved);
    expect(reports).toEqual([expect.objectContaining({ tool: 'propose_network_acl_change', outcome: 'completed' })]);
    expect(reports[0].why).toMatch(/1 of 2 step\(s\) were still to send/);
    expect(await entries(acl)).toEqual(['ingress #100 allow tcp 443-443 from 10.0.0.0/8', 'ingress #110 allow tcp 80-80 from 10.0.0.0/8']);
    expect(store.proposals.get(id)?.state).toBe('executed');
    store.close();
  });
});
