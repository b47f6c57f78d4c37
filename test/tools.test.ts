// The three tools through an in-process MCP client, against moto: reads, ownership, reserved tags, dry runs, the audit trail.
import { CreateBucketCommand, PutBucketTaggingCommand } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { DescribeTagsCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { launchTagged } from '../src/demo/seed.js';
import { admin, call, connect, fresh, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});
async function harness(...args: Parameters<typeof connect>) {
  const h = await connect(...args);
  open.push(h);
  return h;
}

async function tagsOf(instanceArn: string) {
  const id = instanceArn.split('/').pop() as string;
  const out = await admin.ec2().send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [id] }] }));
  return Object.fromEntries((out.Tags ?? []).map((t) => [t.Key, t.Value]));
}

async function bucket(tags: Record<string, string> | null): Promise<string> {
  const name = fresh('bkt');
  await admin.s3().send(new CreateBucketCommand({ Bucket: name }));
  if (tags)
    await admin
      .s3()
      .send(
        new PutBucketTaggingCommand({ Bucket: name, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } }),
      );
  return `arn:aws:s3:::${name}`;
}

describe('get_status', () => {
  it('reports the identity from the server, and the role its calls ran as is the one STS says', async () => {
    const w = world();
    const h = await harness(w.policy, w.agent);
    const r = await call(h.client, 'get_status', {});
    expect(r.isError).toBeFalsy();
    expect(r.structured).toMatchObject({ agent: w.agent, project: w.project, tier: 'operator' });
    // The same credentials, asked who they are.
    const creds = await h.aws.session.credentials();
    const me = await new STSClient({ credentials: creds }).send(new GetCallerIdentityCommand({}));
    expect(r.structured?.assumed_role_arn).toBe(me.Arn);
    expect(me.Arn).toBe(`arn:aws:sts::123456789012:assumed-role/${w.agent}/warden-${w.agent}`);
    const read = h.audit.tail({ limit: 5 }).find((e) => e.kind === 'read');
    expect(read?.role_arn).toBe(me.Arn);
  });

  it('takes no identity from arguments', async () => {
    const w = world();
    const h = await harness(w.policy, w.agent);
    const r = await call(h.client, 'get_status', { agent: `${w.other}-bot`, project: w.other });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/invalid arguments for get_status: \(arguments\): Unrecognized keys: "agent", "project"/);
  });
});

describe('list_resources', () => {
  it('lists what the project owns, with state, tags and owner — and nothing of another project', async () => {
    const w = world();
    const ec2 = admin.ec2();
    const mine = await launchTagged(ec2, { ProjectId: w.project, AgentId: w.agent, Name: 'web-1' });
    const theirs = await launchTagged(ec2, { ProjectId: w.other, Name: 'db' });
    const myBucket = await bucket({ ProjectId: w.project, AgentId: w.agent });
    const spoof = await bucket({ projectid: w.project });
    const h = await harness(w.policy, w.agent);
    const r = await call(h.client, 'list_resources', {});
    expect(r.isError).toBeFalsy();
    const arns = (r.structured?.resources as { arn: string }[]).map((x) => x.arn);
    expect(arns.sort()).toEqual([mine, myBucket].sort());
    expect(arns).not.toContain(theirs);
    expect(arns).not.toContain(spoof);
    const inst = (r.structured?.resources as Record<string, unknown>[]).find((x) => x.arn === mine);
    expect(inst).toMatchObject({ type: 'ec2:instance', name: 'web-1', state: 'running', owner_agent: w.agent });
    expect(h.writes()).toEqual([]);
  });

  it('pages with next_token and filters by type', async () => {
    const w = world();
    const ec2 = admin.ec2();
    for (let i = 0; i < 3; i++) await launchTagged(ec2, { ProjectId: w.project, Name: `n${i}` });
    await bucket({ ProjectId: w.project });
    const h = await harness(w.policy, w.agent);
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await call(h.client, 'list_resources', {
        resource_types: ['ec2:instance'],
        max_results: 2,
        ...(token ? { next_token: token } : {}),
      });
      expect(r.isError).toBeFalsy();
      seen.push(...(r.structured?.resources as { arn: string }[]).map((x) => x.arn));
      token = (r.structured?.next_token as string | null) ?? undefined;
      pages++;
    } while (token && pages < 5);
    expect(new Set(seen).size).toBe(3);
    expect(seen.every((a) => a.includes(':instance/'))).toBe(true);
    expect(pages).toBeGreaterThanOrEqual(2);
  });

  it.each([
    [{ max_results: 0 }, /max_results: Too small/],
    [{ max_results: 2.5 }, /max_results: .*expected int/],
    [{ resource_types: ['iam:role'] }, /resource_types\.0: Invalid option/],
  ])('refuses bad input %j naming the field', async (args, msg) => {
    const w = world();
    const h = await harness(w.policy, w.agent);
    const r = await call(h.client, 'list_resources', args);
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(msg);
    expect(h.sent).toEqual([]);
  });
});

describe('tag_resource', () => {
  it('tags an owned instance, audits requested → approved → executed with request ids, and writes once', async () => {
    const w = world();
    const arn = await launchTagged(admin.ec2(), { ProjectId: w.project, AgentId: w.agent });
    const h = await harness(w.policy, w.agent);
    const r = await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'web team' } });
    expect(r.isError, r.text).toBeFalsy();
    expect(r.structured).toMatchObject({ status: 'executed', result: { tags: { Owner: 'web team', ProjectId: w.project } } });
    expect(await tagsOf(arn)).toMatchObject({ Owner: 'web team', ProjectId: w.project, AgentId: w.agent });
    expect(h.writes().map((c) => c.command)).toEqual(['CreateTags']);
    const trail = h.audit.tail({ limit: 10 });
    expect(trail.map((e) => e.kind)).toEqual(['requested', 'approved', 'executed']);
    expect(trail[1].follows).toBe(trail[0].id);
    expect(trail[2].follows).toBe(trail[1].id);
    expect(JSON.parse(trail[2].request_ids ?? '[]').length).toBeGreaterThan(0);
    expect(r.structured?.event_id).toBe(trail[1].id);
  });

  it('replaces the whole tag set of an owned bucket, keeping the ownership tags, and removes keys', async () => {
    const w = world();
    const arn = await bucket({ ProjectId: w.project, AgentId: w.agent, Old: 'x' });
    const h = await harness(w.policy, w.agent);
    const r = await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'me' }, remove: ['Old'] });
    expect(r.isError, r.text).toBeFalsy();
    expect((r.structured?.result as { tags: unknown }).tags).toEqual({ ProjectId: w.project, AgentId: w.agent, Owner: 'me' });
    expect(h.writes().map((c) => c.command)).toEqual(['PutBucketTagging']);
  });

  it.each([
    [
      'another project (tagged so)',
      async (w: ReturnType<typeof world>) => launchTagged(admin.ec2(), { ProjectId: w.other }),
      /ProjectId is "q-[0-9a-f]+", not "p-/,
    ],
    ['an untagged instance', async () => launchTagged(admin.ec2(), { Name: 'stray' }), /ProjectId is missing/],
    [
      'a bucket tagged with a spoofed key case',
      async (w: ReturnType<typeof world>) => bucket({ projectid: w.project }),
      /ProjectId is missing/,
    ],
    ['a bucket with no tags at all', async () => bucket(null), /ProjectId is missing/],
    ['a bucket that does not exist', async () => `arn:aws:s3:::${fresh('ghost')}`, /tags cannot be read \(NoSuchBucket/],
    [
      'an instance in another region',
      async (w: ReturnType<typeof world>) => (await launchTagged(admin.ec2(), { ProjectId: w.project })).replace('us-east-1', 'eu-west-1'),
      /cannot be read \(in region eu-west-1/,
    ],
    [
      'an instance in another account',
      async (w: ReturnType<typeof world>) =>
        (await launchTagged(admin.ec2(), { ProjectId: w.project })).replace('123456789012', '210987654321'),
      /cannot be read \(in account 210987654321/,
    ],
  ])('refuses %s: denied, audited, and no AWS write', async (_what, make, msg) => {
    const w = world();
    const arn = await make(w);
    const h = await harness(w.policy, w.agent);
    const r = await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'me' } });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/denied by the ownership rule/);
    expect(r.text).toMatch(msg);
    expect(r.text).toMatch(/list_resources/);
    expect(h.writes()).toEqual([]);
    expect(h.audit.tail({ limit: 5 }).map((e) => e.kind)).toEqual(['requested', 'denied']);
  });

  it('treats a resource whose tags cannot be read (AccessDenied) as not owned', async () => {
    const w = world();
    const arn = await bucket({ ProjectId: w.project });
    const h = await harness(w.policy, w.agent);
    // moto cannot deny one call to one role, so this fault is injected at the SDK edge.
    h.aws.s3.middlewareStack.add(
      (next, ctx) => async (args) => {
        if (ctx.commandName === 'GetBucketTaggingCommand')
          throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
        return next(args);
      },
      { step: 'initialize', name: 'denyTagRead' },
    );
    const r = await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'me' } });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/tags cannot be read \(AccessDenied: Access Denied\), so it is not treated as owned/);
    expect(h.writes()).toEqual([]);
  });

  it.each([
    [{ set: { ProjectId: 'other' } }, /set\.ProjectId: tag key "ProjectId" is reserved/],
    [{ set: { projectID: 'other' } }, /set\.projectID: tag key "projectID" is reserved/],
    [{ set: { AgentId: 'someone' } }, /set\.AgentId: tag key "AgentId" is reserved/],
    [{ set: { ManagedBy: 'me' } }, /set\.ManagedBy: .*reserved/],
    [{ set: { 'aws:cloudformation:stack-id': 'x' } }, /set\.aws:cloudformation:stack-id: .*aws: prefix/],
    [{ remove: ['ProjectId'] }, /remove\.0: tag key "ProjectId" is reserved/],
    [{ set: { Owner: 'a;DROP TABLE audit_events;--' } }, /set\.Owner: tag values hold letters, digits, spaces/],
    [{ set: {} }, /set: nothing to do/],
    [{ set: { Owner: 'x' }, remove: ['Owner'] }, /remove\.0: "Owner" is both set and removed/],
    [{ set: { ['k'.repeat(129)]: 'x' } }, /tag keys are 1-128 characters/],
    [{ set: { Owner: 'x' }, extra: 1 }, /Unrecognized key/],
    [{ set: { Owner: 'x' }, dry_run: 'yes' }, /dry_run: .*boolean/],
  ])('rejects %j with an error naming the field, before any AWS call', async (args, msg) => {
    const w = world();
    const h = await harness(w.policy, w.agent);
    const r = await call(h.client, 'tag_resource', { resource_arn: 'arn:aws:s3:::whatever-bucket', ...args });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(msg);
    expect(h.sent).toEqual([]);
    expect(h.audit.tail({ limit: 5 }).map((e) => e.kind)).toEqual(['requested', 'denied']);
  });

  it('refuses ARNs it cannot reason about', async () => {
    const w = world();
    const h = await harness(w.policy, w.agent);
    const r = await call(h.client, 'tag_resource', { resource_arn: 'arn:aws:iam::123456789012:role/admin', set: { Owner: 'x' } });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/resource_arn "arn:aws:iam::123456789012:role\/admin": not an EC2 resource or S3 bucket ARN/);
    expect(h.sent).toEqual([]);
  });

  it('escalates a change to the critical tag, and a change on a critical resource, without writing', async () => {
    const w = world();
    const plain = await launchTagged(admin.ec2(), { ProjectId: w.project });
    const critical = await launchTagged(admin.ec2(), { ProjectId: w.project, Criticality: 'critical' });
    const h = await harness(w.policy, w.agent);
    const a = await call(h.client, 'tag_resource', { resource_arn: plain, set: { Criticality: 'low' } });
    const b = await call(h.client, 'tag_resource', { resource_arn: critical, set: { Owner: 'x' } });
    expect(a.text).toMatch(/^pending approval: proposal prop_[0-9a-f]{12} — needs a human: risk: critical tag/);
    expect(b.text).toMatch(/tagged critical/);
    expect(h.writes()).toEqual([]);
    expect(h.audit.tail({ limit: 10 }).filter((e) => e.kind === 'escalated')).toHaveLength(2);
    expect(h.store.proposals.list({ state: 'pending' }).map((p) => p.tool)).toEqual(['tag_resource', 'tag_resource']);
  });

  it('dry_run returns the plan, the decision and the rollback, and writes nothing', async () => {
    const w = world();
    const arn = await launchTagged(admin.ec2(), { ProjectId: w.project, Owner: 'old' });
    const h = await harness(w.policy, w.agent);
    const r = await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'new' }, dry_run: true });
    expect(r.isError, r.text).toBeFalsy();
    expect(r.structured).toMatchObject({
      status: 'dry_run',
      decision: { outcome: 'allow', checked: ['tier', 'limits', 'ownership', 'budget', 'escalation'] },
      plan: {
        costDeltaUsdMonth: 0,
        operations: [{ action: 'ec2:CreateTags', params: { tags: { Owner: 'new' } } }],
        rollback: [{ action: 'ec2:CreateTags', params: { tags: { Owner: 'old' } } }],
      },
    });
    expect(h.writes()).toEqual([]);
    expect((await tagsOf(arn)).Owner).toBe('old');
    expect(h.audit.tail({ limit: 5 }).map((e) => e.kind)).toEqual(['requested', 'planned']);
  });

  it('stores injection strings verbatim as data, harmlessly', async () => {
    const w = world();
    const arn = await launchTagged(admin.ec2(), { ProjectId: w.project });
    const h = await harness(w.policy, w.agent);
    const evil = "Robert'); DROP TABLE audit_events;--";
    await call(h.client, 'tag_resource', { resource_arn: arn, set: { Note: evil } });
    const req = h.audit.tail({ limit: 5 }).find((e) => e.kind === 'requested');
    expect(JSON.parse(req?.request ?? '{}').set.Note).toBe(evil);
    expect(h.audit.verify().ok).toBe(true);
  });
});
