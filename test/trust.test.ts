// The trust gradient over a synthetic record: eligibility becomes a proposal (or a promotion), an incident demotes
// at once, and the very next call runs with the new tier.
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { rawDb } from '../src/store/store.js';
import { anyImageId, launchTagged } from '../src/demo/seed.js';
import { approveProposal } from '../src/proposals/approve.js';
import { currentTier, trustRecord } from '../src/trust/tiers.js';
import { admin, call, connect, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
  for (const s of servers.splice(0)) s.close();
});

/** Tiers in order: observer < operator < nothing (the harness names); the agent starts as observer here. */
async function setup(trust: string) {
  const w = world({ topYaml: `trust: ${trust}` });
  w.policy.agents[w.agent].tier = 'observer';
  w.policy.tiers.observer.tools.push('tag_resource');
  const h = await connect(w.policy, w.agent);
  open.push(h);
  return { w, h };
}

/** n successful changes in the audit: an approved mutating plan and its execution each. */
function successes(h: Harness, agent: string, project: string, n: number) {
  for (let i = 0; i < n; i++) {
    const a = h.audit.append({ kind: 'approved', agent, project, tool: 'tag_resource', request: { mutating: true, tool: 'tag_resource' } });
    h.audit.append({ kind: 'executed', agent, project, tool: 'tag_resource', follows: a.id });
  }
}

describe('trust gradient', () => {
  it('counts the record from the audit and proposes the next tier when it is earned; approval applies on the next call', async () => {
    const { w, h } = await setup('{ promote: { min_successes: 3, max_rollbacks: 0, window_days: 14 } }');
    expect(trustRecord(h.store, w.policy, w.agent)).toMatchObject({
      tier: 'observer',
      successes: 0,
      eligible: false,
      next_tier: 'operator',
      why: '0 of 3 successful changes',
    });
    successes(h, w.agent, w.project, 2);
    const arn = await launchTagged(admin.ec2(), { ProjectId: w.project });
    const r = await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'x' } });
    expect(r.isError, r.text).toBeFalsy();
    expect(trustRecord(h.store, w.policy, w.agent)).toMatchObject({ successes: 3, eligible: true });
    const [p] = h.store.proposals.list({ state: 'pending', kind: 'set_tier' });
    expect(p).toMatchObject({ agent: w.agent, reason: 'earned operator within 14 days' });
    expect((await h.client.listTools()).tools.map((t) => t.name)).not.toContain('scale_service');
    approveProposal(h.store, p.id, 'ann', null);
    expect(currentTier(h.store, w.policy, w.agent).tier).toBe('operator');
    expect((await h.client.listTools()).tools.map((t) => t.name)).toContain('scale_service');
    const status = await call(h.client, 'get_status', {});
    expect(status.structured).toMatchObject({ tier: 'operator' });
  });

  it('promotes at once where the policy says automatic, with the change in the audit chain', async () => {
    const { w, h } = await setup('{ promote: { min_successes: 1, automatic: true } }');
    const arn = await launchTagged(admin.ec2(), { ProjectId: w.project });
    await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'x' } });
    expect(currentTier(h.store, w.policy, w.agent).tier).toBe('operator');
    expect(h.audit.tail({ limit: 1 })[0]).toMatchObject({ agent: 'warden', tool: 'set_tier', kind: 'executed' });
    expect(h.audit.verify().ok).toBe(true);
  });

  it('an attempted boundary escape demotes at once and notifies; the next call has the lower tier', async () => {
    const { w, h } = await setup('{ demote_on: [boundary_escape] }');
    w.policy.agents[w.agent].tier = 'operator';
    const theirs = await launchTagged(admin.ec2(), { ProjectId: w.other });
    const r = await call(h.client, 'tag_resource', { resource_arn: theirs, set: { Owner: 'mine now' } });
    expect(r.text).toMatch(/denied by the ownership rule/);
    expect(currentTier(h.store, w.policy, w.agent).tier).toBe('observer');
    expect(rawDb(h.store).prepare('SELECT kind FROM notifications').pluck().all()).toEqual(['demoted']);
    const next = await call(h.client, 'scale_service', { service: 'web', desired_count: 1 });
    expect(next.text).toMatch(/denied by the tier rule: tool "scale_service" is not granted to tier "observer"/);
  });

  it('a reserved tag key counts as an escape too; with demote_on: [] nothing changes', async () => {
    const { w, h } = await setup('{ demote_on: [boundary_escape] }');
    w.policy.agents[w.agent].tier = 'operator';
    await call(h.client, 'tag_resource', { resource_arn: 'arn:aws:s3:::x-bucket', set: { ProjectId: 'other' } });
    expect(currentTier(h.store, w.policy, w.agent).tier).toBe('observer');
    const calm = await setup('{ demote_on: [] }');
    calm.w.policy.agents[calm.w.agent].tier = 'operator';
    await call(calm.h.client, 'tag_resource', { resource_arn: 'arn:aws:s3:::x-bucket', set: { ProjectId: 'other' } });
    expect(currentTier(calm.h.store, calm.w.policy, calm.w.agent).tier).toBe('operator');
  });

  it('a change rolled back after a failed health check demotes where demote_on names health_failure (staging too)', async () => {
    const http = createServer((_req, res) => {
      res.statusCode = 503;
      res.end('down');
    });
    servers.push(http);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const port = (http.address() as { port: number }).port;
    const w = world({
      topYaml: 'trust: { demote_on: [health_failure] }',
      projectYaml: `    services:
      web:
        image_id: ${await anyImageId(admin.ec2())}
        instance_types: [t3.micro]
        max: 2
        health: { timeout_seconds: 2, poll_seconds: 0.2, http_url: "http://127.0.0.1:${port}/health/{instance_id}" }`,
    });
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const r = await call(h.client, 'scale_service', { service: 'web', desired_count: 1 });
    expect(r.text).toMatch(/rolled back/);
    expect(currentTier(h.store, w.policy, w.agent).tier).toBe('observer');
    const [change] = rawDb(h.store).prepare('SELECT tier, by, reason FROM tier_changes WHERE agent = ?').all(w.agent);
    expect(change).toEqual({ tier: 'observer', by: 'warden', reason: 'automatic demotion after a health failure' });
    expect((await h.client.listTools()).tools.map((t) => t.name)).toEqual(['get_status', 'list_resources']);
  });

  it('a tier mapped to its own IAM role: the next call after the change runs as that role', async () => {
    const { w, h } = await setup('{ promote: { min_successes: 1, automatic: true } }');
    const wider = `arn:aws:iam::123456789012:role/${w.agent}-operator`;
    w.policy.agents[w.agent].tier_roles = { operator: wider };
    await call(h.client, 'get_status', {});
    const roleOf = () =>
      rawDb(h.store)
        .prepare('SELECT role_arn FROM audit_events WHERE agent = ? AND role_arn IS NOT NULL ORDER BY seq DESC LIMIT 1')
        .pluck()
        .get(w.agent);
    const arn = await launchTagged(admin.ec2(), { ProjectId: w.project });
    const r = await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'x' } });
    expect(r.isError, r.text).toBeFalsy();
    expect(roleOf()).toMatch(new RegExp(`:assumed-role/${w.agent}/`));
    expect(currentTier(h.store, w.policy, w.agent).tier).toBe('operator');
    const again = await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'y' } });
    expect(again.isError, again.text).toBeFalsy();
    expect(roleOf()).toMatch(new RegExp(`:assumed-role/${w.agent}-operator/`));
    expect(h.aws.session.identity.roleArn).toBe(wider);
  });

  it('demotion is on by default: a policy without trust settings demotes on all three incidents', async () => {
    const { w, h } = await setup('{ promote: { min_successes: 20 } }');
    expect(w.policy.trust.demote_on).toEqual(['prod_rollback', 'health_failure', 'boundary_escape']);
    w.policy.agents[w.agent].tier = 'operator';
    const theirs = await launchTagged(admin.ec2(), { ProjectId: w.other });
    await call(h.client, 'tag_resource', { resource_arn: theirs, set: { Owner: 'mine now' } });
    expect(currentTier(h.store, w.policy, w.agent).tier).toBe('observer');
  });
});
