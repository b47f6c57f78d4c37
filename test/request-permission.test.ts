// request_permission: an agent asks for exact IAM on named resources of its own account; always a proposal, and
// what may never be an agent's (IAM, STS, Organizations, wildcards, "*", other accounts, what only a human's
// approval sends) is refused outright. The approval writes the grant into policy.yaml (comments kept) and onto the
// agent's role with the operator's credentials, and records it; `iam check` then sees no drift.
import { GetRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyRoles, checkRole, INLINE_POLICY } from '../src/iam/apply.js';
import { renderAgentRoles } from '../src/iam/render.js';
import { loadPolicyFile, parsePolicy } from '../src/policy/load.js';
import { ProposalRefused } from '../src/proposals/approve.js';
import { approveGrant } from '../src/proposals/grant.js';
import { Store } from '../src/store/store.js';
import { toolNames } from '../src/tools/index.js';
import { ACCOUNT, call, connect, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
  stores.splice(0).forEach((s) => s.close());
});

const iam = () => new IAMClient({});
const PRINCIPAL = `arn:aws:iam::${ACCOUNT}:root`;

/** A policy file (with a comment a human wrote), its store, the agent's roles created, and the agent connected. */
async function setup() {
  const w = world();
  const dir = mkdtempSync(join(tmpdir(), 'warden-grant-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, `# reviewed by ops on Monday\n${w.yaml}`);
  const db = join(dir, 'w.db');
  const store = Store.open(db);
  stores.push(store);
  const policy = loadPolicyFile(file, toolNames);
  await applyRoles(iam(), renderAgentRoles(policy, w.agent, PRINCIPAL));
  const h = await connect(policy, w.agent, { store });
  open.push(h);
  return { w, file, db, store, h };
}

const ASSETS = { actions: ['s3:GetObject'], resources: ['arn:aws:s3:::shared-assets/*'], reason: 'to read the shared brand assets' };

describe('request_permission', () => {
  it.each([
    [{ actions: ['iam:PassRole'] }, /actions\.0: "iam:PassRole" is refused: IAM changes are a human’s to make/],
    [{ actions: ['iam:*'] }, /actions\.0: "iam:\*": name each action exactly; wildcards are never granted/],
    [{ actions: ['*'] }, /actions\.0: "\*": name each action exactly/],
    [{ actions: ['s3:Get*'] }, /actions\.0: "s3:Get\*": name each action exactly/],
    [{ actions: ['sts:AssumeRole'] }, /actions\.0: "sts:AssumeRole" is refused: an agent’s identity is the warden’s to assume/],
    [{ actions: ['organizations:ListAccounts'] }, /actions\.0: "organizations:ListAccounts" is refused/],
    [
      { actions: ['s3:GetObject', 'ec2:AuthorizeSecurityGroupIngress'] },
      /actions\.1: "ec2:AuthorizeSecurityGroupIngress" is refused: agents are denied ec2:AuthorizeSecurityGroup\* outright/,
    ],
    [{ actions: ['DescribeVolumes'] }, /actions\.0: "DescribeVolumes" is not an action/],
    [{ actions: ['s3:GetObject', 'ec2:StopInstances'] }, /actions\.1: "ec2:StopInstances" has no ec2 resource to apply to/],
    [{ resources: ['*'] }, /resources\.0: "\*": name the resources; "\*" is never granted/],
    [{ resources: ['arn:aws:ec2:us-east-1:123456789012:*'] }, /resources\.0: .*"\*" is never granted/],
    [
      { resources: ['arn:aws:ec2:us-east-1:999999999999:volume/*'] },
      /resources\.0: .* is in account 999999999999; .* own account 123456789012/,
    ],
    [{ resources: ['arn:aws:iam::123456789012:role/admin'] }, /resources\.0: .* is refused: IAM changes/],
    [{ resources: ['not-an-arn'] }, /resources\.0: "not-an-arn" is not an ARN/],
  ])('refuses %j outright, naming the field, proposing nothing', async (change, msg) => {
    const { h, store } = await setup();
    const r = await call(h.client, 'request_permission', { ...ASSETS, ...change });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(msg);
    expect(store.proposals.list({})).toEqual([]);
    expect(h.writes()).toEqual([]);
  });

  it('is a proposal; the approval writes the grant into the policy and the role, and iam check sees no drift', async () => {
    const { w, file, store, h } = await setup();
    const r = await call(h.client, 'request_permission', {
      actions: ['s3:GetObject', 'ec2:StopInstances'],
      resources: ['arn:aws:s3:::shared-assets/*', `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/*`],
      reason: 'to read shared assets and stop my own instances at night',
    });
    expect(r.structured).toMatchObject({ status: 'pending_approval', decision: { outcome: 'escalate', classes: ['iam'] } });
    const id = r.structured?.proposal_id as string;
    const plan = JSON.parse(store.proposals.get(id)?.plan ?? '{}') as { operations: { params: { statements: unknown[] } }[] };
    // One statement per service; EC2's only on what the project's tag owns.
    expect(plan.operations[0].params.statements).toEqual([
      {
        Sid: expect.stringMatching(/^Grantedec2[0-9a-f]{10}$/),
        Effect: 'Allow',
        Action: ['ec2:StopInstances'],
        Resource: [`arn:aws:ec2:us-east-1:${ACCOUNT}:instance/*`],
        Condition: { StringEquals: { 'aws:ResourceTag/ProjectId': '${aws:PrincipalTag/ProjectId}' } },
      },
      expect.objectContaining({
        Sid: expect.stringMatching(/^Granteds3/),
        Action: ['s3:GetObject'],
        Resource: ['arn:aws:s3:::shared-assets/*'],
      }),
    ]);
    const before = readFileSync(file, 'utf8');

    const done = await approveGrant(store, file, toolNames, id, 'ann', 'fine for now', iam());
    expect(done.proposal.state).toBe('executed');
    const after = readFileSync(file, 'utf8');
    expect(after).toMatch(/^# reviewed by ops on Monday\n/);
    expect(after.length).toBeGreaterThan(before.length);
    const policy = parsePolicy(after, file, toolNames);
    expect(policy.agents[w.agent].extra_statements.map((s) => s.Action)).toEqual([['ec2:StopInstances'], ['s3:GetObject']]);
    const [role] = renderAgentRoles(policy, w.agent, PRINCIPAL);
    const live = JSON.parse(
      decodeURIComponent(
        (await iam().send(new GetRolePolicyCommand({ RoleName: role.roleName, PolicyName: INLINE_POLICY }))).PolicyDocument ?? '',
      ),
    ) as { Statement: { Sid?: string; Action: string[] }[] };
    expect(live.Statement.filter((s) => s.Sid?.startsWith('Granted')).map((s) => s.Action)).toEqual([
      ['ec2:StopInstances'],
      ['s3:GetObject'],
    ]);
    // The explicit denies are still there, and the live role is exactly the rendering.
    expect(live.Statement.some((s) => s.Sid === 'NeverWithoutAHuman')).toBe(true);
    expect(await checkRole(iam(), role)).toEqual([]);
    expect(
      h.audit
        .tail({ limit: 10 })
        .filter((e) => e.agent === 'human:ann')
        .map((e) => e.kind),
    ).toEqual(['approved', 'executed']);

    // Once more: refused, and the file is not touched again.
    await expect(approveGrant(store, file, toolNames, id, 'bob', null, iam())).rejects.toThrow(/is executed \(by ann/);
    expect(readFileSync(file, 'utf8')).toBe(after);
    // The agent, on the new policy, already has it.
    const again = await connect(policy, w.agent, { store });
    open.push(again);
    const twice = await call(again.client, 'request_permission', {
      actions: ['s3:GetObject', 'ec2:StopInstances'],
      resources: ['arn:aws:s3:::shared-assets/*', `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/*`],
      reason: 'to read shared assets and stop my own instances at night',
    });
    expect(twice.text).toMatch(/already has this grant/);
  });

  it('a role that does not exist: refused before the policy is touched, the proposal stays pending', async () => {
    const w = world();
    const dir = mkdtempSync(join(tmpdir(), 'warden-grant-norole-'));
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, w.yaml);
    const store = Store.open(':memory:');
    stores.push(store);
    const h = await connect(w.policy, w.agent, { store });
    open.push(h);
    const id = (await call(h.client, 'request_permission', ASSETS)).structured?.proposal_id as string;
    const err = await approveGrant(store, file, toolNames, id, 'ann', null, iam()).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ProposalRefused);
    expect((err as Error).message).toMatch(/role bot-\w+ does not exist; create it first with wardenctl iam apply; nothing was changed/);
    expect(readFileSync(file, 'utf8')).toBe(w.yaml);
    expect(store.proposals.get(id)?.state).toBe('pending');
  });

  it('a policy whose extra_statements grant what an agent may never have is refused, naming the line', () => {
    const w = world();
    const yaml = w.yaml.replace(
      new RegExp(`(  ${w.agent}: \\{ project: ${w.project}, tier: operator, )`),
      `$1extra_statements: [{ Sid: GrantedX, Effect: Allow, Action: ["iam:PassRole"], Resource: ["*"] }], `,
    );
    expect(yaml).not.toBe(w.yaml);
    expect(() => parsePolicy(yaml, 'policy.yaml', toolNames)).toThrow(
      /policy\.yaml:\d+:\d+ agents\.bot-\w+\.extra_statements\.0\.Action\.0: "iam:PassRole" is refused[\s\S]*extra_statements\.0\.Resource\.0: "\*": name the resources/,
    );
  });

  it('wardenctl proposals approve grants it, with the operator credentials it runs with', { timeout: 60_000 }, async () => {
    const { w, file, db, store, h } = await setup();
    const id = (await call(h.client, 'request_permission', ASSETS)).structured?.proposal_id as string;
    const ctl = spawnSync(
      process.execPath,
      [join(process.cwd(), 'dist', 'tools', 'wardenctl', 'main.js'), 'proposals', 'approve', id, '--yes', '--db', db, '--policy', file],
      { encoding: 'utf8' },
    );
    expect(ctl.stderr).toBe('');
    expect(ctl.stdout).toMatch(new RegExp(`${id}: executed by `));
    expect(store.proposals.get(id)?.state).toBe('executed');
    expect(loadPolicyFile(file, toolNames).agents[w.agent].extra_statements).toHaveLength(1);
  });
});
