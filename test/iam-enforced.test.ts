// The rendered roles against an emulator that enforces IAM (INITIAL_NO_AUTH_ACTION_COUNT): AWS itself refuses what
// an agent must never do, even when the call skips aws-warden entirely (as a bug in it would). moto evaluates
// allow/deny, actions, resources and the trust principal, not condition keys: those are checked on the documents
// (test/iam.test.ts).
import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeleteRolePolicyCommand,
  IAMClient,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { CreateBucketCommand, DeleteBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { AwsCredentialIdentity } from '@aws-sdk/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentSession } from '../src/aws/session.js';
import { applyPermissions, applyRoles } from '../src/iam/apply.js';
import { addGrants } from '../src/policy/edit.js';
import { grantStatements } from '../src/policy/grants.js';
import { renderAgentRoles, renderApproverRole } from '../src/iam/render.js';
import { startMoto, type Emulator } from '../src/emulator/moto.js';
import { parsePolicy } from '../src/policy/load.js';
import { toolNames } from '../src/tools/index.js';
import { ACCOUNT, fresh } from './helpers/harness.js';

// Three unauthenticated requests create the warden's own IAM user; every request after them must be signed by a
// known key and is judged by IAM policies.
const NO_AUTH = 3;
let emulator: Emulator;
let saved: string | undefined;
let warden: AwsCredentialIdentity;
const agent = fresh('bot');
const project = fresh('p');
const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const POLICY_TEXT = `version: 1
projects: { ${project}: { budget_usd_month: 100, approver_role_arn: "${role(`${agent}-approver`)}" } }
tiers:
  observer: { tools: [get_status, list_resources] }
  operator: { tools: [get_status, list_resources, tag_resource, scale_service, propose_security_change, deploy_static_site, verify_backups] }
agents:
  ${agent}: { project: ${project}, tier: observer, role_arn: "${role(agent)}", tier_roles: { operator: "${role(`${agent}-operator`)}" } }
`;
const policy = parsePolicy(POLICY_TEXT, 'policy.yaml', toolNames);

const cfg = (credentials: AwsCredentialIdentity) => ({ endpoint: emulator.endpoint, region: 'us-east-1', credentials });
async function assume(roleArn: string, base = warden): Promise<AwsCredentialIdentity> {
  return new AgentSession({ agentId: agent, projectId: project, roleArn, sessionSeconds: 900 }, async () => base).credentials();
}
async function refused(p: Promise<unknown>): Promise<string> {
  const e = (await p.then(
    () => null,
    (err: Error) => err,
  )) as Error | null;
  return e ? `${e.name}: ${e.message}` : 'allowed';
}

beforeAll(async () => {
  emulator = await startMoto({ env: { INITIAL_NO_AUTH_ACTION_COUNT: String(NO_AUTH) } });
  // AgentSession's STS client finds the endpoint the way a user's config gives it.
  saved = process.env.AWS_ENDPOINT_URL;
  process.env.AWS_ENDPOINT_URL = emulator.endpoint;
  const bootstrap = new IAMClient(cfg({ accessKeyId: 'bootstrap', secretAccessKey: 'bootstrap' }));
  await bootstrap.send(new CreateUserCommand({ UserName: 'aws-warden' }));
  const key = (await bootstrap.send(new CreateAccessKeyCommand({ UserName: 'aws-warden' }))).AccessKey;
  warden = { accessKeyId: key?.AccessKeyId as string, secretAccessKey: key?.SecretAccessKey as string };
  // The test also plays the account admin with this user, so it may do anything; the agent roles may not.
  await bootstrap.send(
    new PutUserPolicyCommand({
      UserName: 'aws-warden',
      PolicyName: 'admin',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }),
    }),
  );
  const principal = `arn:aws:iam::${ACCOUNT}:user/aws-warden`;
  const roles = [...renderAgentRoles(policy, agent, principal), renderApproverRole(policy, project, principal)!];
  expect((await applyRoles(new IAMClient(cfg(warden)), roles)).map((r) => r.role)).toEqual([
    agent,
    `${agent}-operator`,
    `${agent}-approver`,
  ]);
}, 60_000);

afterAll(async () => {
  if (saved === undefined) delete process.env.AWS_ENDPOINT_URL;
  else process.env.AWS_ENDPOINT_URL = saved;
  await emulator?.stop();
});

describe('rendered roles under IAM enforcement', () => {
  it('enforcement is on: an unknown key is refused outright', async () => {
    const stranger = new EC2Client(cfg({ accessKeyId: 'AKIDSTRANGER', secretAccessKey: 'x' }));
    expect(await refused(stranger.send(new DescribeInstancesCommand({})))).toMatch(/AuthFailure|InvalidClientTokenId|not valid/);
  });

  it('only the warden principal may assume an agent role', async () => {
    const iam = new IAMClient(cfg(warden));
    await iam.send(new CreateUserCommand({ UserName: 'mallory' }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'mallory' }))).AccessKey;
    await iam.send(
      new PutUserPolicyCommand({
        UserName: 'mallory',
        PolicyName: 'all',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }),
      }),
    );
    const mallory = { accessKeyId: key?.AccessKeyId as string, secretAccessKey: key?.SecretAccessKey as string };
    expect(await refused(assume(role(agent), mallory))).toMatch(/cannot assume .*AccessDenied/);
    expect(await refused(assume(role(agent)))).toBe('allowed');
  });

  it('the explicit denies hold even for a call that bypasses aws-warden: security groups, IAM, bucket deletion', async () => {
    const admin = new EC2Client(cfg(warden));
    const vpcless = await admin.send(new CreateSecurityGroupCommand({ GroupName: fresh('sg'), Description: 'web' }));
    const bucket = `${project}--site-prod-abcd1234`;
    await new S3Client({ ...cfg(warden), forcePathStyle: true }).send(new CreateBucketCommand({ Bucket: bucket }));
    const open = {
      GroupId: vpcless.GroupId,
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
    };
    for (const arn of [role(agent), role(`${agent}-operator`)]) {
      const creds = await assume(arn);
      expect(await refused(new EC2Client(cfg(creds)).send(new AuthorizeSecurityGroupIngressCommand(open)))).toMatch(
        /AccessDenied.*ec2:AuthorizeSecurityGroupIngress/,
      );
      expect(
        await refused(new IAMClient(cfg(creds)).send(new CreateRoleCommand({ RoleName: fresh('escape'), AssumeRolePolicyDocument: '{}' }))),
      ).toMatch(/AccessDenied/);
      expect(
        await refused(new S3Client({ ...cfg(creds), forcePathStyle: true }).send(new DeleteBucketCommand({ Bucket: bucket }))),
      ).toMatch(/AccessDenied/);
    }
    // An admin who widens the agent's role by hand (Allow *) does not undo the denies: an explicit Deny wins.
    const iam = new IAMClient(cfg(warden));
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: `${agent}-operator`,
        PolicyName: 'widened-by-hand',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }),
      }),
    );
    try {
      const widened = await assume(role(`${agent}-operator`));
      expect(await refused(new EC2Client(cfg(widened)).send(new DescribeInstancesCommand({})))).toBe('allowed');
      expect(await refused(new EC2Client(cfg(widened)).send(new AuthorizeSecurityGroupIngressCommand(open)))).toMatch(
        /AccessDenied.*ec2:AuthorizeSecurityGroupIngress/,
      );
      expect(
        await refused(
          new IAMClient(cfg(widened)).send(new CreateRoleCommand({ RoleName: fresh('escape'), AssumeRolePolicyDocument: '{}' })),
        ),
      ).toMatch(/AccessDenied.*iam:CreateRole/);
      expect(
        await refused(new S3Client({ ...cfg(widened), forcePathStyle: true }).send(new DeleteBucketCommand({ Bucket: bucket }))),
      ).toMatch(/AccessDenied/);
    } finally {
      await iam.send(new DeleteRolePolicyCommand({ RoleName: `${agent}-operator`, PolicyName: 'widened-by-hand' }));
    }
    // The approver role runs approved security changes: the same call passes under it.
    const approver = await assume(role(`${agent}-approver`));
    expect(await refused(new EC2Client(cfg(approver)).send(new AuthorizeSecurityGroupIngressCommand(open)))).toBe('allowed');
  });

  it('each tier maps to its own role: the operator role may do what the observer role may not', async () => {
    const observer = new EC2Client(cfg(await assume(role(agent))));
    const operator = new EC2Client(cfg(await assume(role(`${agent}-operator`))));
    expect(await refused(observer.send(new DescribeInstancesCommand({})))).toBe('allowed');
    expect(await refused(observer.send(new DescribeSecurityGroupsCommand({})))).toMatch(/AccessDenied.*ec2:DescribeSecurityGroups/);
    expect(await refused(operator.send(new DescribeSecurityGroupsCommand({})))).toBe('allowed');
  });

  it('site buckets are scoped to the project prefix: another project’s bucket name is refused', async () => {
    const s3 = new S3Client({ ...cfg(await assume(role(`${agent}-operator`))), forcePathStyle: true });
    expect(await refused(s3.send(new CreateBucketCommand({ Bucket: `${project}--docs-staging-0123abcd` })))).toBe('allowed');
    expect(await refused(s3.send(new CreateBucketCommand({ Bucket: `someone-else-docs-staging-0123abcd` })))).toMatch(/AccessDenied/);
    // Its only deletable buckets are the scratch buckets of restore checks.
    expect(await refused(s3.send(new CreateBucketCommand({ Bucket: `restore-${project}--0123abcd` })))).toBe('allowed');
    expect(await refused(s3.send(new DeleteBucketCommand({ Bucket: `restore-${project}--0123abcd` })))).toBe('allowed');
    expect(await refused(s3.send(new DeleteBucketCommand({ Bucket: `${project}--docs-staging-0123abcd` })))).toMatch(/AccessDenied/);
    const observer = new S3Client({ ...cfg(await assume(role(agent))), forcePathStyle: true });
    expect(await refused(observer.send(new CreateBucketCommand({ Bucket: `${project}--docs-prod-0123abcd` })))).toMatch(/AccessDenied/);
  });

  it('a granted request_permission lets the very next call through, and every explicit deny still holds', async () => {
    const admin = new S3Client({ ...cfg(warden), forcePathStyle: true });
    const shared = fresh('shared-assets');
    await admin.send(new CreateBucketCommand({ Bucket: shared }));
    await admin.send(new PutObjectCommand({ Bucket: shared, Key: 'logo.svg', Body: '<svg/>' }));
    const read = async () =>
      refused(
        new S3Client({ ...cfg(await assume(role(agent))), forcePathStyle: true }).send(
          new GetObjectCommand({ Bucket: shared, Key: 'logo.svg' }),
        ),
      );
    expect(await read()).toMatch(/AccessDenied/);
    // What wardenctl proposals approve does with a grant: the policy gains it, the roles are put again from it.
    const statements = grantStatements(['s3:GetObject'], [`arn:aws:s3:::${shared}/*`]);
    const granted = parsePolicy(addGrants(POLICY_TEXT, agent, statements), 'policy.yaml', toolNames);
    await applyPermissions(new IAMClient(cfg(warden)), renderAgentRoles(granted, agent, `arn:aws:iam::${ACCOUNT}:user/aws-warden`));
    expect(await read()).toBe('allowed');
    const creds = await assume(role(agent));
    expect(
      await refused(new IAMClient(cfg(creds)).send(new CreateRoleCommand({ RoleName: fresh('escape'), AssumeRolePolicyDocument: '{}' }))),
    ).toMatch(/AccessDenied/);
    // Back as it was for the tests after this one.
    await applyPermissions(new IAMClient(cfg(warden)), renderAgentRoles(policy, agent, `arn:aws:iam::${ACCOUNT}:user/aws-warden`));
    expect(await read()).toMatch(/AccessDenied/);
  });
});
