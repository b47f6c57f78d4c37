// In-client consent: where the policy allows it for a class, the person at the MCP client may approve the exact
// plan (elicitation); a decline, a client that cannot ask, or a security-group change waits for wardenctl.
import { CreateSecurityGroupCommand, DescribeTagsCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { launchTagged } from '../src/demo/seed.js';
import { admin, call, connect, fresh, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function setup(answer?: { action: 'accept' | 'decline' | 'cancel'; content?: Record<string, unknown> }) {
  const w = world({ projectYaml: '    in_client_consent: [critical_tag, spend]' });
  w.policy.projects[w.project].approver_role_arn = `arn:aws:iam::123456789012:role/${w.project}-approver`;
  const asked: string[] = [];
  const h = await connect(w.policy, w.agent, answer ? { onElicit: (m) => (asked.push(m), answer) } : {});
  open.push(h);
  const critical = await launchTagged(admin.ec2(), { ProjectId: w.project, Criticality: 'critical' });
  return { w, h, asked, critical };
}

async function tags(arn: string) {
  const out = await admin
    .ec2()
    .send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [arn.split('/').pop() as string] }] }));
  return Object.fromEntries((out.Tags ?? []).map((t) => [t.Key, t.Value]));
}

describe('in-client consent', () => {
  it('an approval in the client runs the exact plan under the approver role, audited like wardenctl', async () => {
    const { h, asked, critical } = await setup({ action: 'accept', content: { approve: true } });
    const r = await call(h.client, 'tag_resource', { resource_arn: critical, set: { Owner: 'ops' } });
    expect(r.isError, r.text).toBeFalsy();
    expect(r.structured).toMatchObject({ status: 'executed', result: { tags: { Owner: 'ops' } } });
    expect(asked[0]).toMatch(
      /asks to run: tag .*\nA human must approve because: needs a human: .* is tagged critical\nPlan hash: [0-9a-f]{64}/,
    );
    expect((await tags(critical)).Owner).toBe('ops');
    const kinds = h.audit.tail({ limit: 10 }).map((e) => `${e.kind}:${e.agent}`);
    expect(kinds.slice(-3)).toEqual([
      'escalated:' + kinds[0].split(':')[1],
      'approved:human:in-client:test',
      'executed:human:in-client:test',
    ]);
    expect(h.store.proposals.list()[0]).toMatchObject({ state: 'executed', decided_by: 'in-client:test' });
  });

  it.each([
    ['a decline', { action: 'decline' as const }],
    ['a cancel', { action: 'cancel' as const }],
    ['an accept that does not approve', { action: 'accept' as const, content: { approve: false } }],
  ])('%s leaves the proposal pending for wardenctl and writes nothing', async (_what, answer) => {
    const { h, asked, critical } = await setup(answer);
    const r = await call(h.client, 'tag_resource', { resource_arn: critical, set: { Owner: 'ops' } });
    expect(asked).toHaveLength(1);
    expect(r.structured?.status).toBe('pending_approval');
    expect(h.writes()).toEqual([]);
    expect((await tags(critical)).Owner).toBeUndefined();
  });

  it('a client that cannot elicit: pending, nothing asked', async () => {
    const { h, critical } = await setup();
    const r = await call(h.client, 'tag_resource', { resource_arn: critical, set: { Owner: 'ops' } });
    expect(r.structured?.status).toBe('pending_approval');
    expect(h.writes()).toEqual([]);
  });

  it('never asks in the client about a security group, whatever the client would answer', async () => {
    const { w, h, asked } = await setup({ action: 'accept', content: { approve: true } });
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

  it('the policy cannot allow in-client consent for security groups, NACLs or IAM', async () => {
    const { parsePolicy } = await import('../src/policy/load.js');
    const { toolNames } = await import('../src/tools/index.js');
    expect(() =>
      parsePolicy(
        'version: 1\nprojects: { shop: { budget_usd_month: 1, in_client_consent: [security_group] } }\ntiers: {}\nagents: {}\n',
        'policy.yaml',
        toolNames,
      ),
    ).toThrow(/policy\.yaml:2:\d+ projects\.shop\.in_client_consent\.0: Invalid option/);
  });
});
