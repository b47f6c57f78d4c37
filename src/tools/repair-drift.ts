// repair_drift: puts managed settings back through the guard. Security-group and public-exposure repairs become
// proposals; resources no longer owned are refused by the ownership rule; a service's count or type is repaired by
// scale_service's own plan (its limits, budget and health checks) under scale_service's own service lock.
import { CreateTagsCommand, DeleteTagsCommand } from '@aws-sdk/client-ec2';
import { z } from 'zod';
import { parseArn } from '../aws/arn.js';
import { Refusal } from '../core/errors.js';
import { checkDrift, type DriftItem } from '../drift/check.js';
import type { Plan, PlannedOperation, RiskFlag, TouchedResource } from '../guard/types.js';
import { applyRuleStep, applyRuleStepAgain, ruleOperation, ruleStep, type RuleStep } from '../security/apply.js';
import { ruleKey, type SgRule } from '../security/rules.js';
import { bucketOperation, bucketStep, runBucketStep, type BucketStep } from '../sites/ops.js';
import { scaleParams, scaleService } from './scale-service.js';
import { defineTool, type ToolContext } from './tool.js';

export const name = 'repair_drift';

const input = z
  .object({
    ids: z
      .array(z.string().regex(/^drift-[0-9a-f]{10}$/, 'must be a drift id from check_drift (drift-…)'))
      .min(1)
      .max(50)
      .refine((ids) => new Set(ids).size === ids.length, 'ids must not repeat'),
  })
  .strict();

const output = z.object({
  repaired: z.array(z.object({ id: z.string(), resource: z.string(), aspect: z.string(), actions: z.array(z.string()) })),
  service: z.record(z.string(), z.unknown()).optional().describe('the scale_service result when a service was repaired'),
});

const scaleArgs = z.object({ service: z.string(), desired_count: z.number().int(), instance_type: z.string() }).strict();
type Scale = z.infer<typeof scaleArgs>;

const tagStep = z.discriminatedUnion('action', [
  z.object({ action: z.literal('ec2:CreateTags'), id: z.string(), tags: z.record(z.string(), z.string()) }).strict(),
  z.object({ action: z.literal('ec2:DeleteTags'), id: z.string(), keys: z.array(z.string()) }).strict(),
]);
/** One repair step: what the executor sends, with the drift it repairs. */
const step = z.object({ drift: z.string(), step: z.union([tagStep, ruleStep, bucketStep]) }).strict();
type Step = z.infer<typeof step>['step'];

const params = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('steps'),
      steps: z.array(step),
      drift: z.array(z.object({ id: z.string(), resource: z.string(), aspect: z.string() }).strict()),
    })
    .strict(),
  z.object({ kind: z.literal('service'), drift: z.string(), scale: scaleArgs, plan: scaleParams }).strict(),
]);

function operationOf(s: Step): PlannedOperation {
  if ('group' in s) return ruleOperation(s as RuleStep);
  if ('bucket' in s) return bucketOperation(s as BucketStep);
  const { action, id, ...rest } = s as z.infer<typeof tagStep>;
  return { action, target: id, params: rest };
}

function stepsFor(item: DriftItem): { steps: Step[]; undo: Step[]; flags: RiskFlag[] } {
  const id = parseArn(item.resource)?.id ?? item.resource;
  if (item.aspect === 'tags') {
    const want = item.desired as Record<string, string>;
    const have = item.actual as Record<string, string>;
    if (item.resource.startsWith('arn:aws:s3:::'))
      return {
        steps: [{ action: 's3:PutBucketTagging', bucket: id, tags: want }],
        undo: [{ action: 's3:PutBucketTagging', bucket: id, tags: have }],
        flags: [],
      };
    const set = Object.fromEntries(Object.entries(want).filter(([k, v]) => have[k] !== v));
    const extra = Object.keys(have).filter((k) => !(k in want) && !k.startsWith('aws:'));
    return {
      steps: [
        ...(Object.keys(set).length ? [{ action: 'ec2:CreateTags' as const, id, tags: set }] : []),
        ...(extra.length ? [{ action: 'ec2:DeleteTags' as const, id, keys: extra }] : []),
      ],
      undo: [{ action: 'ec2:CreateTags', id, tags: have }],
      flags: [],
    };
  }
  if (item.aspect === 'sg_rules') {
    const want = new Map((item.desired as SgRule[]).map((r) => [ruleKey(r), r]));
    const have = new Map((item.actual as SgRule[]).map((r) => [ruleKey(r), r]));
    const missing = [...want].filter(([k]) => !have.has(k)).map(([, r]) => r);
    const added = [...have].filter(([k]) => !want.has(k)).map(([, r]) => r);
    const op = (verb: 'Authorize' | 'Revoke', dir: 'ingress' | 'egress', rules: SgRule[]): RuleStep[] =>
      rules.length ? [{ action: `ec2:${verb}SecurityGroup${dir === 'ingress' ? 'Ingress' : 'Egress'}`, group: id, rules }] : [];
    const by = (rules: SgRule[], dir: 'ingress' | 'egress') => rules.filter((r) => r.direction === dir);
    return {
      steps: [
        ...op('Revoke', 'ingress', by(added, 'ingress')),
        ...op('Revoke', 'egress', by(added, 'egress')),
        ...op('Authorize', 'ingress', by(missing, 'ingress')),
        ...op('Authorize', 'egress', by(missing, 'egress')),
      ],
      undo: [...op('Authorize', 'ingress', by(added, 'ingress')), ...op('Revoke', 'ingress', by(missing, 'ingress'))],
      flags: ['security_group'],
    };
  }
  if (item.aspect === 'bucket_versioning') return { steps: [{ action: 's3:PutBucketVersioning', bucket: id }], undo: [], flags: [] };
  if (item.aspect === 'bucket_public_access') {
    const blockAll = (item.desired as { block_all: boolean }).block_all;
    // Blocking again only narrows exposure; opening a bucket up is a human's call even when that is the desired state.
    return {
      steps: [{ action: 's3:PutPublicAccessBlock', bucket: id, blockAll }],
      undo: [{ action: 's3:PutPublicAccessBlock', bucket: id, blockAll: !blockAll }],
      flags: blockAll ? [] : ['public_exposure'],
    };
  }
  if (item.aspect === 'bucket_website') {
    const w = item.desired as { index: string; error: string | null };
    return { steps: [{ action: 's3:PutBucketWebsite', bucket: id, index: w.index, error: w.error }], undo: [], flags: [] };
  }
  throw new Error(`repair_drift cannot repair ${item.aspect}`);
}

/** A service's drift is repaired by scale_service's own plan: one service per call. */
async function servicePlan(item: DriftItem, ids: string[], ctx: ToolContext): Promise<Plan<z.infer<typeof params>>> {
  if (ids.length > 1) throw new Refusal(`ids: ${item.id} is a service's drift; repair it on its own (one call per service)`);
  const want = item.desired as { count: number; instance_type: string };
  // Through scale_service's own input schema, as if an agent had asked for exactly the recorded count and type.
  const scale = scaleService.input.parse({
    service: item.resource.slice('service:'.length),
    desired_count: want.count,
    instance_type: want.instance_type,
  }) as Scale;
  const plan = await scaleService.plan(scale, ctx);
  // scale_service's own lock for this service: a repair never scales it beside an agent's scale_service.
  const lock = scaleService.lockKey?.(scale, ctx.agent);
  return {
    ...plan,
    tool: name,
    summary: `repair drift ${item.id}: ${plan.summary}`,
    preconditions: { ...plan.preconditions, scale },
    locks: lock ? [lock] : [],
    params: { kind: 'service' as const, drift: item.id, scale, plan: scaleParams.parse(plan.params) },
  };
}

export const repairDrift = defineTool({
  name,
  title: 'Repair drift on managed resources',
  description:
    'Puts managed settings back as aws-warden last set them (ids from check_drift). Security-group rules and anything that would make content public become proposals for a human; resources no longer owned are refused. A service’s instance count or type is restored through scale_service’s plan, one service per call.',
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  params,
  iam: {
    read: [
      'ec2:DescribeTags',
      'ec2:DescribeSecurityGroups',
      'ec2:DescribeInstances',
      'ec2:DescribeInstanceStatus',
      'ec2:DescribeImages',
      'cloudtrail:LookupEvents',
    ],
    owned: ['ec2:CreateTags', 'ec2:DeleteTags', 'ec2:TerminateInstances'],
    create: ['ec2:RunInstances', 'ec2:CreateTags'],
    s3: [
      's3:GetBucketTagging',
      's3:PutBucketTagging',
      's3:GetBucketVersioning',
      's3:PutBucketVersioning',
      's3:GetBucketWebsite',
      's3:PutBucketWebsite',
      's3:GetBucketPublicAccessBlock',
      's3:PutBucketPublicAccessBlock',
    ],
    ssm: ['ssm:GetParameter'],
  },
  lockKey: (_a, agent) => `drift:${agent.projectId}`,
  async plan(args, ctx) {
    const report = await checkDrift(ctx.aws, ctx.ports, ctx.agent.projectId, { attribute: false });
    const items = args.ids.map((id) => {
      const item = report.items.find((i) => i.id === id);
      if (!item)
        throw new Refusal(
          `ids: ${id} is not a current drift of ${ctx.agent.projectId} (repaired already, or AWS moved again) — call check_drift`,
        );
      if (item.status === 'missing') throw new Refusal(`ids: ${id}: ${item.resource} ${item.differences[0]}; nothing to put back`);
      return item;
    });
    const service = items.find((i) => i.aspect === 'service');
    if (service) return servicePlan(service, args.ids, ctx);
    const resources: TouchedResource[] = [];
    const steps: z.infer<typeof step>[] = [];
    const undo: Step[] = [];
    const flags = new Set<RiskFlag>();
    for (const item of items) {
      // An unowned resource goes to the guard with the tags it has now: the ownership rule refuses it.
      resources.push({ arn: item.resource, change: 'modify', tags: item.tags });
      if (item.status === 'unowned') continue;
      const o = stepsFor(item);
      // Each step names the drift it repairs, so the result can say what was done for which.
      steps.push(...o.steps.map((s) => ({ drift: item.id, step: s })));
      undo.push(...o.undo);
      o.flags.forEach((f) => flags.add(f));
    }
    return {
      tool: name,
      summary: `repair ${items.map((i) => `${i.aspect} of ${i.resource}`).join(', ')}`,
      mutating: true,
      operations: steps.map((s) => operationOf(s.step)),
      resources,
      tagsToSet: {},
      costDeltaUsdMonth: 0,
      riskFlags: [...flags],
      rollback: undo.map(operationOf),
      preconditions: {
        drift: items.map((i) => ({ id: i.id, resource: i.resource, aspect: i.aspect, status: i.status, differences: i.differences })),
      },
      params: { kind: 'steps' as const, steps, drift: items.map((i) => ({ id: i.id, resource: i.resource, aspect: i.aspect })) },
    };
  },
  execute: (plan, _args, ctx) => repair(plan, ctx, applyRuleStep),
  /**
   * After a crash: a service's repair is settled by scale_service's own recovery (completed or undone); other repairs
   * run again — tags, bucket settings and rules set to what they should be, rules already there not sent twice.
   */
  async recover(plan, _args, ctx) {
    const p = plan.params;
    if (p.kind !== 'service') {
      const result = await repair(plan, ctx, applyRuleStepAgain);
      return { outcome: 'completed' as const, result, why: `repaired ${p.drift.map((d) => d.id).join(', ')} again after a restart` };
    }
    const r = await scaleService.recover!({ ...plan, params: p.plan }, scaleService.input.parse(p.scale), ctx);
    return r.outcome === 'completed' ? { ...r, result: serviceRepaired(plan, r.result) } : r;
  },
  ledger(plan, out) {
    const p = plan.params;
    return p.kind === 'service' && out.service && scaleService.ledger
      ? scaleService.ledger({ ...plan, params: p.plan }, out.service)
      : { add: [], remove: [] };
  },
  desired(plan, out) {
    const p = plan.params;
    return p.kind === 'service' && out.service && scaleService.desired
      ? scaleService.desired({ ...plan, params: p.plan }, out.service, {})
      : {};
  },
  summarize: (o) => `repaired ${o.repaired.map((r) => `${r.resource} (${r.actions.join(', ') || 'nothing to do'})`).join('; ')}`,
});

function serviceRepaired(plan: Plan<z.infer<typeof params>>, service: unknown): z.infer<typeof output> {
  const p = plan.params as Extract<z.infer<typeof params>, { kind: 'service' }>;
  return {
    repaired: [{ id: p.drift, resource: `service:${p.scale.service}`, aspect: 'service', actions: plan.operations.map((o) => o.action) }],
    service: service as Record<string, unknown>,
  };
}

/** Sends each planned repair step (security-group rules through `rules`), or scales the service through scale_service. */
async function repair(
  plan: Plan<z.infer<typeof params>>,
  ctx: ToolContext,
  rules: (aws: ToolContext['aws'], step: RuleStep) => Promise<number>,
): Promise<z.infer<typeof output>> {
  const p = plan.params;
  if (p.kind === 'service')
    return serviceRepaired(plan, await scaleService.execute({ ...plan, params: p.plan }, scaleService.input.parse(p.scale), ctx));
  const { aws } = ctx;
  const done = new Map<string, string[]>();
  for (const [i, { drift, step: s }] of p.steps.entries()) {
    await ctx.progress(i, p.steps.length, `${s.action} ${drift}`);
    if (s.action === 'ec2:CreateTags')
      await aws.ec2.send(
        new CreateTagsCommand({ Resources: [s.id], Tags: Object.entries(s.tags).map(([Key, Value]) => ({ Key, Value })) }),
      );
    else if (s.action === 'ec2:DeleteTags')
      await aws.ec2.send(new DeleteTagsCommand({ Resources: [s.id], Tags: s.keys.map((Key) => ({ Key })) }));
    else if ('group' in s) await rules(aws, s);
    else await runBucketStep(aws, s);
    done.set(drift, [...(done.get(drift) ?? []), s.action]);
  }
  return { repaired: p.drift.map((d) => ({ id: d.id, resource: d.resource, aspect: d.aspect, actions: done.get(d.id) ?? [] })) };
}
