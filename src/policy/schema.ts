// The zod schema of policy.yaml: projects, agents, tiers, and the cross-references between them.
import { z } from 'zod';

const NAME = /^[a-z][a-z0-9-]{1,39}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]{1,512}$/;

const name = (what: string) =>
  z.string().regex(NAME, `${what} must be 2-40 chars of a-z, 0-9 and "-", starting with a letter`);
const roleArn = z.string().regex(ROLE_ARN, 'must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)');
const usd = z.number().finite().nonnegative();

const project = z
  .object({
    budget_usd_month: usd,
    escalate_over_usd_month: usd.optional(),
    critical_tag: z.record(z.string().min(1), z.string()).optional(),
    approver_role_arn: roleArn.optional(),
    environments: z.array(name('environment')).min(1).default(['staging', 'prod']),
    proposal_ttl_hours: z.number().positive().max(24 * 90).default(72),
    notify: z.array(z.object({ webhook: z.url({ protocol: /^https?$/ }) }).strict()).default([]),
  })
  .strict();

const limits = z
  .object({
    max_monthly_delta_usd: usd.optional(),
    max_instances_per_service: z.number().int().nonnegative().optional(),
    max_change_per_call: z.number().int().nonnegative().optional(),
    instance_types: z.array(z.string().regex(/^[a-z0-9]+\.[a-z0-9]+$/)).optional(),
  })
  .strict();

const tier = z
  .object({
    description: z.string().optional(),
    tools: z.array(z.string()).default([]),
    limits: limits.default({}),
  })
  .strict();

const agent = z
  .object({
    project: z.string(),
    tier: z.string(),
    role_arn: roleArn,
    session_seconds: z.number().int().min(900).max(43200).default(3600),
  })
  .strict();

export function policySchema(knownTools: readonly string[]) {
  return z
    .object({
      version: z.literal(1),
      projects: z.record(name('project'), project),
      tiers: z.record(name('tier'), tier),
      agents: z.record(name('agent'), agent),
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
      }
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
