// tag_resource: set or remove the agent's own tags on a resource its project owns; ownership tags stay the server's.
import { tagsDesired } from '../drift/record.js';
import { CreateTagsCommand, DeleteTagsCommand } from '@aws-sdk/client-ec2';
import { PutBucketTaggingCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { parseArn } from '../aws/arn.js';
import type { AgentAws } from '../aws/clients.js';
import { readTags } from '../aws/tags.js';
import { MAX_TAGS, tagKeyProblem, tagSetProblems } from '../guard/tag-rules.js';
import type { PlannedOperation, RiskFlag, Tags } from '../guard/types.js';
import { Refusal } from '../core/errors.js';
import { defineTool } from './tool.js';

export const name = 'tag_resource';

const input = z
  .object({
    resource_arn: z.string().min(1).max(2048).describe('ARN of an EC2 resource or S3 bucket your project owns'),
    set: z
      .record(z.string(), z.string())
      .default({})
      .describe('tags to add or overwrite (keys: ASCII letters, digits, spaces and + - = . _ : / @)'),
    remove: z.array(z.string()).max(50).default([]).describe('tag keys to remove'),
  })
  .strict()
  .superRefine((a, ctx) => {
    const keys = Object.keys(a.set);
    if (keys.length === 0 && a.remove.length === 0)
      ctx.addIssue({ code: 'custom', path: ['set'], message: 'nothing to do: give set and/or remove' });
    for (const p of tagSetProblems(a.set, 0)) ctx.addIssue({ code: 'custom', path: ['set', ...p.path], message: p.message });
    a.remove.forEach((k, i) => {
      const problem = tagKeyProblem(k) ?? (k in a.set ? `"${k}" is both set and removed` : null);
      if (problem) ctx.addIssue({ code: 'custom', path: ['remove', i], message: problem });
    });
  });

const output = z.object({
  resource_arn: z.string(),
  set: z.record(z.string(), z.string()),
  removed: z.array(z.string()),
  tags: z.record(z.string(), z.string()),
});

const tagStep = z.discriminatedUnion('action', [
  z.object({ action: z.literal('ec2:CreateTags'), id: z.string(), tags: z.record(z.string(), z.string()) }).strict(),
  z.object({ action: z.literal('ec2:DeleteTags'), id: z.string(), keys: z.array(z.string()) }).strict(),
  z.object({ action: z.literal('s3:PutBucketTagging'), id: z.string(), tags: z.record(z.string(), z.string()) }).strict(),
]);
const params = z.object({ steps: z.array(tagStep) }).strict();
type TagStep = z.infer<typeof tagStep>;

/** The steps that take the resource from `before` to `after`: EC2 tags change per key, an S3 bucket's set is replaced whole. */
function tagSteps(service: 'ec2' | 's3', id: string, before: Tags, after: Tags): TagStep[] {
  if (service === 's3') return [{ action: 's3:PutBucketTagging', id, tags: after }];
  const changed = Object.fromEntries(Object.entries(after).filter(([k, v]) => before[k] !== v));
  const gone = Object.keys(before).filter((k) => !(k in after));
  const steps: TagStep[] = [];
  if (Object.keys(changed).length > 0) steps.push({ action: 'ec2:CreateTags', id, tags: changed });
  if (gone.length > 0) steps.push({ action: 'ec2:DeleteTags', id, keys: gone });
  return steps;
}

const asOps = (steps: TagStep[]): PlannedOperation[] => steps.map(({ action, id, ...rest }) => ({ action, target: id, params: rest }));

export const tagResource = defineTool({
  name,
  title: 'Tag a resource my project owns',
  description:
    'Sets or removes tags on an EC2 resource or S3 bucket that your project owns. ProjectId, AgentId, ManagedBy, WardenEvent, Service, Site, Environment and aws:* are reserved. Changing the critical tag needs a human.',
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  params,
  lockKey: (args) => `tags:${args.resource_arn}`,
  iam: { read: ['ec2:DescribeTags'], owned: ['ec2:CreateTags', 'ec2:DeleteTags'], s3: ['s3:GetBucketTagging', 's3:PutBucketTagging'] },
  async plan(args, { aws, agent }) {
    const arn = parseArn(args.resource_arn);
    if (!arn) throw new Refusal(`resource_arn "${args.resource_arn}": not an EC2 resource or S3 bucket ARN`);
    const read = await readTags(aws, args.resource_arn);
    const before = read.tags ?? {};
    const after: Tags = { ...before, ...args.set };
    for (const k of args.remove) delete after[k];
    if (Object.keys(after).length > MAX_TAGS)
      throw new Refusal(
        `set: ${args.resource_arn} would carry ${Object.keys(after).length} tags; AWS allows ${MAX_TAGS}, ownership tags included — remove some first`,
      );
    const criticalKeys = Object.keys(agent.project.critical_tag ?? {});
    const riskFlags: RiskFlag[] = [...Object.keys(args.set), ...args.remove].some((k) => criticalKeys.includes(k)) ? ['critical_tag'] : [];
    const steps = read.tags ? tagSteps(arn.service, arn.id, before, after) : [];
    return {
      tool: name,
      summary: `tag ${args.resource_arn}: set ${Object.keys(args.set).join(', ') || '-'}; remove ${args.remove.join(', ') || '-'}`,
      mutating: true,
      operations: asOps(steps),
      resources: [{ arn: args.resource_arn, change: 'modify', tags: read.tags, unreadableWhy: read.why, unreadableOutage: read.outage }],
      tagsToSet: args.set,
      costDeltaUsdMonth: 0,
      riskFlags,
      rollback: asOps(read.tags ? tagSteps(arn.service, arn.id, after, before) : []),
      params: { steps },
    };
  },
  execute: (plan, args, { aws }) => applyTags(plan.params, args, aws),
  /** After a crash: setting and removing the same tags again changes nothing that is already done, so it is finished. */
  async recover(plan, args, ctx) {
    const result = await applyTags(plan.params, args, ctx.aws);
    return { outcome: 'completed' as const, result, why: `set the planned tags on ${args.resource_arn} again after a restart` };
  },
  desired: (_plan, out) => tagsDesired(out.resource_arn, out.tags),
  summarize: (o) => `tagged ${o.resource_arn}: ${Object.keys(o.tags).length} tag(s) now`,
});

/** Sets and removes the planned tags, then reads back what the resource carries now. */
async function applyTags(p: z.infer<typeof params>, args: z.infer<typeof input>, aws: AgentAws) {
  for (const step of p.steps) {
    if (step.action === 'ec2:CreateTags')
      await aws.ec2.send(
        new CreateTagsCommand({ Resources: [step.id], Tags: Object.entries(step.tags).map(([Key, Value]) => ({ Key, Value })) }),
      );
    else if (step.action === 'ec2:DeleteTags')
      await aws.ec2.send(new DeleteTagsCommand({ Resources: [step.id], Tags: step.keys.map((Key) => ({ Key })) }));
    else
      await aws.s3.send(
        new PutBucketTaggingCommand({
          Bucket: step.id,
          Tagging: { TagSet: Object.entries(step.tags).map(([Key, Value]) => ({ Key, Value })) },
        }),
      );
  }
  const now = await readTags(aws, args.resource_arn);
  return { resource_arn: args.resource_arn, set: args.set, removed: args.remove, tags: now.tags ?? {} };
}
