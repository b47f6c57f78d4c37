// repair_drift: puts managed settings back through the guard. Security-group and public-exposure repairs become
// proposals; resources no longer owned are refused by the ownership rule; a service's count or type is repaired by
// scale_service's own plan (its limits, budget and health checks).
import { CreateTagsCommand, DeleteTagsCommand } from '@aws-sdk/client-ec2';
import { z } from 'zod';
import { parseArn } from '../aws/arn.js';
import { checkDrift, type DriftItem } from '../drift/check.js';
import type { Plan, PlannedOperation, RiskFlag, TouchedResource } from '../guard/types.js';
import { applyRuleOperation, isRuleOperation } from '../security/apply.js';
import { ruleKey, type SgRule } from '../security/rules.js';
import { setupBucket } from '../sites/ops.js';
import { scaleService } from './scale-service.js';
import { defineTool, Refusal, type ToolContext } from './tool.js';

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

type Scale = { service: string; desired_count: number; instance_type: string };

function opsFor(item: DriftItem): { ops: PlannedOperation[]; undo: PlannedOperation[]; flags: RiskFlag[] } {
  const id = parseArn(item.resource)?.id ?? item.resource;
  const tag = (action: string, params: unknown) => ({ action, target: id, params });
  if (item.aspect === 'tags') {
    const want = item.desired as Record<string, string>;
    const have = item.actual as Record<string, string>;
    if (item.resource.startsWith('arn:aws:s3:::')) return { ops: [tag('s3:PutBucketTagging', { tags: want })], undo: [tag('s3:PutBucketTagging', { tags: have })], flags: [] };
    const set = Object.fromEntries(Object.entries(want).filter(([k, v]) => have[k] !== v));
    const extra = Object.keys(have).filter((k) => !(k in want) && !k.startsWith('aws:'));
    return {
      ops: [...(Object.keys(set).length ? [tag('ec2:CreateTags', { tags: set })] : []), ...(extra.length ? [tag('ec2:DeleteTags', { keys: extra })] : [])],
      undo: [tag('ec2:CreateTags', { tags: have })],
      flags: [],
    };
  }
  if (item.aspect === 'sg_rules') {
    const want = new Map((item.desired as SgRule[]).map((r) => [ruleKey(r), r]));
    const have = new Map((item.actual as SgRule[]).map((r) => [ruleKey(r), r]));
    const missing = [...want].filter(([k]) => !have.has(k)).map(([, r]) => r);
    const added = [...have].filter(([k]) => !want.has(k)).map(([, r]) => r);
    const op = (verb: 'Authorize' | 'Revoke', dir: 'ingress' | 'egress', rules: SgRule[]) =>
      rules.length ? [{ action: `ec2:${verb}SecurityGroup${dir === 'ingress' ? 'Ingress' : 'Egress'}`, target: id, params: { rules } }] : [];
    const by = (rules: SgRule[], dir: 'ingress' | 'egress') => rules.filter((r) => r.direction === dir);
    return {
      ops: [...op('Revoke', 'ingress', by(added, 'ingress')), ...op('Revoke', 'egress', by(added, 'egress')), ...op('Authorize', 'ingress', by(missing, 'ingress')), ...op('Authorize', 'egress', by(missing, 'egress'))],
      undo: [...op('Authorize', 'ingress', by(added, 'ingress')), ...op('Revoke', 'ingress', by(missing, 'ingress'))],
      flags: ['security_group'],
    };
  }
  if (item.aspect === 'bucket_versioning') return { ops: [{ action: 's3:PutBucketVersioning', target: id }], undo: [], flags: [] };
  if (item.aspect === 'bucket_public_access') {
    const blockAll = (item.desired as { block_all: boolean }).block_all;
    // Blocking again only narrows exposure; opening a bucket up is a human's call even when that is the desired state.
    return { ops: [{ action: 's3:PutPublicAccessBlock', target: id, params: { blockAll } }], undo: [{ action: 's3:PutPublicAccessBlock', target: id, params: { blockAll: !blockAll } }], flags: blockAll ? [] : ['public_exposure'] };
  }
  if (item.aspect === 'bucket_website') {
    const w = item.desired as { index: string; error: string | null };
    return { ops: [{ action: 's3:PutBucketWebsite', target: id, params: { index: w.index, error: w.error } }], undo: [], flags: [] };
  }
  throw new Error(`repair_drift cannot repair ${item.aspect}`);
}

/** A service's drift is repaired by scale_service's own plan: one service per call. */
async function servicePlan(item: DriftItem, ids: string[], ctx: ToolContext): Promise<Plan> {
  if (ids.length > 1) throw new Refusal(`ids: ${item.id} is a service's drift; repair it on its own (one call per service)`);
  const want = item.desired as { count: number; instance_type: string };
  // Through scale_service's own input schema, as if an agent had asked for exactly the recorded count and type.
  const scale = scaleService.input.parse({ service: item.resource.slice('service:'.length), desired_count: want.count, instance_type: want.instance_type }) as Scale;
  const plan = await scaleService.plan(scale, ctx);
  return { ...plan, tool: name, summary: `repair drift ${item.id}: ${plan.summary}`, preconditions: { ...plan.preconditions, scale } };
}

export const repairDrift = defineTool({
  name,
  title: 'Repair drift on managed resources',
  description:
    'Puts managed settings back as aws-warden last set them (ids from check_drift). Security-group rules and anything that would make content public become proposals for a human; resources no longer owned are refused. A service’s instance count or type is restored through scale_service’s plan, one service per call.',
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  lockKey: (_a, agent) => `drift:${agent.projectId}`,
  async plan(args, ctx) {
    const report = await checkDrift(ctx.aws, ctx.store, ctx.agent.projectId, { attribute: false });
    const items = args.ids.map((id) => {
      const item = report.items.find((i) => i.id === id);
      if (!item) throw new Refusal(`ids: ${id} is not a current drift of ${ctx.agent.projectId} (repaired already, or AWS moved again) — call check_drift`);
      if (item.status === 'missing') throw new Refusal(`ids: ${id}: ${item.resource} ${item.differences[0]}; nothing to put back`);
      return item;
    });
    const service = items.find((i) => i.aspect === 'service');
    if (service) return servicePlan(service, args.ids, ctx);
    const resources: TouchedResource[] = [];
    const ops: PlannedOperation[] = [];
    const undo: PlannedOperation[] = [];
    const flags = new Set<RiskFlag>();
    for (const item of items) {
      // An unowned resource goes to the guard with the tags it has now: the ownership rule refuses it.
      resources.push({ arn: item.resource, change: 'modify', tags: item.tags });
      if (item.status === 'unowned') continue;
      const o = opsFor(item);
      // Each operation names the drift it repairs, so the result can say what was done for which.
      ops.push(...o.ops.map((op) => ({ ...op, params: { ...(op.params as object | undefined), drift: item.id } })));
      undo.push(...o.undo);
      o.flags.forEach((f) => flags.add(f));
    }
    return {
      tool: name,
      summary: `repair ${items.map((i) => `${i.aspect} of ${i.resource}`).join(', ')}`,
      mutating: true,
      operations: ops,
      resources,
      tagsToSet: {},
      costDeltaUsdMonth: 0,
      riskFlags: [...flags],
      rollback: undo,
      preconditions: { drift: items.map((i) => ({ id: i.id, resource: i.resource, aspect: i.aspect, status: i.status, differences: i.differences })) },
    };
  },
  async execute(plan, args, ctx) {
    const scale = plan.preconditions?.scale as Scale | undefined;
    if (scale) {
      const out = await scaleService.execute(plan, scaleService.input.parse(scale), ctx);
      return { repaired: [{ id: args.ids[0], resource: `service:${scale.service}`, aspect: 'service', actions: plan.operations.map((o) => o.action) }], service: out as Record<string, unknown> };
    }
    const { aws } = ctx;
    const done = new Map<string, string[]>();
    for (const [i, op] of plan.operations.entries()) {
      await ctx.progress(i, plan.operations.length, `${op.action} ${op.target}`);
      const p = (op.params ?? {}) as { tags?: Record<string, string>; keys?: string[]; drift?: string };
      const target = op.target as string;
      if (op.action === 'ec2:CreateTags') await aws.ec2.send(new CreateTagsCommand({ Resources: [target], Tags: Object.entries(p.tags ?? {}).map(([Key, Value]) => ({ Key, Value })) }));
      else if (op.action === 'ec2:DeleteTags') await aws.ec2.send(new DeleteTagsCommand({ Resources: [target], Tags: (p.keys ?? []).map((Key) => ({ Key })) }));
      else if (isRuleOperation(op.action)) await applyRuleOperation(aws, op);
      else await setupBucket(aws, target, op);
      const item = p.drift ?? target;
      done.set(item, [...(done.get(item) ?? []), op.action]);
    }
    const drift = (plan.preconditions?.drift ?? []) as { id: string; resource: string; aspect: string }[];
    return { repaired: drift.map((d) => ({ id: d.id, resource: d.resource, aspect: d.aspect, actions: done.get(d.id) ?? [] })) };
  },
  ledger(plan, out) {
    return out.service && scaleService.ledger ? scaleService.ledger(plan, out.service) : { add: [], remove: [] };
  },
  desired(plan, out) {
    return out.service && scaleService.desired ? scaleService.desired(plan, out.service, {}) : {};
  },
  summarize: (o) => `repaired ${o.repaired.map((r) => `${r.resource} (${r.actions.join(', ') || 'nothing to do'})`).join('; ')}`,
});
