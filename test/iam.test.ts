// Rendered IAM: valid grammar, the tag conditions on every write, the explicit denies, and a reviewed golden file.
import { IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { policyDocument } from '../src/iam/grammar.js';
import { renderAgentRole, renderAgentRoles, renderApproverRole } from '../src/iam/render.js';
import { loadPolicyFile, parsePolicy } from '../src/policy/load.js';
import { bucketName } from '../src/sites/bucket.js';
import { toolNames } from '../src/tools/index.js';
import { fresh } from './helpers/harness.js';

const policy = loadPolicyFile('policy.yaml', toolNames);
const BASE = 'arn:aws:iam::123456789012:role/aws-warden-server';
const CTL = join(process.cwd(), 'dist', 'tools', 'wardenctl', 'main.js');
/** Actions that only read: what an observer may have, and what needs no ownership scope. */
const READ = /^(ec2:Describe|rds:Describe|tag:Get|ssm:GetParameter|cloudwatch:Get|cloudtrail:Lookup|s3:Get|s3:List)/;
const asList = (x: string | string[] | undefined) => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

describe('wardenctl iam apply and check, against moto', () => {
  it('creates the roles, finds no drift, then reports a permission policy someone widened by hand', async () => {
    const agent = fresh('bot');
    const dir = mkdtempSync(join(tmpdir(), 'warden-iam-'));
    const file = join(dir, 'policy.yaml');
    writeFileSync(
      file,
      `version: 1
projects: { shop: { budget_usd_month: 1, approver_role_arn: "arn:aws:iam::123456789012:role/${agent}-approver" } }
tiers: { operator: { tools: [list_resources, tag_resource] } }
agents: { ${agent}: { project: shop, tier: operator, role_arn: "arn:aws:iam::123456789012:role/${agent}" } }
`,
    );
    const ctl = (...args: string[]) =>
      spawnSync(process.execPath, [CTL, 'iam', ...args, '--project', 'shop', '--policy', file], { encoding: 'utf8' });
    expect(ctl('check').status).toBe(1);
    const applied = ctl('apply');
    expect(applied.status, applied.stderr).toBe(0);
    expect(applied.stdout).toBe(`created ${agent}\ncreated ${agent}-approver\n`);
    const clean = ctl('check');
    expect(clean.status, clean.stdout).toBe(0);
    expect(clean.stdout).toMatch(/no drift/);
    await new IAMClient({}).send(
      new PutRolePolicyCommand({
        RoleName: agent,
        PolicyName: 'aws-warden',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }),
      }),
    );
    const drift = ctl('check');
    expect(drift.status).toBe(1);
    expect(drift.stdout).toMatch(new RegExp(`${agent}: permission policy aws-warden differs from the rendered one`));
    expect(ctl('apply').stdout).toMatch(new RegExp(`updated ${agent}`));
    expect(ctl('check').status).toBe(0);
  });
});

describe('IAM rendering', () => {
  it('matches the reviewed golden file for web-bot (UPDATE: npx vitest run -u, then review the diff)', async () => {
    await expect(JSON.stringify(renderAgentRole(policy, 'web-bot', BASE), null, 2)).toMatchFileSnapshot('golden/iam-web-bot.json');
  });

  it.each(Object.keys(policy.agents))("%s: every allowed write is scoped by the ProjectId tag or the project's bucket prefix", (agent) => {
    const role = renderAgentRole(policy, agent, BASE);
    expect(() => policyDocument.parse(role.permissions)).not.toThrow();
    for (const s of role.permissions.Statement.filter((x) => x.Effect === 'Allow')) {
      const writes = asList(s.Action).filter((a) => !READ.test(a));
      if (writes.length === 0 || s.Sid === 'LaunchInputs') continue; // images, subnets, groups a launch reads
      const scoped =
        JSON.stringify(s.Condition ?? {}).includes('${aws:PrincipalTag/ProjectId}') ||
        asList(s.Resource).every(
          (r) =>
            r.startsWith(`arn:aws:s3:::${policy.agents[agent].project}-`) ||
            r.startsWith(`arn:aws:s3:::restore-${policy.agents[agent].project}-`),
        );
      expect(scoped, `${agent} ${s.Sid}`).toBe(true);
    }
    expect(role.trust.Statement[0]).toMatchObject({
      Principal: { AWS: BASE },
      Action: ['sts:AssumeRole', 'sts:TagSession'],
      Condition: { StringEquals: { 'aws:RequestTag/ProjectId': policy.agents[agent].project, 'aws:RequestTag/AgentId': agent } },
    });
  });

  it('denies agents security-group, NACL and IAM writes, bucket deletion, other projects and re-tagging ownership', () => {
    const denies = renderAgentRole(policy, 'web-bot', BASE).permissions.Statement.filter((s) => s.Effect === 'Deny');
    const denied = denies.flatMap((s) => asList(s.Action));
    for (const a of [
      'ec2:AuthorizeSecurityGroupIngress',
      'ec2:RevokeSecurityGroupEgress',
      'ec2:CreateNetworkAcl*',
      'iam:*',
      's3:DeleteBucket',
      's3:PutBucketPolicy',
    ])
      expect(denied).toContain(a);
    expect(denies.find((s) => s.Sid === 'NeverRetagOwnership')?.Condition).toMatchObject({
      'ForAnyValue:StringEquals': { 'aws:TagKeys': ['ProjectId', 'AgentId', 'ManagedBy'] },
    });
    expect(denies.find((s) => s.Sid === 'NeverOtherProjects')?.Condition).toMatchObject({
      StringNotEquals: { 'aws:ResourceTag/ProjectId': '${aws:PrincipalTag/ProjectId}' },
    });
  });

  it('an agent deletes no database but its own restore scratch instances', () => {
    const deny = renderAgentRole(policy, 'web-bot', BASE).permissions.Statement.find(
      (s) => s.Sid === 'NeverDeleteDatabasesButRestoreScratch',
    );
    expect(deny).toMatchObject({ Effect: 'Deny', Action: ['rds:DeleteDBInstance'], NotResource: ['arn:aws:rds:*:*:db:restore-shop-*'] });
  });

  it('gives an observer no write at all', () => {
    const allowed = renderAgentRole(policy, 'auditor', BASE)
      .permissions.Statement.filter((s) => s.Effect === 'Allow')
      .flatMap((s) => asList(s.Action));
    expect(allowed.filter((a) => !READ.test(a))).toEqual([]);
  });

  it("lets only the approver role change security groups, still within the project's tags", () => {
    const approver = renderApproverRole(policy, 'shop', BASE);
    // What only a human's approval sends, on what the project owns: security-group rules and network ACL entries.
    for (const action of ['ec2:AuthorizeSecurityGroupIngress', 'ec2:CreateNetworkAclEntry', 'ec2:DeleteNetworkAclEntry']) {
      const st = approver?.permissions.Statement.find((s) => s.Effect === 'Allow' && asList(s.Action).includes(action));
      expect(st?.Condition, action).toMatchObject({ StringEquals: { 'aws:ResourceTag/ProjectId': '${aws:PrincipalTag/ProjectId}' } });
    }
    expect(renderApproverRole(policy, 'billing', BASE)).toBeNull();
  });

  it.each([
    [{ Version: '2012-10-17', Statement: [{ Effect: 'Maybe', Action: 's3:GetObject', Resource: '*' }] }],
    [{ Version: '2008-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] }],
    [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'not an action', Resource: '*' }] }],
    [
      {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*', Condition: { StringEqualz: { a: 'b' } } }],
      },
    ],
    [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Resource: '*' }] }],
    [{ Version: '2012-10-17', Statement: [] }],
  ])('the grammar check refuses %j', (doc) => {
    expect(policyDocument.safeParse(doc).success).toBe(false);
  });

  it('wardenctl iam render prints JSON or one CloudFormation stack, and refuses bad usage', () => {
    const one = spawnSync(process.execPath, [CTL, 'iam', 'render', '--agent', 'web-bot', '--policy', 'policy.yaml'], { encoding: 'utf8' });
    expect(one.status, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ roleName: 'warden-shop-web-bot' });
    const stack = spawnSync(
      process.execPath,
      [CTL, 'iam', 'render', '--project', 'shop', '--format', 'cloudformation', '--policy', 'policy.yaml'],
      { encoding: 'utf8' },
    );
    expect(Object.keys(JSON.parse(stack.stdout).Resources)).toEqual(['WardenShopWebBot', 'WardenShopAuditor', 'WardenShopApprover']);
    for (const [args, msg] of [
      [['--agent', 'nobody'], /unknown agent "nobody"/],
      [['--agent', 'web-bot', '--format', 'terraform'], /--format: expected json or cloudformation/],
      [['--agent', 'web-bot', '--project', 'shop'], /exactly one of --agent A, --project P and --anchors/],
      [['--anchors', '--project', 'shop'], /exactly one of --agent A, --project P and --anchors/],
      [['--agent', 'web-bot', '--principal', 'root'], /--principal: expected the IAM ARN/],
    ] as const) {
      const r = spawnSync(process.execPath, [CTL, 'iam', 'render', ...args, '--policy', 'policy.yaml'], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });
});

describe('bucket scoping without prefix overlap', () => {
  const pair = parsePolicy(
    `version: 1
projects:
  shop: { budget_usd_month: 10, approver_role_arn: "arn:aws:iam::123456789012:role/shop-approver" }
  shop-eu: { budget_usd_month: 10, approver_role_arn: "arn:aws:iam::123456789012:role/shop-eu-approver" }
tiers: { operator: { tools: [${toolNames.join(', ')}] } }
agents:
  shop-bot: { project: shop, tier: operator, role_arn: "arn:aws:iam::123456789012:role/shop-bot" }
  eu-bot: { project: shop-eu, tier: operator, role_arn: "arn:aws:iam::123456789012:role/eu-bot" }
`,
    'policy.yaml',
    toolNames,
  );
  /** IAM's wildcard match: * any run of characters, ? one. */
  const matches = (pattern: string, arn: string) =>
    new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    ).test(arn);
  const bucketsOf = (project: string) => [
    `arn:aws:s3:::${bucketName('123456789012', project, 'web', 'prod')}`,
    `arn:aws:s3:::${bucketName('123456789012', project, 'web', 'prod')}/index.html`,
    `arn:aws:s3:::restore-${project}--0a1b2c3d`,
    `arn:aws:s3:::restore-${project}--0a1b2c3d/index.html`,
  ];
  const s3Resources = (roles: { permissions: { Statement: { Resource?: string | string[]; NotResource?: string | string[] }[] } }[]) =>
    roles.flatMap((r) => r.permissions.Statement.flatMap((s) => asList(s.Resource))).filter((x) => x.startsWith('arn:aws:s3:::'));

  it.each([
    ['shop', 'shop-bot', 'shop-eu'],
    ['shop-eu', 'eu-bot', 'shop'],
  ])("%s's roles reach its own buckets and none of %s's neighbour %s", (project, agent, other) => {
    const roles = [...renderAgentRoles(pair, agent, BASE), renderApproverRole(pair, project, BASE)].filter((r) => r !== null);
    const patterns = s3Resources(roles);
    expect(patterns.length).toBeGreaterThan(0);
    for (const arn of bucketsOf(other))
      expect(
        patterns.filter((p) => matches(p, arn)),
        arn,
      ).toEqual([]);
    for (const arn of bucketsOf(project))
      expect(
        patterns.some((p) => matches(p, arn)),
        arn,
      ).toBe(true);
  });

  it('a project name cannot hold the delimiter', () => {
    expect(() =>
      parsePolicy('version: 1\nprojects: { shop--eu: { budget_usd_month: 1 } }\ntiers: {}\nagents: {}\n', 'policy.yaml', toolNames),
    ).toThrow(/projects\.shop--eu: invalid name "shop--eu": a project name has no "--"/);
  });
});
