// The zod schema of policy.yaml: projects, agents, tiers, and the cross-references between them.
import { z } from 'zod';
import { permissionProblems } from './grants.js';

const NAME = /^[a-z][a-z0-9-]{1,39}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

const name = (what: string) => z.string().regex(NAME, `${what} must be 2-40 chars of a-z, 0-9 and "-", starting with a letter`);
const roleArn = z.string().regex(ROLE_ARN, 'must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)');
const usd = z.number().finite().nonnegative();

const INCIDENTS = ['prod_rollback', 'health_failure', 'boundary_escape'] as const;

const INSTANCE_TYPE = /^[a-z0-9]+\.[a-z0-9]+$/;

/** A named set of EC2 instances a human declared; the agent may change only its count and type within these bounds. */
/** A database a human declared: aws-warden scales, snapshots and restore-tests it within these bounds. */
const database = z
  .object({
    /** The RDS DB instance identifier; the instance must carry the project's ProjectId tag. */
    identifier: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'an RDS DB instance identifier (a-z, 0-9, -; starts with a letter)'),
    engine: z.enum(['postgres', 'mysql']),
    instance_classes: z.array(z.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/, 'an RDS instance class such as db.t3.micro')).min(1),
    min_storage_gb: z.number().int().min(20).max(65536).default(20),
    max_storage_gb: z.number().int().min(20).max(65536),
    /** The environment it serves: prod databases always need a human to change or to reach. */
    environment: z.string(),
    backup_retention_days: z.number().int().min(0).max(35).default(7),
    /** How long a human's approval of access to it (get_database_credentials) lasts. */
    access_minutes: z.number().int().min(5).max(720).default(60),
    /** Its DbiResourceId (db-…): the agent role may rds-db:connect only to databases that name one. */
    iam_resource_id: z
      .string()
      .regex(/^db-[A-Z0-9]+$/, 'the DbiResourceId of the instance (db-…)')
      .optional(),
  })
  .strict()
  .refine((d) => d.min_storage_gb <= d.max_storage_gb, { message: 'min_storage_gb is above max_storage_gb', path: ['min_storage_gb'] });

const service = z
  .object({
    image_id: z
      .string()
      .regex(/^ami-[0-9a-f]{8,17}$/, 'must be an AMI id (ami-…)')
      .optional(),
    /** e.g. /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64, resolved when a scale is planned. */
    image_ssm_parameter: z
      .string()
      .regex(/^\/[\w./-]+$/, 'must be an SSM parameter path (/aws/service/…)')
      .optional(),
    instance_types: z.array(z.string().regex(INSTANCE_TYPE)).min(1),
    min: z.number().int().nonnegative().default(0),
    max: z.number().int().positive(),
    subnet_ids: z.array(z.string().regex(/^subnet-[0-9a-f]+$/)).default([]),
    security_group_ids: z.array(z.string().regex(/^sg-[0-9a-f]+$/)).default([]),
    key_name: z.string().min(1).optional(),
    user_data_file: z.string().min(1).optional(),
    instance_profile_arn: z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::\d{12}:instance-profile\/.+$/)
      .optional(),
    health: z
      .object({
        /** e.g. http://{private_ip}:80/healthz; {instance_id}, {private_ip}, {public_ip} are filled in. */
        http_url: z
          .string()
          .regex(/^https?:\/\//, 'must start with http:// or https://')
          .optional(),
        timeout_seconds: z.number().int().positive().max(3600).default(300),
        poll_seconds: z.number().positive().max(60).default(5),
      })
      .strict()
      .default({ timeout_seconds: 300, poll_seconds: 5 }),
    /** Past a tier bound: escalate to a human instead of denying. */
    escalate_over_limits: z.boolean().default(false),
    /** The environment the service runs in: its deploy window (windows.<environment>) holds its scale changes. */
    environment: name('environment').optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.min > s.max) ctx.addIssue({ code: 'custom', path: ['min'], message: `min ${s.min} is above max ${s.max}` });
    if (!s.image_id === !s.image_ssm_parameter)
      ctx.addIssue({ code: 'custom', path: ['image_id'], message: 'give exactly one of image_id and image_ssm_parameter' });
  });

/** Static sites: where agents may deploy from, limits, and how a deploy is judged healthy. */
const sites = z
  .object({
    roots: z.array(z.string().min(1)).default([]),
    max_files: z.number().int().positive().default(5000),
    max_total_mb: z.number().positive().default(500),
    allow_dotfiles: z.boolean().default(false),
    /** Make site content public (a bucket policy for reads, public access block off): always a human's call. */
    public: z.boolean().default(false),
    cache_control: z.string().max(200).default('public, max-age=300'),
    /** e.g. https://{bucket}.s3-website-{region}.amazonaws.com/ — {site}, {environment}, {bucket}, {region} are filled in. */
    health_url: z
      .string()
      .regex(/^https?:\/\//, 'must start with http:// or https://')
      .optional(),
    health_timeout_seconds: z.number().positive().max(600).default(30),
    soak_minutes: z.number().nonnegative().default(30),
    prod_requires_approval: z.boolean().default(false),
  })
  .strict();

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/;
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** One opening of a deploy window: on these days from start to end (past midnight when end ≤ start), in a time zone. */
const windowRange = z
  .object({
    days: z
      .array(z.enum(DAYS))
      .min(1)
      .default([...DAYS]),
    start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (00:00-23:59)'),
    end: z.string().regex(HHMM, 'must be HH:MM (00:00-24:00)'),
    time_zone: z
      .string()
      .default('UTC')
      .refine((tz) => {
        try {
          new Intl.DateTimeFormat('en-US', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'unknown IANA time zone (e.g. Europe/Berlin, UTC)'),
  })
  .strict()
  .refine((r) => r.start !== r.end, { path: ['end'], message: 'end equals start: an empty window' });

export const RECLAIMABLE = ['instance', 'volume', 'address', 'site_bucket'] as const;
/** Site buckets are never among them: deleting a bucket is denied to every agent role, so a human approves it. */
const UNATTENDED = ['instance', 'volume', 'address'] as const;

/** What counts as unused, and how reclaiming it may proceed. */
const unused = z
  .object({
    idle_cpu_percent: z.number().min(0).max(100).default(5),
    /** NetworkIn + NetworkOut per hour, averaged over the window, below which an instance is idle. */
    idle_network_mb_per_hour: z.number().nonnegative().default(5),
    idle_window_hours: z
      .number()
      .positive()
      .max(24 * 63)
      .default(72),
    stopped_days: z.number().positive().default(14),
    site_idle_days: z.number().positive().default(60),
    /** reclaim stops an idle instance (start it again to undo) instead of terminating it. */
    stop_instead_of_terminate: z.boolean().default(true),
    /** Snapshot a volume before deleting it, so deleting is undoable (the snapshot costs $0.05/GB-month). */
    snapshot_volumes: z.boolean().default(true),
    /**
     * Resource types an agent whose tier allows it (limits.reclaim_unattended) may reclaim without a human, by
     * environment (the resource's Environment tag; "*" for any, untagged included). Everything else escalates.
     */
    unattended: z.partialRecord(z.enum(UNATTENDED), z.array(z.string().min(1))).default({}),
  })
  .strict();

const UNUSED_DEFAULTS = {
  idle_cpu_percent: 5,
  idle_network_mb_per_hour: 5,
  idle_window_hours: 72,
  stopped_days: 14,
  site_idle_days: 60,
  stop_instead_of_terminate: true,
  snapshot_volumes: true,
  unattended: {},
};

/** The worker's periodic work for a project, done as one of its agents (through the guard like any call). */
const operations = z
  .object({
    agent: name('agent'),
    drift_check_hours: z.number().positive().optional(),
    backup_check_hours: z.number().positive().optional(),
  })
  .strict();

const project = z
  .object({
    budget_usd_month: usd,
    escalate_over_usd_month: usd.optional(),
    critical_tag: z.record(z.string().min(1), z.string()).optional(),
    approver_role_arn: roleArn.optional(),
    environments: z.array(name('environment')).min(1).default(['staging', 'prod']),
    proposal_ttl_hours: z
      .number()
      .positive()
      .max(24 * 90)
      .default(72),
    services: z.record(name('service'), service).default({}),
    databases: z.record(name('database'), database).default({}),
    sites: sites.default({
      roots: [],
      max_files: 5000,
      max_total_mb: 500,
      allow_dotfiles: false,
      public: false,
      cache_control: 'public, max-age=300',
      health_timeout_seconds: 30,
      soak_minutes: 30,
      prod_requires_approval: false,
    }),
    /**
     * Escalation classes a person at the MCP client may approve in the client (elicitation) instead of
     * wardenctl. Security groups, NACLs and IAM are never among them.
     */
    in_client_consent: z
      .array(
        z.enum([
          'critical_tag',
          'spend',
          'limits',
          'budget_increase',
          'production_database',
          'public_exposure',
          'production_deploy',
          'deletion',
        ]),
      )
      .default([]),
    notify: z.array(z.object({ webhook: z.url({ protocol: /^https?$/ }) }).strict()).default([]),
    /** Deploy windows per environment: a change outside them is scheduled for the next opening, not refused. */
    windows: z.record(name('environment'), z.array(windowRange).min(1)).default({}),
    unused: unused.default(UNUSED_DEFAULTS),
    backups: z
      .object({
        max_snapshot_age_hours: z.number().positive().default(26),
        /** How long a database restore test waits for its scratch instance to become available. */
        restore_timeout_minutes: z.number().positive().max(720).default(60),
        restore_poll_seconds: z.number().positive().max(300).default(15),
      })
      .strict()
      .default({ max_snapshot_age_hours: 26, restore_timeout_minutes: 60, restore_poll_seconds: 15 }),
    operations: operations.optional(),
  })
  .strict();

const limits = z
  .object({
    max_monthly_delta_usd: usd.optional(),
    max_instances_per_service: z.number().int().nonnegative().optional(),
    max_change_per_call: z.number().int().nonnegative().optional(),
    instance_types: z.array(z.string().regex(INSTANCE_TYPE)).optional(),
    /** May reclaim what the project's unused.unattended allows without a human (default: every reclaim escalates). */
    reclaim_unattended: z.boolean().optional(),
  })
  .strict();

/**
 * Flood limits per agent, shared by all of its server processes (through the store). Defaults for every agent at the
 * top level; an agent's own `rate_limits` overrides single fields.
 */
const rateLimitFields = {
  calls_per_minute: z.number().int().positive().max(100_000),
  mutating_calls_per_hour: z.number().int().positive().max(100_000),
  concurrent_calls: z.number().int().positive().max(1000),
  pending_proposals: z.number().int().positive().max(10_000),
  /** The largest one argument may be, as JSON (a bigger one is refused naming the field). */
  max_argument_kb: z.number().int().positive().max(64, 'at most 64: a bigger argument would be kept only as a digest in the audit'),
};
export const RATE_LIMIT_DEFAULTS = {
  calls_per_minute: 60,
  mutating_calls_per_hour: 60,
  concurrent_calls: 8,
  pending_proposals: 10,
  max_argument_kb: 64,
} as const;
const rateLimits = z.object(rateLimitFields).strict();

const tier = z
  .object({
    description: z.string().optional(),
    tools: z.array(z.string()).default([]),
    limits: limits.default({}),
    /** Tools this tier may call only with a human's approval: every call becomes a proposal. */
    escalate_tools: z.array(z.string()).default([]),
  })
  .strict();

/** A granted statement: exact actions on named resources, Allow only (the rendered role's denies still win). */
const grantStatement = z
  .object({
    Sid: z.string().regex(/^Granted[A-Za-z0-9]+$/, 'a Sid starting "Granted" (wardenctl writes these)'),
    Effect: z.literal('Allow'),
    Action: z.array(z.string()).min(1),
    Resource: z.array(z.string()).min(1),
    Condition: z.record(z.string(), z.record(z.string(), z.string())).optional(),
  })
  .strict();

const agent = z
  .object({
    project: z.string(),
    tier: z.string(),
    role_arn: roleArn,
    /** A different role for a tier (e.g. a maintainer role with wider grants); other tiers use role_arn. */
    tier_roles: z.record(name('tier'), roleArn).default({}),
    session_seconds: z.number().int().min(900).max(43200).default(3600),
    rate_limits: rateLimits.partial().default({}),
    /** Statements added to this agent's roles by approved request_permission proposals (wardenctl writes them). */
    extra_statements: z.array(grantStatement).default([]),
  })
  .strict()
  .superRefine((a, ctx) => {
    const account = a.role_arn.split(':')[4] ?? '';
    a.extra_statements.forEach((st, i) => {
      for (const p of permissionProblems(st.Action, st.Resource, account))
        ctx.addIssue({
          code: 'custom',
          path: ['extra_statements', i, p.path[0] === 'actions' ? 'Action' : 'Resource', p.path[1]],
          message: p.message,
        });
    });
  });

export function policySchema(knownTools: readonly string[]) {
  return z
    .object({
      version: z.literal(1),
      // No "--" and no trailing "-" in a project name: "<project>--" starts its buckets, and no other project's can.
      projects: z.record(name('project').regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'a project name has no "--" and does not end in "-"'), project),
      tiers: z.record(name('tier'), tier),
      agents: z.record(name('agent'), agent),
      rate_limits: rateLimits.partial().default({}),
      /** On SIGTERM, SIGINT or stdin closing: how long running calls may take to finish (or roll back) before exit. */
      shutdown_grace_seconds: z.number().positive().max(3600).default(30),
      /** The most one call may take, health waits included: past it every AWS request of the call is aborted. */
      call_deadline_seconds: z
        .number()
        .positive()
        .max(6 * 3600)
        .default(900),
      /**
       * A change still running after this long answers `status: running` with a job id and goes on in the server;
       * get_job reports its progress and its answer (clients time out long before call_deadline_seconds).
       */
      long_call_seconds: z.number().positive().max(3600).default(20),
      /** The trust gradient: tiers in the order written above, earned from the audit record, lost on incidents. */
      trust: z
        .object({
          promote: z
            .object({
              min_successes: z.number().int().positive().default(20),
              max_rollbacks: z.number().int().nonnegative().default(0),
              max_denials: z.number().int().nonnegative().default(5),
              window_days: z.number().positive().default(14),
              automatic: z.boolean().default(false),
            })
            .strict()
            .default({ min_successes: 20, max_rollbacks: 0, max_denials: 5, window_days: 14, automatic: false }),
          /**
           * Incidents that drop an agent one tier at once: a rollback in prod, any change rolled back after a failed
           * health check, an attempt to leave its boundary. All three unless the policy lists fewer (`[]`: none).
           */
          demote_on: z.array(z.enum(INCIDENTS)).default([...INCIDENTS]),
        })
        .strict()
        .default({
          promote: { min_successes: 20, max_rollbacks: 0, max_denials: 5, window_days: 14, automatic: false },
          demote_on: [...INCIDENTS],
        }),
      /** Who decides proposals: `wardenctl proposals approve --as NAME` is allowed only for these names. */
      approval: z
        .object({ allow_as: z.array(z.string().regex(/^[a-z][a-z0-9._-]{1,39}$/)).default([]) })
        .strict()
        .default({ allow_as: [] }),
      /**
       * Where the worker anchors the audit chain's head outside the store: an S3 bucket with Object Lock in compliance
       * mode, written under a role of its own (wardenctl iam render --anchors prints it); audit verify --anchors checks them.
       */
      anchors: z
        .object({
          bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name'),
          role_arn: roleArn,
          prefix: z
            .string()
            .regex(/^([A-Za-z0-9!_.*'()-]+\/)*$/, 'a key prefix ending in "/" (or empty)')
            .default('aws-warden/anchors/'),
          every_minutes: z.number().positive().max(1440).default(15),
          retention_days: z.number().int().positive().max(36500).default(400),
        })
        .strict()
        .optional(),
      /** `aws-warden serve --http`: besides wardenctl's tokens, OAuth 2.1 access tokens (JWTs) of one issuer. */
      http: z
        .object({
          /** The URL clients reach /mcp at (behind a proxy): the `resource` of the Protected Resource Metadata. */
          resource_url: z.url({ protocol: /^https?$/ }).optional(),
          oauth: z
            .object({
              issuer: z.url({ protocol: /^https?$/ }),
              /** Where the issuer publishes its signing keys. */
              jwks_uri: z.url({ protocol: /^https?$/ }),
              /** The `aud` an access token must carry: this warden's resource URL or the name the issuer gives it. */
              audience: z.string().min(1),
              /** The claim that names the agent. */
              agent_claim: z
                .string()
                .regex(/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/)
                .default('sub'),
              /** Claim value → agent id, when the issuer's names are not the policy's; absent: the value is the id. */
              agents: z.record(z.string().min(1), z.string().min(1)).optional(),
            })
            .strict()
            .optional(),
        })
        .strict()
        .optional(),
    })
    .strict()
    .superRefine((p, ctx) => {
      const known = (xs: string[]) => xs.join(', ') || '(none)';
      for (const [id, a] of Object.entries(p.agents)) {
        if (!(a.project in p.projects))
          ctx.addIssue({
            code: 'custom',
            path: ['agents', id, 'project'],
            message: `unknown project "${a.project}" (known: ${known(Object.keys(p.projects))})`,
          });
        if (!(a.tier in p.tiers))
          ctx.addIssue({
            code: 'custom',
            path: ['agents', id, 'tier'],
            message: `unknown tier "${a.tier}" (known: ${known(Object.keys(p.tiers))})`,
          });
        for (const t of Object.keys(a.tier_roles))
          if (!(t in p.tiers))
            ctx.addIssue({
              code: 'custom',
              path: ['agents', id, 'tier_roles', t],
              message: `unknown tier "${t}" (known: ${known(Object.keys(p.tiers))})`,
            });
      }
      for (const [claim, id] of Object.entries(p.http?.oauth?.agents ?? {}))
        if (!(id in p.agents))
          ctx.addIssue({
            code: 'custom',
            path: ['http', 'oauth', 'agents', claim],
            message: `unknown agent "${id}" (known: ${known(Object.keys(p.agents))})`,
          });
      for (const [id, pr] of Object.entries(p.projects)) {
        const ops = pr.operations;
        if (ops && p.agents[ops.agent]?.project !== id)
          ctx.addIssue({
            code: 'custom',
            path: ['projects', id, 'operations', 'agent'],
            message: `"${ops.agent}" is not an agent of project ${id}`,
          });
        for (const env of Object.keys(pr.windows))
          if (!pr.environments.includes(env))
            ctx.addIssue({
              code: 'custom',
              path: ['projects', id, 'windows', env],
              message: `unknown environment "${env}" (known: ${known(pr.environments)})`,
            });
        for (const [db, d] of Object.entries(pr.databases))
          if (!pr.environments.includes(d.environment))
            ctx.addIssue({
              code: 'custom',
              path: ['projects', id, 'databases', db, 'environment'],
              message: `unknown environment "${d.environment}" (known: ${known(pr.environments)})`,
            });
      }
      for (const [id, t] of Object.entries(p.tiers))
        t.escalate_tools.forEach((tool, i) => {
          if (!t.tools.includes(tool))
            ctx.addIssue({ code: 'custom', path: ['tiers', id, 'escalate_tools', i], message: `"${tool}" is not among the tier's tools` });
        });
      for (const [id, t] of Object.entries(p.tiers))
        t.tools.forEach((tool, i) => {
          if (!knownTools.includes(tool))
            ctx.addIssue({
              code: 'custom',
              path: ['tiers', id, 'tools', i],
              message: `unknown tool "${tool}" (known: ${known([...knownTools])})`,
            });
        });
    });
}

export type Policy = z.infer<ReturnType<typeof policySchema>>;
export type ProjectPolicy = Policy['projects'][string];
export type TierPolicy = Policy['tiers'][string];
export type AgentPolicy = Policy['agents'][string];
export type ServicePolicy = ProjectPolicy['services'][string];
export type DatabasePolicy = ProjectPolicy['databases'][string];
export type SitesPolicy = ProjectPolicy['sites'];
export type WindowRange = ProjectPolicy['windows'][string][number];
export type UnusedPolicy = ProjectPolicy['unused'];
export type RateLimitPolicy = z.infer<typeof rateLimits>;
export type Reclaimable = (typeof RECLAIMABLE)[number];
