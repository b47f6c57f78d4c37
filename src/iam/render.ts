// Renders each agent's IAM role from the policy: a trust policy only the warden may use, exactly the actions its
// tier's tools need, scoped by the ProjectId tag, and explicit denies for what an agent must never do itself.
import { scratchDatabasePrefix } from '../databases/rds.js';
import { NEVER_FOR_AGENTS as NEVER_FOR_ANY_AGENT } from '../policy/grants.js';
import type { Policy } from '../policy/schema.js';
import { projectBucketPrefix, scratchBucketPrefix } from '../sites/bucket.js';
import { allTools } from '../tools/index.js';
import type { IamNeeds } from '../tools/tool.js';
import { policyDocument, type PolicyDocument, type Statement } from './grammar.js';

/** What each tool needs, as the tool itself declares it (src/tools/<tool>.ts `iam`). */
const NEEDS: Record<string, IamNeeds> = Object.fromEntries(allTools.map((t) => [t.name, t.iam]));

/** What only a human-approved plan may do (the approver role); agents are denied them outright. */
const HUMAN_ONLY = [...new Set(allTools.flatMap((t) => t.iam.approver ?? []))].sort();
/** Every agent role denies these: the policy's list, and each tool's approver-only actions named exactly. */
const NEVER_FOR_AGENTS = [...HUMAN_ONLY, ...NEVER_FOR_ANY_AGENT];

/**
 * An agent deletes no bucket but the scratch buckets of its own restore checks (verify_backups, named
 * restore-<project>--…). The second statement repeats the first for the project's own buckets in a form emulators
 * without NotResource (moto) evaluate too.
 */
const scratchOnly = (project: string): Statement[] => [
  {
    Sid: 'NeverDeleteDatabasesButRestoreScratch',
    Effect: 'Deny',
    Action: ['rds:DeleteDBInstance'],
    NotResource: [`arn:aws:rds:*:*:db:${scratchDatabasePrefix(project)}*`],
  },
  {
    Sid: 'NeverDeleteBucketsButRestoreScratch',
    Effect: 'Deny',
    Action: ['s3:DeleteBucket'],
    NotResource: [`arn:aws:s3:::${scratchBucketPrefix(project)}*`],
  },
  {
    Sid: 'NeverDeleteProjectBuckets',
    Effect: 'Deny',
    Action: ['s3:DeleteBucket'],
    Resource: [`arn:aws:s3:::${projectBucketPrefix(project)}*`],
  },
];
const OWNERSHIP_KEYS = ['ProjectId', 'AgentId', 'ManagedBy'];

const tagOwned = { StringEquals: { 'aws:ResourceTag/ProjectId': '${aws:PrincipalTag/ProjectId}' } };

export interface RenderedRole {
  roleName: string;
  roleArn: string;
  trust: PolicyDocument;
  permissions: PolicyDocument;
}

function uniq(xs: string[]): string[] {
  return [...new Set(xs)].sort();
}

function permissionStatements(tools: string[], project: string, extra: string[] = []): Statement[] {
  const need = (k: 'read' | 'owned' | 'create' | 's3' | 'ssm' | 'scratch' | 'scratch_db' | 'rds_create') =>
    uniq(tools.flatMap((t) => NEEDS[t]?.[k] ?? []));
  const out: Statement[] = [];
  if (need('read').length) out.push({ Sid: 'Reads', Effect: 'Allow', Action: need('read'), Resource: '*' });
  const owned = uniq([...need('owned'), ...extra]);
  if (owned.length) out.push({ Sid: 'ActOnOwnedResources', Effect: 'Allow', Action: owned, Resource: '*', Condition: tagOwned });
  if (need('create').length) {
    // RunInstances also touches the image, subnet, groups and key it launches with; those carry no request tags.
    out.push({
      Sid: 'LaunchInputs',
      Effect: 'Allow',
      Action: ['ec2:RunInstances'],
      Resource: [
        'arn:aws:ec2:*::image/*',
        'arn:aws:ec2:*:*:subnet/*',
        'arn:aws:ec2:*:*:security-group/*',
        'arn:aws:ec2:*:*:network-interface/*',
        'arn:aws:ec2:*:*:key-pair/*',
      ],
    });
    out.push({
      Sid: 'CreateOnlyTaggedForThisProject',
      Effect: 'Allow',
      Action: need('create'),
      Resource: ['arn:aws:ec2:*:*:instance/*', 'arn:aws:ec2:*:*:volume/*', 'arn:aws:ec2:*::snapshot/*'],
      Condition: {
        StringEquals: {
          'aws:RequestTag/ProjectId': '${aws:PrincipalTag/ProjectId}',
          'aws:RequestTag/AgentId': '${aws:PrincipalTag/AgentId}',
        },
        'ForAllValues:StringLike': { 'aws:TagKeys': ['ProjectId', 'AgentId', 'ManagedBy', 'Service', 'WardenEvent', 'Name'] },
      },
    });
  }
  if (need('s3').length)
    out.push({
      Sid: 'SiteBucketsOfThisProject',
      Effect: 'Allow',
      Action: need('s3'),
      Resource: [`arn:aws:s3:::${projectBucketPrefix(project)}*`, `arn:aws:s3:::${projectBucketPrefix(project)}*/*`],
    });
  if (need('scratch').length)
    out.push({
      Sid: 'RestoreScratchBuckets',
      Effect: 'Allow',
      Action: need('scratch'),
      Resource: [`arn:aws:s3:::${scratchBucketPrefix(project)}*`, `arn:aws:s3:::${scratchBucketPrefix(project)}*/*`],
    });
  if (need('rds_create').length)
    out.push({
      Sid: 'CreateOnlyTaggedDatabaseSnapshots',
      Effect: 'Allow',
      Action: need('rds_create'),
      Resource: ['arn:aws:rds:*:*:snapshot:*'],
      Condition: { StringEquals: { 'aws:RequestTag/ProjectId': '${aws:PrincipalTag/ProjectId}' } },
    });
  if (need('scratch_db').length) {
    // Project names may prefix one another (p, p-x) and RDS names allow no "--": the tags scope them as well.
    const scratchDb = [`arn:aws:rds:*:*:db:${scratchDatabasePrefix(project)}*`];
    const of = (...actions: string[]) => need('scratch_db').filter((a) => actions.includes(a));
    out.push(
      {
        Sid: 'RestoreIntoTaggedScratchDatabases',
        Effect: 'Allow',
        Action: of('rds:RestoreDBInstanceFromDBSnapshot', 'rds:AddTagsToResource'),
        Resource: scratchDb,
        Condition: { StringEquals: { 'aws:RequestTag/ProjectId': '${aws:PrincipalTag/ProjectId}' } },
      },
      { Sid: 'DeleteOwnScratchDatabases', Effect: 'Allow', Action: of('rds:DeleteDBInstance'), Resource: scratchDb, Condition: tagOwned },
      {
        Sid: 'RestoreFromOwnedSnapshots',
        Effect: 'Allow',
        Action: of('rds:RestoreDBInstanceFromDBSnapshot'),
        Resource: ['arn:aws:rds:*:*:snapshot:*'],
        Condition: tagOwned,
      },
    );
  }
  if (need('ssm').length)
    out.push({ Sid: 'PublicAmiParameters', Effect: 'Allow', Action: need('ssm'), Resource: 'arn:aws:ssm:*::parameter/aws/service/*' });
  return out;
}

/**
 * IAM database authentication has no tag condition: it is scoped by each instance's DbiResourceId, so only the
 * project's declared databases whose policy names one are reachable, and none when none does.
 */
function databaseConnect(policy: Policy, tools: string[], project: string, roleArn: string): Statement[] {
  const actions = uniq(tools.flatMap((t) => NEEDS[t]?.db_connect ?? []));
  const ids = Object.values(policy.projects[project]?.databases ?? {}).flatMap((d) => (d.iam_resource_id ? [d.iam_resource_id] : []));
  if (actions.length === 0 || ids.length === 0) return [];
  const account = roleArn.split(':')[4];
  return [
    {
      Sid: 'ConnectToDeclaredDatabases',
      Effect: 'Allow',
      Action: actions,
      Resource: ids.map((id) => `arn:aws:rds-db:*:${account}:dbuser:${id}/*`),
    },
  ];
}

/** A trust policy only the warden's base principal may use, and only with these session tags. */
function onlyTheWarden(basePrincipal: string, tags: Record<string, string>, sid = 'OnlyTheWarden'): PolicyDocument {
  const required = Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:RequestTag/${k}`, v]));
  return policyDocument.parse({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: sid,
        Effect: 'Allow',
        Principal: { AWS: basePrincipal },
        Action: ['sts:AssumeRole', 'sts:TagSession'],
        Condition: { StringEquals: required },
      },
    ],
  });
}

function trustPolicy(basePrincipal: string, project: string, agentTag: string): PolicyDocument {
  return onlyTheWarden(basePrincipal, { ProjectId: project, AgentId: agentTag }, 'OnlyTheWardenWithSessionTags');
}

/** The agent's role for its policy tier, then one per tier the policy maps to a role of its own. */
export function renderAgentRoles(policy: Policy, agentId: string, basePrincipal: string): RenderedRole[] {
  const agent = policy.agents[agentId];
  if (!agent) throw new Error(`agent "${agentId}" is not in the policy`);
  const others = Object.entries(agent.tier_roles).filter(([tier, arn]) => tier !== agent.tier && arn !== agent.role_arn);
  return [
    renderAgentRole(policy, agentId, basePrincipal),
    ...others.map(([tier]) => renderAgentRole(policy, agentId, basePrincipal, tier)),
  ];
}

export function renderAgentRole(policy: Policy, agentId: string, basePrincipal: string, tierName?: string): RenderedRole {
  const agent = policy.agents[agentId];
  if (!agent) throw new Error(`agent "${agentId}" is not in the policy`);
  const tier = tierName ?? agent.tier;
  const roleArn = agent.tier_roles[tier] ?? agent.role_arn;
  const tools = policy.tiers[tier].tools;
  const statements: Statement[] = [
    ...permissionStatements(tools, agent.project),
    ...databaseConnect(policy, tools, agent.project, roleArn),
    // Granted by a human on an agent's request (request_permission); every deny below still overrides them.
    ...agent.extra_statements,
    { Sid: 'NeverWithoutAHuman', Effect: 'Deny', Action: NEVER_FOR_AGENTS, Resource: '*' },
    ...scratchOnly(agent.project),
    {
      Sid: 'NeverOtherProjects',
      Effect: 'Deny',
      Action: ['ec2:TerminateInstances', 'ec2:StopInstances', 'ec2:DeleteTags', 'ec2:CreateTags'],
      Resource: '*',
      Condition: {
        StringNotEquals: { 'aws:ResourceTag/ProjectId': '${aws:PrincipalTag/ProjectId}' },
        Null: { 'aws:ResourceTag/ProjectId': 'false' },
      },
    },
    {
      Sid: 'NeverRetagOwnership',
      Effect: 'Deny',
      Action: ['ec2:DeleteTags', 'ec2:CreateTags'],
      Resource: '*',
      Condition: { 'ForAnyValue:StringEquals': { 'aws:TagKeys': OWNERSHIP_KEYS }, StringNotEquals: { 'ec2:CreateAction': 'RunInstances' } },
    },
  ];
  return {
    roleName: roleArn.split('/').pop() as string,
    roleArn,
    trust: trustPolicy(basePrincipal, agent.project, agentId),
    permissions: policyDocument.parse({ Version: '2012-10-17', Statement: statements }),
  };
}

/** The role approved proposals run under: every agent write of its project's tiers, plus security-group changes. */
export function renderApproverRole(policy: Policy, project: string, basePrincipal: string): RenderedRole | null {
  const arn = policy.projects[project]?.approver_role_arn;
  if (!arn) return null;
  const tiers = Object.values(policy.agents)
    .filter((a) => a.project === project)
    .flatMap((a) => [a.tier, ...Object.keys(a.tier_roles)]);
  const tools = uniq(tiers.flatMap((t) => policy.tiers[t].tools));
  return {
    roleName: arn.split('/').pop() as string,
    roleArn: arn,
    trust: onlyTheWarden(basePrincipal, { ProjectId: project }),
    permissions: policyDocument.parse({
      Version: '2012-10-17',
      Statement: [
        ...permissionStatements(tools, project, [...HUMAN_ONLY, 'ec2:DescribeSecurityGroups']),
        // Deleting a site bucket (reclaim_resources) is only ever a human's approved plan.
        {
          Sid: 'ApprovedBucketDeletion',
          Effect: 'Allow',
          Action: ['s3:DeleteBucket', 's3:ListBucketVersions', 's3:DeleteObjectVersion'],
          Resource: [`arn:aws:s3:::${projectBucketPrefix(project)}*`, `arn:aws:s3:::${projectBucketPrefix(project)}*/*`],
        },
        { Sid: 'NeverIam', Effect: 'Deny', Action: ['iam:*'], Resource: '*' },
      ],
    }),
  };
}

/**
 * The role the worker writes audit anchors under (policy `anchors`), and wardenctl audit verify --anchors reads them
 * with: it may add anchors and read them, never delete one, shorten a retention or change the bucket's lock.
 */
export function renderAnchorRole(policy: Policy, basePrincipal: string): RenderedRole | null {
  const a = policy.anchors;
  if (!a) return null;
  const bucket = `arn:aws:s3:::${a.bucket}`;
  const objects = `${bucket}/${a.prefix}*`;
  return {
    roleName: a.role_arn.split('/').pop() as string,
    roleArn: a.role_arn,
    trust: onlyTheWarden(basePrincipal, { ProjectId: 'aws-warden' }),
    permissions: policyDocument.parse({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'WriteAnchors', Effect: 'Allow', Action: ['s3:PutObject', 's3:PutObjectRetention'], Resource: [objects] },
        { Sid: 'ReadAnchors', Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: [objects] },
        {
          Sid: 'ListAnchors',
          Effect: 'Allow',
          Action: ['s3:ListBucket', 's3:ListBucketVersions', 's3:GetBucketObjectLockConfiguration'],
          Resource: [bucket],
        },
        {
          Sid: 'NeverUndoAnAnchor',
          Effect: 'Deny',
          Action: [
            's3:DeleteObject',
            's3:DeleteObjectVersion',
            's3:BypassGovernanceRetention',
            's3:PutBucketObjectLockConfiguration',
            's3:PutLifecycleConfiguration',
            's3:PutBucketPolicy',
            's3:DeleteBucket',
          ],
          Resource: [bucket, `${bucket}/*`],
        },
        { Sid: 'NeverIam', Effect: 'Deny', Action: ['iam:*'], Resource: '*' },
      ],
    }),
  };
}

/** One reviewable CloudFormation template (JSON) for a project's agent roles and approver role. */
export function cloudFormation(roles: RenderedRole[]): Record<string, unknown> {
  const resources: Record<string, unknown> = {};
  for (const r of roles) {
    const id = r.roleName
      .replace(/[^A-Za-z0-9]/g, ' ')
      .replace(/(^| )(\w)/g, (_m, _s, c: string) => c.toUpperCase())
      .replace(/ /g, '');
    resources[id] = {
      Type: 'AWS::IAM::Role',
      Properties: {
        RoleName: r.roleName,
        AssumeRolePolicyDocument: r.trust,
        Policies: [{ PolicyName: 'aws-warden', PolicyDocument: r.permissions }],
        Tags: [{ Key: 'ManagedBy', Value: 'aws-warden' }],
      },
    };
  }
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: 'aws-warden roles (generated by wardenctl iam render; review before deploying)',
    Resources: resources,
  };
}
